// The comparison report on synthetic run directories written here, in the runner's format:
// winners, margins, noise verdicts, gaps, convergence epochs, table rows, and bad input.
#include <doctest/doctest.h>

#include <opencv2/imgcodecs.hpp>
#include "tests/support.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "engine/core/error.hpp"
#include "engine/core/eval/metrics.hpp"
#include "engine/core/eval/plots.hpp"
#include "engine/core/files.hpp"
#include "engine/core/report/analysis.hpp"
#include "engine/core/report/answers.hpp"
#include "engine/core/report/report.hpp"
#include "engine/core/report/stage_data.hpp"
#include "engine/core/run_dir.hpp"
#include "engine/core/spec.hpp"

namespace fs = std::filesystem;
using namespace engine::report;
using engine::RunDir;
using engine::RunResult;
using engine::toml_float;

namespace {

RunResult read_run(const fs::path& dir) { return RunDir(dir).read_result(); }

struct FakeRun {
  std::string name, title;
  std::int64_t params;
  std::vector<double> train_acc, val_acc;  // per epoch
  double epoch_seconds = 41.3;
  int epochs_planned = 0;  // 0: as many as given (complete)
  std::int64_t val_size = 500;
  std::string vars = "widths = [64, 128, 256]\nblocks = [2]\nact = \"relu\"\nstem_kernel = 7\nstem_stride = 2";
  std::string dir = "";  // run directory name; empty: the run's name
  int64_t seed = 0;
  bool probe = false;  // metrics.csv has the eval-mode train probe (train_acc - 0.01)
};

// Writes summary.toml and metrics.csv exactly as the runner does (run directory contract).
fs::path write_run(const fs::path& root, const FakeRun& run) {
  const fs::path dir = root / (run.dir.empty() ? run.name : run.dir);
  fs::create_directories(dir);
  std::ofstream(dir / "config.toml") << "name = " << engine::toml_quote(run.name) << "\n[vars]\n"
                                     << run.vars << "\n[data]\nval_fraction = 0.1\nsplit_seed = 0\n"
                                     << "[train]\ntrain_probe = " << (run.probe ? 500 : 0) << "\n";
  // val_predictions.csv: the first round(best val acc * val_size) images right, the rest wrong.
  engine::ValPredictions vp;
  const auto right = std::lround(*std::max_element(run.val_acc.begin(), run.val_acc.end()) * run.val_size);
  for (int64_t k = 0; k < run.val_size; ++k) {
    vp.labels.push_back(k % 10);
    vp.predictions.push_back(k < right ? k % 10 : (k + 1) % 10);
  }
  RunDir(dir).write_val_predictions(vp);
  const int epochs = static_cast<int>(run.val_acc.size());
  const auto best = static_cast<int>(std::max_element(run.val_acc.begin(), run.val_acc.end()) - run.val_acc.begin());
  auto loss = [](double acc) { return 2.3 * (1 - acc); };

  std::ofstream csv(dir / "metrics.csv");
  csv << "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds,img_per_s"
      << (run.probe ? ",train_eval_loss,train_eval_acc" : "") << "\n";
  for (int e = 0; e < epochs; ++e) {
    csv << e + 1 << "," << toml_float(loss(run.train_acc[e])) << "," << toml_float(run.train_acc[e]) << ","
        << toml_float(loss(run.val_acc[e])) << "," << toml_float(run.val_acc[e]) << ",0.1," << run.epoch_seconds
        << ",123.4";
    if (run.probe)
      csv << "," << toml_float(loss(run.train_acc[e] - 0.01)) << "," << toml_float(run.train_acc[e] - 0.01);
    csv << "\n";
  }

  const int planned = run.epochs_planned ? run.epochs_planned : epochs;
  std::ofstream toml(dir / "summary.toml");
  toml << "name = " << engine::toml_quote(run.name) << "\n"
       << "title = " << engine::toml_quote(run.title) << "\n"
       << "graph = \"graphs/" << run.name << ".toml\"\n"
       << "params = " << run.params << "\nmacs = " << run.params * 150 << "\n"
       << "epochs = " << epochs << "\nepochs_planned = " << planned << "\n"
       << "best_val_acc = " << toml_float(run.val_acc[best]) << "\nbest_epoch = " << best + 1 << "\n"
       << "train_acc_at_best = " << toml_float(run.train_acc[best]) << "\n"
       << "train_loss_at_best = " << toml_float(loss(run.train_acc[best])) << "\n"
       << "val_loss_at_best = " << toml_float(loss(run.val_acc[best])) << "\n"
       << "final_train_acc = " << toml_float(run.train_acc.back()) << "\n"
       << "final_val_acc = " << toml_float(run.val_acc.back()) << "\n"
       << "final_train_loss = " << toml_float(loss(run.train_acc.back())) << "\n"
       << "final_val_loss = " << toml_float(loss(run.val_acc.back())) << "\n"
       << (run.probe ? "train_eval_acc_at_best = " + toml_float(run.train_acc[best] - 0.01) + "\n" : "")
       << "val_size = " << run.val_size << "\n"
       << "epoch_seconds_mean = " << toml_float(run.epoch_seconds) << "\n"
       << "total_seconds = " << toml_float(run.epoch_seconds * epochs) << "\n"
       << "train_img_per_s = 123.4\ndevice = \"cpu\"\nthreads = 2\nprecision = \"fp32\"\nseed = " << run.seed << "\n"
       << "engine_version = \"0.1.0\"\nconfig_hash = \"abc123\"\n"
       << "complete = " << (planned == epochs ? "true" : "false") << "\n";
  return dir;
}

// A variant of `run` with one run directory per seed, each with the given val accuracies.
Variant fake_variant(const fs::path& runs, FakeRun run, const std::vector<std::vector<double>>& val_per_seed) {
  Variant v{"graphs/" + run.name + ".toml", run.name, run.title, {}, {}, ""};
  for (size_t k = 0; k < val_per_seed.size(); ++k) {
    run.seed = static_cast<int64_t>(k);
    run.dir = run.name + "-s" + std::to_string(k);
    run.val_acc = val_per_seed[k];
    run.train_acc.resize(run.val_acc.size(), 0.9);
    run.probe = true;
    v.seeds.push_back(run.seed);
    v.runs.push_back(write_run(runs, run));
  }
  return v;
}

std::vector<std::vector<RunResult>> results_of(const std::vector<Variant>& variants) {
  std::vector<std::vector<RunResult>> out;
  for (const auto& v : variants) {
    out.emplace_back();
    for (const auto& dir : v.runs) out.back().push_back(read_run(dir));
  }
  return out;
}

// Stage 3.1 varies depth: B wins by 2.0 pt over C (1 SE at 75% on 500 images = 1.9 pt), and the
// gap grows with params: A 3.5, B 5.0, C 11.0 pt.
const FakeRun kA{
    "3.1-A", "blocks [1,1,1,1]", 1'000'000, {0.45, 0.6, 0.66, 0.68, 0.70, 0.70}, {0.40, 0.55, 0.62, 0.66, 0.665, 0.66},
    30.0};
const FakeRun kB{
    "3.1-B", "blocks [2,2,2,2]", 2'000'000, {0.5, 0.65, 0.74, 0.78, 0.80, 0.82}, {0.45, 0.60, 0.70, 0.74, 0.75, 0.748},
    41.3};
const FakeRun kC{
    "3.1-C", "blocks [3,4,6,3]", 4'000'000, {0.5, 0.66, 0.76, 0.80, 0.82, 0.84}, {0.42, 0.58, 0.69, 0.715, 0.725, 0.73},
    75.0};
// Stage 3.2: same size, 0.6 pt apart: within noise.
const FakeRun kD{"3.2-relu", "relu", 2'000'000, {0.5, 0.7, 0.8}, {0.45, 0.70, 0.750}, 41.0};
const FakeRun kE{"3.2-gelu", "gelu | smooth", 2'000'000, {0.5, 0.7, 0.79}, {0.46, 0.71, 0.756}, 44.0};
// Stage 3.3: one incomplete run.
const FakeRun kF{"3.3-long", "long schedule", 2'000'000, {0.5, 0.7}, {0.5, 0.69}, 42.0, 30};

}  // namespace

