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
#include "engine/core/report/report.hpp"
#include "engine/core/run_dir.hpp"

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
};

// Writes summary.toml and metrics.csv exactly as the runner does (run directory contract).
fs::path write_run(const fs::path& root, const FakeRun& run) {
  const fs::path dir = root / run.name;
  fs::create_directories(dir);
  const int epochs = static_cast<int>(run.val_acc.size());
  const auto best = static_cast<int>(std::max_element(run.val_acc.begin(), run.val_acc.end()) - run.val_acc.begin());
  auto loss = [](double acc) { return 2.3 * (1 - acc); };

  std::ofstream csv(dir / "metrics.csv");
  csv << "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds,img_per_s\n";
  for (int e = 0; e < epochs; ++e)
    csv << e + 1 << "," << toml_float(loss(run.train_acc[e])) << "," << toml_float(run.train_acc[e]) << ","
        << toml_float(loss(run.val_acc[e])) << "," << toml_float(run.val_acc[e]) << ",0.1," << run.epoch_seconds
        << ",123.4\n";

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
       << "val_size = " << run.val_size << "\n"
       << "epoch_seconds_mean = " << toml_float(run.epoch_seconds) << "\n"
       << "total_seconds = " << toml_float(run.epoch_seconds * epochs) << "\n"
       << "train_img_per_s = 123.4\ndevice = \"cpu\"\nthreads = 2\nprecision = \"fp32\"\nseed = 42\n"
       << "engine_version = \"0.1.0\"\nconfig_hash = \"abc123\"\n"
       << "complete = " << (planned == epochs ? "true" : "false") << "\n";
  return dir;
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

  TEST_CASE("pick_winner: best val accuracy, ties to fewer params, then to the earlier run") {
    RunResult big, small, other;
    big.best_val_acc = small.best_val_acc = 0.75;
    big.params = 3'000'000;
    small.params = 2'000'000;
    other.best_val_acc = 0.74;
    other.params = 1;
    CHECK(pick_winner({big, small, other}) == 1);
    CHECK(pick_winner({other, big}) == 1);
    CHECK(pick_winner({small, small}) == 0);
    CHECK_THROWS_AS(pick_winner({}), engine::UserError);
  }

  TEST_CASE("stage analysis: margins, noise, convergence, gap trend") {
    test::TempDir tmp("report-analysis");
    const std::vector<RunResult> depth = {read_run(write_run(tmp.path(), kA)), read_run(write_run(tmp.path(), kB)),
                                          read_run(write_run(tmp.path(), kC))};
    const auto f = analyze_stage(depth);
    CHECK(f.winner == 1);
    REQUIRE(f.runner_up);
    CHECK(*f.runner_up == 2);
    CHECK(f.margin == doctest::Approx(0.02));
    CHECK(f.standard_error == doctest::Approx(0.019365).epsilon(1e-4));
    CHECK(f.beyond_noise);
    CHECK(f.within_noise.empty());
    REQUIRE(f.convergence.size() == 3);
    CHECK(f.convergence[0].value_or(0) == 4);
    CHECK(f.convergence[1].value_or(0) == 4);
    CHECK(f.convergence[2].value_or(0) == 5);
    CHECK(f.gap[0] == doctest::Approx(0.035));
    CHECK(f.gap[2] == doctest::Approx(0.11));
    CHECK(f.gap_trend == Trend::kIncreasing);

    const std::vector<RunResult> act = {read_run(write_run(tmp.path(), kD)), read_run(write_run(tmp.path(), kE))};
    const auto g = analyze_stage(act);
    CHECK(g.winner == 1);
    CHECK(g.margin == doctest::Approx(0.006));
    CHECK_FALSE(g.beyond_noise);
    CHECK(g.within_noise == std::vector<std::size_t>{0});
    CHECK(g.gap_trend == Trend::kNotApplicable);  // same params
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

  TEST_CASE("write_report: table, conclusions, figures, final model") {
    test::TempDir tmp("report-full");
    const fs::path runs = tmp.path() / "runs";
    const StageSpec depth{"3.1", "depth", {write_run(runs, kA), write_run(runs, kB), write_run(runs, kC)}, "depth"};
    const StageSpec act{"3.2", "activation", {write_run(runs, kD), write_run(runs, kE)}, ""};
    const StageSpec longer{"3.3", "schedule", {write_run(runs, kF)}, ""};

    // The final run's test results, written as `engine test` writes them.
    const fs::path final_dir = runs / kE.name;
    const std::vector<engine::eval::ClassLabel> labels = {{"n01443537", "goldfish"}, {"n01629819", "salamander"}};
    const auto matrix = engine::eval::confusion_matrix({0, 0, 0, 0, 1, 1, 1, 1}, {0, 0, 0, 1, 1, 0, 0, 1}, 2);
    RunDir(final_dir).write_test_metrics(engine::eval::compute_metrics(matrix), labels);
    RunDir(final_dir).write_confusion(matrix, {"goldfish", "salamander"});
    engine::eval::confusion_png(final_dir / "test" / "confusion.png", matrix, {"goldfish", "salamander"});
    engine::eval::samples_png(final_dir / "test" / "samples.png", {cv::Mat(64, 64, CV_8UC3, cv::Scalar(9, 99, 199))},
                              {"goldfish"}, {"salamander"});
    std::ofstream(final_dir / "architecture.svg") << "<svg xmlns='http://www.w3.org/2000/svg'/>\n";

    write_report(runs / "report.md", {depth, act, longer}, final_dir);
    const std::string md = test::read_file(runs / "report.md");
    INFO(md);  // shown on failure

    // Summary table rows.
    CHECK(md.find("| Stage | Run | Configuration | Params | Best val acc | Train acc (same epoch) | Gap (train−val) | "
                  "Best epoch | Epoch time |") != std::string::npos);
    CHECK(md.find("| 3.1 | 3.1-A | blocks [1,1,1,1] | 1.00M | 66.5% | 70.0% | 3.5 pt | 5 | 30.0 s |\n") !=
          std::string::npos);
    CHECK(md.find("| 3.1 | **3.1-B** | blocks [2,2,2,2] | 2.00M | 75.0% | 80.0% | 5.0 pt | 5 | 41.3 s |\n") !=
          std::string::npos);
    CHECK(md.find("| 3.1 | 3.1-C | blocks [3,4,6,3] | 4.00M | 73.0% | 84.0% | 11.0 pt | 6 | 1 min 15 s |\n") !=
          std::string::npos);
    CHECK(md.find("| 3.2 | **3.2-gelu** | gelu \\| smooth | 2.00M | 75.6% | 79.0% | 3.4 pt | 3 | 44.0 s |\n") !=
          std::string::npos);
    CHECK(md.find("| 3.3 | 3.3-long | long schedule *(incomplete: 2 of 30 epochs)* |") != std::string::npos);

    // Winners, margins and noise verdicts.
    CHECK(md.find("**Winner: 3.1-B** with 75.0% best val accuracy (epoch 5), 2.0 pt ahead of the runner-up "
                  "3.1-C (73.0%).") != std::string::npos);
    CHECK(md.find("Beyond noise (margin 2.0 pt > 1 SE = 1.9 pt, from 500 val images)") != std::string::npos);
    CHECK(md.find("**Winner: 3.2-gelu** with 75.6% best val accuracy (epoch 3), 0.6 pt ahead of the runner-up "
                  "3.2-relu (75.0%).") != std::string::npos);
    CHECK(md.find("Within noise (margin 0.6 pt < 1 SE = 1.9 pt, from 500 val images): 3.2-gelu and 3.2-relu are "
                  "not distinguishable") != std::string::npos);
    CHECK(md.find("Only one run, **3.3-long**") != std::string::npos);
    CHECK(md.find("Incomplete: 3.3-long stopped after 2 of 30 planned epochs.") != std::string::npos);

    // Convergence and gaps.
    CHECK(md.find("3.1-A epoch 4 of 6, 3.1-B epoch 4 of 6 and 3.1-C epoch 5 of 6.") != std::string::npos);
    CHECK(md.find("3.1-A (1.00M) 3.5 pt, 3.1-B (2.00M) 5.0 pt and 3.1-C (4.00M) 11.0 pt; it grows monotonically "
                  "with depth (params).") != std::string::npos);

    CHECK(md.find("possibly still improving: 3.1-C.") != std::string::npos);
    CHECK(md.find("possibly still improving: 3.2-relu and 3.2-gelu.") != std::string::npos);

    // Wall time: 6*30 + 6*41.3 + 6*75 + 3*41 + 3*44 + 2*42 = 1216.8 s, each run once.
    CHECK(md.find("6 runs in 3 stages. Total wall time of the study: 20 min 17 s") != std::string::npos);

    // Final model.
    CHECK(md.find("## Final model: 3.2-gelu") != std::string::npos);
    CHECK(md.find("Test accuracy **62.5%** on 8 images") != std::string::npos);
    CHECK(md.find("| goldfish | n01443537 | 0.600 | 0.750 | 0.667 | 4 |") != std::string::npos);
    CHECK(md.find("Most frequent confusion: salamander predicted as goldfish (2 of 4") != std::string::npos);
    CHECK(md.find("![Confusion matrix (test set)](report_figures/final-confusion.png)") != std::string::npos);
    CHECK(md.find("(report_figures/final-architecture.svg)") != std::string::npos);

    // Figures beside the report, self-contained.
    const fs::path figs = runs / "report_figures";
    for (const char* f : {"stage-3.1-val_acc.png", "stage-3.1-loss.png", "stage-3.2-val_acc.png", "stage-3.3-loss.png",
                          "final-confusion.png", "final-samples.png"}) {
      CAPTURE(f);
      CHECK_FALSE(cv::imread((figs / f).string()).empty());
    }
    CHECK(fs::exists(figs / "stage-3.1-val_acc.gp"));
    CHECK(fs::exists(figs / "final-architecture.svg"));
    CHECK(md.find("(report_figures/stage-3.1-val_acc.png)") != std::string::npos);
  }

  TEST_CASE("training_curves draws a run's accuracy and loss") {
    test::TempDir tmp("report-curves");
    const fs::path dir = write_run(tmp.path(), kC);
    training_curves(dir, RunDir(dir).read_metrics(), "3.1-C");
    CHECK(cv::imread((dir / "accuracy.png").string()).cols == 900);
    CHECK(cv::imread((dir / "loss.png").string()).rows == 560);
  }
}