TEST_SUITE("report") {
  TEST_CASE("read_run parses the runner's files") {
    test::TempDir tmp("report-read");
    const auto r = read_run(write_run(tmp.path(), kB));
    CHECK(r.name == "3.1-B");
    CHECK(r.params == 2'000'000);
    CHECK(r.best_epoch == 5);
    CHECK(r.best_val_acc == 0.75);
    CHECK(r.train_acc_at_best == 0.80);
    CHECK(r.val_size == 500);
    CHECK(r.complete);
    CHECK(r.device == "cpu");
    REQUIRE(r.history.size() == 6);
    CHECK(r.history[3].epoch == 4);
    CHECK(r.history[3].val_acc == 0.74);
    CHECK(r.history[3].img_per_s == doctest::Approx(123.4));
  }

  TEST_CASE("bad run directories are UserErrors naming the file") {
    test::TempDir tmp("report-bad");
    const fs::path dir = write_run(tmp.path(), kA);
    std::ofstream(dir / "summary.toml") << "name = \"3.1-A\"\nparams = [unclosed\n";
    const std::string summary_path = (dir / "summary.toml").string(), csv_path = (dir / "metrics.csv").string();
    CHECK_THROWS_WITH_AS(read_run(dir), doctest::Contains(summary_path.c_str()), engine::UserError);

    std::ofstream(dir / "summary.toml") << "name = \"3.1-A\"\ntitle = \"x\"\n";
    CHECK_THROWS_WITH_AS(read_run(dir), doctest::Contains("missing key 'params'"), engine::UserError);

    write_run(tmp.path(), kA);
    std::ofstream(dir / "metrics.csv") << "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds,img_per_s\n"
                                       << "1,2.0,45.0,2.1,40.0,0.1,30,100\n";  // percent, not fractions
    CHECK_THROWS_WITH_AS(read_run(dir), doctest::Contains("metrics.csv:2"), engine::UserError);

    fs::remove(dir / "metrics.csv");
    CHECK_THROWS_WITH_AS(read_run(dir), doctest::Contains(csv_path.c_str()), engine::UserError);
    CHECK_THROWS_AS(read_run(tmp.path() / "nope"), engine::UserError);
  }

  TEST_CASE("convergence: the first epoch within 1 pt of the run's best") {
    test::TempDir tmp("report-convergence");
    CHECK(engine::report::convergence_epoch(read_run(write_run(tmp.path(), kA)).history).value_or(0) == 4);
    CHECK(engine::report::convergence_epoch(read_run(write_run(tmp.path(), kC)).history).value_or(0) == 5);
    CHECK_FALSE(engine::report::convergence_epoch({}).has_value());
  }

  TEST_CASE("the overfitting sentence claims a rise of the val loss only where its figures show one") {
    RunResult r;
    r.best_val_acc = 0.868;
    for (double loss : {0.9, 0.6, 0.4492, 0.4494}) {
      engine::EpochRow row;
      row.epoch = static_cast<int>(r.history.size()) + 1;
      row.val_loss = loss, row.train_acc = 0.97;
      r.history.push_back(row);
    }
    // 0.4492 then 0.4494: both print as 0.449.
    CHECK(overfitting_sentence(r).find("at the cost of val loss") == std::string::npos);
    CHECK(overfitting_sentence(r).find("lowest at epoch 3 of 4 (0.449) and 0.449 at the last epoch: no rise") !=
          std::string::npos);
    r.history.back().val_loss = 0.52;
    CHECK(overfitting_sentence(r).find("and 0.520 at the last epoch: past that epoch the model fits the train set") !=
          std::string::npos);
    r.history.back().val_loss = 0.40;
    CHECK(overfitting_sentence(r).find("lowest at epoch 4 of 4 (0.400), the last epoch: no rise") != std::string::npos);
  }

  TEST_CASE("formats") {
    CHECK(format_params(2'801'234) == "2.80M");
    CHECK(format_params(11'200'000) == "11.20M");
    CHECK(format_params(12'345) == "12.3K");
    CHECK(format_percent(0.784) == "78.4%");
    CHECK(format_points(0.0061) == "0.6 pt");
    CHECK(format_duration(41.25) == "41.2 s");
    CHECK(format_duration(125) == "2 min 05 s");
    CHECK(format_duration(3 * 3600 + 7 * 60) == "3 h 07 min");
  }

  TEST_CASE("variant labels say what the stage varies, in the assignment's words") {
    auto config = [](const std::string& vars) { return engine::parse_toml_string("[vars]\n" + vars, "c.toml"); };
    const auto widths = variant_labels({config("widths = [32, 64, 128, 256]\nblocks = [2]\nact = \"relu\""),
                                        config("widths = [64, 128, 256]\nblocks = [2]\nact = \"relu\"")},
                                       {"a", "b"});
    CHECK(widths == std::vector<std::string>{"32-64-128-256", "64-128-256"});
    const auto depth = variant_labels(
        {config("widths = [64, 128, 256]\nblocks = [1]"), config("widths = [64, 128, 256]\nblocks = [3, 3, 3]")},
        {"a", "b"});
    CHECK(depth == std::vector<std::string>{"[1,1,1]", "[3,3,3]"});
    CHECK(variant_labels({config("act = \"leaky_relu\""), config("act = \"gelu\"")}, {"a", "b"}) ==
          std::vector<std::string>{"LeakyReLU", "GELU"});
    CHECK(variant_labels({config("stem_kernel = 7\nstem_stride = 2"), config("stem_kernel = 3\nstem_stride = 1")},
                         {"a", "b"}) == std::vector<std::string>{"7x7/s2 stem", "3x3/s1 stem"});
    CHECK(variant_labels({config("act = \"relu\""), config("act = \"relu\"")}, {"recipe", "no EMA"}) ==
          std::vector<std::string>{"recipe", "no EMA"});  // nothing in [vars] differs: the titles
    CHECK(variant_labels({config("widths = [64, 128]\nblocks = [2]\nact = \"elu\"\nstem_kernel = 3\nstem_stride = 1")},
                         {"t"}) == std::vector<std::string>{"64-128, [2,2] blocks, ELU, 3x3/s1 stem"});
  }

  TEST_CASE("a tie with equal MACs and params goes to the incumbent, not to the faster epoch") {
    test::TempDir tmp("report-incumbent");
    const fs::path runs = tmp.path() / "runs";
    FakeRun relu{"3.3-A", "relu", 1'000'000, {}, {}, 5.0};
    FakeRun leaky = relu, narrow = relu;
    leaky.name = "3.3-B", leaky.title = "leaky", leaky.epoch_seconds = 4.0;  // faster per epoch, same MACs and params
    // LeakyReLU leads by a hair on one seed and trails on the other: a tie.
    const std::vector<Variant> variants{fake_variant(runs, relu, {{0.5, 0.7, 0.80}, {0.5, 0.7, 0.80}}),
                                        fake_variant(runs, leaky, {{0.5, 0.7, 0.806}, {0.5, 0.7, 0.797}})};
    const auto results = results_of(variants);
    const auto d = decide_stage(variants, results, {}, variants[0].runs);
    CHECK(d.leader == 1);
    REQUIRE(d.stats[0].vs_leader);
    CHECK(d.stats[0].tied);
    CHECK(d.incumbent == std::optional<size_t>{0});
    CHECK(d.winner == 0);
    CHECK(d.tie_break == TieBreak::incumbent);
    // The previous stage ran fewer seeds: one run directory in common is the same variant.
    CHECK(decide_stage(variants, results, {}, {variants[0].runs[0]}).incumbent == std::optional<size_t>{0});
    // Without an incumbent the tie of equal cost stays with the leader.
    const auto alone = decide_stage(variants, results);
    CHECK_FALSE(alone.incumbent);
    CHECK(alone.winner == 1);
    // Fewer MACs come before the incumbent.
    narrow.name = "3.3-N", narrow.params = 900'000;
    auto three = variants;
    three.push_back(fake_variant(runs, narrow, {{0.5, 0.7, 0.80}, {0.5, 0.7, 0.802}}));
    const auto cheaper = decide_stage(three, results_of(three), {}, variants[0].runs);
    CHECK(cheaper.winner == 2);
    CHECK(cheaper.tie_break == TieBreak::macs);
    // The report says the rule it applied.
    StageSpec spec{"3.3", "activation", variants, "", "", false, false, {}, variants[0].runs};
    const auto sentence = decision_sentence(load_stage(spec));
    INFO(sentence);
    CHECK(sentence.find("which at equal MACs and params goes to the incumbent, relu (3.3-A), the variant the previous "
                        "stage carried: relu (3.3-A) goes on.") != std::string::npos);
  }

  TEST_CASE("decide_on: the mean of the last 5 epochs is not fooled by one lucky epoch; best_val is") {
    test::TempDir tmp("report-decide-on");
    const fs::path runs = tmp.path() / "runs";
    FakeRun spiky{"3.2-A", "spiky", 1'000'000, {}, {}, 5.0};
    FakeRun steady = spiky;
    steady.name = "3.2-B", steady.params = 2'000'000;
    const std::vector<double> spike{0.5, 0.7, 0.72, 0.90, 0.71, 0.72, 0.71},
        flat{0.5, 0.7, 0.76, 0.77, 0.76, 0.77, 0.76};
    const std::vector<Variant> variants{fake_variant(runs, spiky, {spike, spike}),
                                        fake_variant(runs, steady, {flat, flat})};
    const auto results = results_of(variants);
    const auto last5 = decide_stage(variants, results);
    CHECK(last5.leader == 1);
    CHECK(last5.stats[0].statistic.mean == doctest::Approx(0.752));
    CHECK(last5.stats[0].best_val.mean == doctest::Approx(0.90));  // still shown, labelled best epoch
    REQUIRE(last5.stats[0].vs_leader);
    CHECK(last5.stats[0].vs_leader->difference == doctest::Approx(-0.012));
    DecisionRule best;
    best.decide_on = "best_val";
    CHECK(decide_stage(variants, results, best).leader == 0);
    best.decide_on = "max";
    CHECK_THROWS_WITH_AS(decide_stage(variants, results, best), doctest::Contains("expected \"last5_mean\""),
                         engine::UserError);
  }

  TEST_CASE("write_report: data, every experiment over seeds, answers, ablation, final model") {
    test::TempDir tmp("report-full");
    const fs::path runs = tmp.path() / "runs";
    auto variant = [&](FakeRun run, std::vector<std::vector<double>> val_per_seed) {
      return fake_variant(runs, run, val_per_seed);
    };
    // Depth: [1,1,1] leads by 4 points or more on every seed, over the whole curve (20 discordant
    // pairs each at the best epoch, all its way); [3,3,3] is 0.4 points behind the leader at the
    // last epoch: a tie, but it is not cheaper.
    FakeRun shallow{"3.2-A", "blocks 1", 1'000'000, {}, {}, 5.0};
    shallow.vars = "widths = [64, 128, 256]\nblocks = [1]\nact = \"relu\"";
    FakeRun deep = shallow, mid = shallow;
    mid.name = "3.2-B", mid.params = 2'000'000, mid.vars = "widths = [64, 128, 256]\nblocks = [2]\nact = \"relu\"";
    deep.name = "3.2-C", deep.params = 3'000'000, deep.vars = "widths = [64, 128, 256]\nblocks = [3]\nact = \"relu\"";
    StageSpec depth{"3.2", "blocks per stage", {}, "depth", "Which depth is optimal?"};
    depth.variants = {variant(shallow, {{0.5, 0.70, 0.80}, {0.5, 0.72, 0.80}}),
                      variant(mid, {{0.46, 0.66, 0.76}, {0.46, 0.66, 0.76}}),
                      variant(deep, {{0.5, 0.70, 0.796}, {0.5, 0.70, 0.796}})};
    // Activation: two variants of one cost, 0.2 points apart: a tie that stays with the incumbent.
    FakeRun relu = shallow, gelu = shallow;
    relu.name = "3.3-A", gelu.name = "3.3-D", gelu.vars = "widths = [64, 128, 256]\nblocks = [1]\nact = \"gelu\"";
    StageSpec act{"3.3", "activation", {}, "activation"};
    act.variants = {variant(relu, {{0.5, 0.7, 0.8}, {0.5, 0.7, 0.8}}),
                    variant(gelu, {{0.5, 0.7, 0.798}, {0.5, 0.7, 0.798}})};
    act.carried = act.variants[0].runs;  // ReLU is what the depth stage carried
    // Ablation, one seed: removing EMA costs 4 points (20 / 0 pairs), removing smoothing 0.4 (2 / 0).
    FakeRun recipe{"final", "the recipe", 1'000'000, {}, {}, 5.0};
    FakeRun no_ema = recipe, no_ls = recipe;
    no_ema.name = "final-no-ema", no_ema.title = "without EMA";
    no_ls.name = "final-no-smoothing", no_ls.title = "without label smoothing";
    StageSpec ablation{"Ablation", "one lever at a time", {}, "", "", true};
    ablation.variants = {variant(recipe, {{0.6, 0.85}}), variant(no_ema, {{0.6, 0.81}}),
                         variant(no_ls, {{0.6, 0.846}})};
    StageSpec final_stage{"Final", "the final model", {ablation.variants[0]}, "", "", false, true};

    const fs::path final_dir = runs / "final-s0";
    const std::vector<engine::eval::ClassLabel> labels = {{"n01443537", "goldfish"}, {"n01629819", "salamander"}};
    const auto matrix = engine::eval::confusion_matrix({0, 0, 0, 0, 1, 1, 1, 1}, {0, 0, 0, 1, 1, 0, 0, 1}, 2);
    RunDir(final_dir).write_test_metrics(engine::eval::compute_metrics(matrix), labels,
                                         engine::TtaAccuracy{0.5, 0.625, true});
    RunDir(final_dir).write_confusion(matrix, {"goldfish", "salamander"});
    engine::eval::confusion_png(final_dir / "test" / "confusion.png", matrix, {"goldfish", "salamander"});
    std::ofstream(runs / "study.log") << "[study] started 2026-11-29T12:00:00+00:00 from abc\nnoise\n"
                                      << "[study] ended 2026-11-29T13:30:30+00:00 exit 0\n";

    ReportOptions options;
    options.title = "Tiny study";
    options.study_log = runs / "study.log";
    write_report(runs / "report.md", {depth, act, final_stage, ablation}, final_dir, options);
    const std::string md = test::read_file(runs / "report.md");
    INFO(md);  // shown on failure

    // Wall time from the log; training time counts final-s0 once although two stages hold it.
    CHECK(md.find("13 runs in 4 stages; their training and evaluation took 3 min 00 s") != std::string::npos);
    CHECK(md.find("and the study 1 h 31 min of wall time from start to end (study.log)") != std::string::npos);
    // Data: where val and test come from, and how many.
    CHECK(md.find("**Validation**: 500 images, 10 % of each class's train images held out (split seed 0)") !=
          std::string::npos);
    CHECK(md.find("**Test**: the official Tiny ImageNet val set of these classes, 8 images") != std::string::npos);
    // The table of every experiment: the assignment's columns first, means over seeds.
    CHECK(md.find("| Stage | Configuration | Params | Val acc (best epoch) | Train acc | Seeds |") !=
          std::string::npos);
    CHECK(md.find("| **3.2-A** | [1,1,1] | 1.00M | 80.0 ± 0.0% | 89.0 ± 0.0% | 2 |") != std::string::npos);
    CHECK(md.find("| 3.2-B | [2,2,2] | 2.00M | 76.0 ± 0.0% |") != std::string::npos);
    CHECK(md.find("| 62.7 ± 0.0% | 13.0 ± 0.0 pt | 300.0M | 5.0 s | worse, Holm p < 0.001 |") != std::string::npos);
    CHECK(md.find("| 3.2-C | [3,3,3] | 3.00M | 79.6 ± 0.0% |") != std::string::npos);
    CHECK(md.find("| final-no-ema | without EMA | 1.00M | 81.0% |") != std::string::npos);
    // The depth answer: the question, the decision over seeds, the gap trend, judged by the spread.
    CHECK(md.find("> Which depth is optimal?") != std::string::npos);
    CHECK(md.find("**Optimal depth: [1,1,1] by mean, but the test over seeds and images cannot tell it from [3,3,3]; "
                  "[2,2,2] is worse; [1,1,1] goes on.** [1,1,1] (3.2-A) leads with 67.0 ± 0.5% mean val accuracy of "
                  "the last 5 epochs over 2 seeds. The bootstrap over seeds and val images, Holm-corrected within the "
                  "stage, puts [2,2,2] (3.2-B, Δ -4.3 pt, 95 % CI [-6.1, -2.6], Holm p < 0.001) significantly below "
                  "it. It cannot tell [3,3,3] (3.2-C, Δ -0.5 pt, 95 % CI [-1.2, +0.3], Holm p = 0.203) from the "
                  "leader: a tie, and no variant of the tie has fewer MACs or params than the leader, so [1,1,1] "
                  "(3.2-A) goes on.") != std::string::npos);
    // The stage table: the deciding statistic and the best epoch labelled, per-seed detail, Holm's level.
    CHECK(md.find("| Mean of last 5 epochs (decides) | Best epoch | Epoch | Δ vs leader, 95 % CI | Holm |") !=
          std::string::npos);
    CHECK(md.find("| 3.2-B | [2,2,2] | 2.00M | 300.0M | 62.7 ± 0.0% | 76.0 ± 0.0% | 5.0 s | -4.3 pt [-6.1, -2.6] | p < "
                  "0.001; 97.5 % CI [-6.5, -2.4] | -4.0 / -4.7 pt | <0.001 / <0.001 | worse |") != std::string::npos);
    CHECK(md.find("The train − val gap at the best epoch (train accuracy in eval mode) is [1,1,1] 9.0 ± 0.0 pt, "
                  "[2,2,2] 13.0 ± 0.0 pt and [3,3,3] 9.4 ± 0.0 pt: the gap shows no monotonic trend with depth") !=
          std::string::npos);
    CHECK(md.find("**Best activation: ReLU by mean, but the test over seeds and images cannot tell it from GELU; ReLU "
                  "goes on.**") != std::string::npos);
    CHECK(md.find("no variant of the tie has fewer MACs or params than the leader, which is also the incumbent, so "
                  "ReLU (3.3-A) goes on.") != std::string::npos);
    // Ablation: EMA helps beyond chance after Holm over the two rows, smoothing is a tie; one seed is named.
    CHECK(md.find("| without EMA | 70.5% | 81.0% | -2.0 pt [-3.8, -0.4] | p = 0.034; 97.5 % CI [-4.2, -0.2] | <0.001 | "
                  "the lever helps |") != std::string::npos);
    CHECK(
        md.find("| without label smoothing | 72.3% | 84.6% | -0.2 pt [-0.8, +0.2] | p = 0.277; 95 % CI [-0.8, +0.2] | "
                "0.500 | tie |") != std::string::npos);
    CHECK(md.find("Significantly below the recipe after Holm: without EMA. Ties with the recipe after Holm: without "
                  "label smoothing; what that lever gives is below what 500 val images and one seed can resolve. With "
                  "one seed the intervals cover the val images only") != std::string::npos);
    // The method says the rule the code applied.
    CHECK(md.find("a tie goes to the variant with the\n  fewest MACs, then the fewest params, then the incumbent") !=
          std::string::npos);
    CHECK(md.find("Epoch time never decides") != std::string::npos);
    // Curves: seed means with their range as a band, legends by configuration.
    const std::string csv = test::read_file(runs / "report_figures" / "stage-3.2-accuracy.csv");
    CHECK(csv.find("[1,1,1] val low") != std::string::npos);
    CHECK(csv.find("[1,1,1] val high") != std::string::npos);
    CHECK(csv.find("[1,1,1] train") != std::string::npos);
    CHECK_FALSE(cv::imread((runs / "report_figures" / "stage-3.2-accuracy.png").string()).empty());
    // The final model: 4.4's answer, test with and without TTA.
    CHECK(md.find("**Best configuration: final** — 64-128-256, [2,2,2] blocks, ReLU, 7x7/s2 stem") !=
          std::string::npos);
    CHECK(md.find("Test accuracy **62.5%** on 8 images") != std::string::npos);
    CHECK(md.find("62.5% with, 50.0% without") != std::string::npos);
    CHECK(md.find("![Confusion matrix (test set)](report_figures/final-confusion.png)") != std::string::npos);
  }

  TEST_CASE("a final model on several seeds: its test accuracy as mean ± sd over the seeds that have one") {
    test::TempDir tmp("report-final-seeds");
    const fs::path runs = tmp.path() / "runs";
    FakeRun recipe{"final", "the recipe", 1'000'000, {}, {}, 5.0};
    StageSpec final_stage{
        "Final", "the final model", {fake_variant(runs, recipe, {{0.6, 0.85}, {0.6, 0.84}})}, "", "", false, true};
    const std::vector<engine::eval::ClassLabel> labels = {{"n01443537", "goldfish"}, {"n01629819", "salamander"}};
    const std::vector<std::vector<std::int64_t>> predictions{{0, 1, 1, 0}, {0, 0, 1, 0}};  // 50 % and 75 %
    for (size_t k = 0; k < 2; ++k)
      RunDir(final_stage.variants[0].runs[k])
          .write_test_metrics(
              engine::eval::compute_metrics(engine::eval::confusion_matrix({0, 0, 1, 1}, predictions[k], 2)), labels,
              engine::TtaAccuracy{0.5, 0.5, false});
    write_report(runs / "report.md", {final_stage}, final_stage.variants[0].runs[0]);
    const std::string md = test::read_file(runs / "report.md");
    INFO(md);
    CHECK(md.find("- Over 2 seeds of final: test accuracy **62.5 ± 17.7%** (seed 0 50.0%, seed 1 75.0%); the other "
                  "figures of this section are seed 0's.") != std::string::npos);
  }

  TEST_CASE("training_curves draws a run's accuracy and loss") {
    test::TempDir tmp("report-curves");
    const fs::path dir = write_run(tmp.path(), kC);
    training_curves(dir, RunDir(dir).read_metrics(), "3.1-C");
    CHECK(cv::imread((dir / "accuracy.png").string()).cols == 900);
    CHECK(cv::imread((dir / "loss.png").string()).rows == 560);
  }
}
