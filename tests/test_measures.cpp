// What a run measures besides its loss and accuracy, and the levers of a stronger final model:
// the train probe (train_eval_acc), val_predictions.csv, the weights' moving average (EMA) and
// flip test-time augmentation in `engine test`.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "engine/core/files.hpp"
#include "engine/core/run_dir.hpp"
#include "engine/nn/dataset/augment.hpp"
#include "engine/nn/runner/checkpoint.hpp"
#include "engine/nn/runner/ema.hpp"
#include "engine/nn/runner/evaluate.hpp"
#include "engine/nn/runner/flip_tta.hpp"
#include "engine/nn/runner/prepare.hpp"
#include "engine/nn/runner/run.hpp"
#include "engine/nn/runner/train_probe.hpp"
#include "tests/run_fixture.hpp"

using namespace engine;
namespace fs = std::filesystem;

namespace {
struct Fixture : test::TinyRun {
  Fixture() : TinyRun("engine-measures") {}
  // The run's graph, model and data as the runner prepares them (weights of train.seed).
  Prepared prepared(const std::string& out, const std::vector<std::string>& sets) const {
    RunOptions o = options(out, sets);
    Prepared p = resolve(graph, o);
    prepare_model(p);
    prepare_data(p, o, data::TestSplit::Skip);
    return p;
  }
};

// metrics.csv without seconds and img_per_s (columns 7 and 8), which no two runs share.
std::string without_timings(const std::string& csv) {
  std::istringstream in(csv);
  std::string line, out;
  while (std::getline(in, line)) {
    auto fields = split_csv(line);
    fields.erase(fields.begin() + 6, fields.begin() + 8);
    for (size_t k = 0; k < fields.size(); ++k) out += (k ? "," : "") + fields[k];
    out += "\n";
  }
  return out;
}

bool same_weights(torch::nn::Module& a, torch::nn::Module& b) {
  auto x = a.parameters(), y = b.parameters();
  for (size_t k = 0; k < x.size(); ++k)
    if (!torch::equal(x[k], y[k])) return false;
  return !x.empty();
}
}  // namespace

TEST_SUITE("runner") {
  TEST_CASE("train_eval_acc: a fixed sample chosen by data.split_seed, equal to evaluating the model on it") {
    auto rows = train_probe_rows(100, 10, 5);
    CHECK(rows.size() == 10);
    CHECK(std::is_sorted(rows.begin(), rows.end()));
    CHECK(std::set<int64_t>(rows.begin(), rows.end()).size() == 10);
    CHECK(rows.back() < 100);
    CHECK(train_probe_rows(100, 10, 5) == rows);
    CHECK(train_probe_rows(100, 10, 6) != rows);
    CHECK(train_probe_rows(7, 500, 5) == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6});

    Fixture f;
    // fp32 and contiguous, so that the forward pass below computes exactly what the runner does.
    std::vector<std::string> sets{"train.epochs=3",
                                  "train.lr=0.001",
                                  "train.train_probe=20",
                                  "train.precision=\"fp32\"",
                                  "train.memory_format=\"contiguous\"",
                                  "data.augment.flip=true"};
    auto with_seed = [&](int seed) {
      auto s = sets;
      s.push_back("train.seed=" + std::to_string(seed));
      return s;
    };
    Prepared a = f.prepared("a", with_seed(1)), b = f.prepared("b", with_seed(2));
    data::Split sa = train_probe_split(a.data.train, 20, a.dataset.split_seed);
    data::Split sb = train_probe_split(b.data.train, 20, b.dataset.split_seed);
    REQUIRE(sa.size() == 20);
    CHECK(sa.files == sb.files);  // two seeds, the same images
    CHECK(torch::equal(sa.images, sb.images));

    RunOutcome out = run_graph(f.graph, f.options("a", with_seed(1)));
    REQUIRE(out.complete);
    auto rows_read = RunDir(out.dir).read_metrics();
    REQUIRE(rows_read.size() == 3);
    const EpochRow& last = rows_read[2];
    REQUIRE(last.train_eval_acc.has_value());
    REQUIRE(last.train_eval_loss.has_value());

    // The model after the last epoch (last.pt), evaluated by hand on those images in eval mode.
    load_checkpoint(out.dir / "last.pt", *a.model);
    a.model->eval();
    torch::NoGradGuard no_grad;
    torch::Tensor x = data::normalise(sa.images, a.data.mean, a.data.std);
    torch::Tensor logits = a.model->forward(x);
    double acc = logits.argmax(1).eq(sa.labels).to(torch::kDouble).mean().item<double>();
    double loss = torch::nn::functional::cross_entropy(logits, sa.labels).item<double>();
    CHECK(acc > 0);  // a model that has learned something, so the check below means something
    CHECK(*last.train_eval_acc == doctest::Approx(acc).epsilon(1e-6));
    CHECK(*last.train_eval_loss == doctest::Approx(loss).epsilon(1e-5));

    RunResult r = RunDir(out.dir).read_result();
    REQUIRE(r.train_eval_acc_at_best.has_value());
    CHECK(*r.train_eval_acc_at_best == *rows_read.at(r.best_epoch - 1).train_eval_acc);
    CHECK(*r.final_train_eval_acc == *last.train_eval_acc);
  }

  TEST_CASE("without a train probe the columns are empty and the summary keys absent; old files still read") {
    Fixture f;
    RunOutcome out = run_graph(f.graph, f.options("run", {"train.epochs=1", "train.train_probe=0"}));
    std::string csv = test::read_file(out.dir / "metrics.csv");
    CHECK(csv.substr(0, csv.find('\n')) ==
          "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds,img_per_s,train_eval_loss,train_eval_acc");
    CHECK(csv.substr(csv.size() - 3) == ",,\n");
    CHECK(test::read_file(out.dir / "summary.toml").find("train_eval") == std::string::npos);
    RunResult r = RunDir(out.dir).read_result();
    CHECK_FALSE(r.history.at(0).train_eval_acc.has_value());
    CHECK_FALSE(r.train_eval_acc_at_best.has_value());

    test::TempDir old;
    old.write("metrics.csv",
              "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds,img_per_s\n"
              "1,1.5,0.4,1.4,0.5,0.001,10.0,400.0\n");
    auto rows = RunDir(old.path()).read_metrics();
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].val_acc == 0.5);
    CHECK_FALSE(rows[0].train_eval_acc.has_value());
  }

  TEST_CASE("a run begun before the new keys resumes: absent keys are their defaults, metrics.csv gains the columns") {
    Fixture f;
    RunOptions o = f.options("run", {"train.epochs=2"});
    o.stop_after = 1;
    run_graph(f.graph, o);
    // Make it look written by the engine before train_probe, ema and test_tta.
    std::string config = test::read_file(f.dir / "run" / "config.toml"), kept;
    std::istringstream lines(config);
    for (std::string line; std::getline(lines, line);)
      if (line.rfind("train_probe", 0) && line.rfind("ema", 0) && line.rfind("test_tta", 0)) kept += line + "\n";
    REQUIRE(kept.size() < config.size());
    f.dir.write("run/config.toml", kept);
    std::istringstream csv(test::read_file(f.dir / "run" / "metrics.csv"));
    std::string eight;
    for (std::string line; std::getline(csv, line);) {
      auto fields = split_csv(line);
      for (size_t k = 0; k < 8; ++k) eight += (k ? "," : "") + fields.at(k);
      eight += "\n";
    }
    f.dir.write("run/metrics.csv", eight);
    REQUIRE(RunDir(f.dir / "run").read_metrics().size() == 1);
    o.stop_after = 0;
    CHECK(run_graph(f.graph, o).complete);
    auto rows = RunDir(f.dir / "run").read_metrics();
    REQUIRE(rows.size() == 2);
    CHECK_FALSE(rows[0].train_eval_acc.has_value());
    CHECK(rows[1].train_eval_acc.has_value());
  }

  TEST_CASE("val_predictions.csv holds the best epoch's predictions, consistent with val_acc and best.pt") {
    Fixture f;
    std::vector<std::string> sets{"train.epochs=3", "train.lr=0.001"};  // slow enough to make mistakes
    RunOutcome out = run_graph(f.graph, f.options("run", sets));
    RunDir dir(out.dir);
    RunResult r = dir.read_result();
    ValPredictions v = dir.read_val_predictions();
    REQUIRE(v.labels.size() == 18);
    REQUIRE(v.predictions.size() == 18);
    int64_t correct = 0;
    for (size_t k = 0; k < v.labels.size(); ++k) correct += v.labels[k] == v.predictions[k];
    CHECK(static_cast<double>(correct) / 18 == doctest::Approx(r.best_val_acc).epsilon(1e-6));
    CHECK(r.history.at(r.best_epoch - 1).val_acc == doctest::Approx(r.best_val_acc));

    // In val-split order, and best.pt predicts exactly these.
    Prepared p = f.prepared("run", sets);
    torch::Tensor labels = p.data.val.labels.to(torch::kLong).contiguous();
    CHECK(v.labels == std::vector<int64_t>(labels.data_ptr<int64_t>(), labels.data_ptr<int64_t>() + labels.numel()));
    load_checkpoint(out.dir / "best.pt", *p.model);
    data::BatchLoader val = eval_loader(p, p.data.val);
    CHECK(evaluate(p.model, val, p.hw, true).predictions == v.predictions);
  }

  TEST_CASE("EMA with label smoothing and erasing: stopped after epoch 1 and resumed equals an uninterrupted run") {
    Fixture f;
    std::vector<std::string> sets{"train.epochs=3",           "train.ema=0.9",          "train.label_smoothing=0.1",
                                  "data.augment.erasing=0.5", "data.augment.flip=true", "train.train_probe=30",
                                  "train.lr=0.0003"};
    RunOutcome whole = run_graph(f.graph, f.options("whole", sets));
    REQUIRE(whole.complete);
    RunOptions part = f.options("parts", sets);
    part.stop_after = 1;
    CHECK(run_graph(f.graph, part).epochs_done == 1);
    part.stop_after = 0;
    CHECK(run_graph(f.graph, part).complete);
    std::string a = without_timings(test::read_file(f.dir / "whole" / "metrics.csv"));
    CHECK(a == without_timings(test::read_file(f.dir / "parts" / "metrics.csv")));
    CHECK(test::read_file(f.dir / "whole" / "val_predictions.csv") ==
          test::read_file(f.dir / "parts" / "val_predictions.csv"));

    // Validation saw the average, not the trained weights: a run without EMA differs.
    auto no_ema = sets;
    no_ema[1] = "train.ema=0";
    run_graph(f.graph, f.options("plain", no_ema));
    CHECK(a != without_timings(test::read_file(f.dir / "plain" / "metrics.csv")));

    // last.pt holds both; best.pt holds the average of the best epoch.
    Prepared p = f.prepared("whole", sets);
    std::unique_ptr<Ema> ema = make_ema(p);
    REQUIRE(ema);
    load_checkpoint(whole.dir / "last.pt", *p.model, nullptr, ema.get());
    CHECK(ema->updates() == 3 * 4);  // 54 train images in batches of 16: 4 steps an epoch
    GraphModule best = build_model(p.graph);
    place_model(*best, p.hw);
    load_checkpoint(whole.dir / "best.pt", *best);
    RunResult r = RunDir(whole.dir).read_result();
    CHECK_FALSE(same_weights(*p.model, *ema->model()));
    if (r.best_epoch == 3) CHECK(same_weights(*best, *ema->model()));
    data::BatchLoader val = eval_loader(p, p.data.val);
    CHECK(evaluate(best, val, p.hw).loss == doctest::Approx(r.val_loss_at_best).epsilon(1e-5));

    CHECK_THROWS_WITH_AS(run_graph(f.graph, f.options("bad", {"train.ema=1.5"})), doctest::Contains("[train].ema"),
                         UserError);
  }

  TEST_CASE("engine test records accuracy with and without flip TTA from one pass; --tta reports the TTA one") {
    Fixture f;
    run_graph(f.graph, f.options("run", {"train.epochs=2"}));
    std::string out = (f.dir / "run").string();
    auto plain = test::run_cli(
        {"test", f.graph.string(), "--run-dir", out, "--data", f.data.string(), "--set", "train.epochs=2"});
    INFO(plain.err);
    REQUIRE(plain.code == 0);
    CHECK(plain.out.find("without flip TTA") != std::string::npos);
    TestMetrics m = RunDir(out).read_test_metrics();
    REQUIRE(m.tta.has_value());
    CHECK_FALSE(m.tta->used);
    CHECK(m.metrics.accuracy == m.tta->without_tta);

    auto tta = test::run_cli(
        {"test", f.graph.string(), "--run-dir", out, "--data", f.data.string(), "--set", "train.epochs=2", "--tta"});
    REQUIRE(tta.code == 0);
    CHECK(tta.out.find("reported: with)") != std::string::npos);
    TestMetrics t = RunDir(out).read_test_metrics();
    REQUIRE(t.tta.has_value());
    CHECK(t.tta->used);
    CHECK(t.metrics.accuracy == t.tta->with_tta);
    CHECK(t.tta->without_tta == m.tta->without_tta);
    CHECK(t.tta->with_tta == m.tta->with_tta);

    // test_tta does not change training: setting it keeps the run's identity.
    CHECK(run_graph(f.graph, f.options("run", {"train.epochs=2", "train.test_tta=true"})).was_complete);
  }

  TEST_CASE("flip TTA averages the logits of image and mirror; on mirror-symmetric images it changes nothing") {
    torch::manual_seed(0);
    Graph g = load_graph(test::TempDir().write("g.toml", test::tiny_graph("g"))).graph;
    GraphModule model = build_model(g);
    Hardware hw;  // fp32, contiguous, CPU
    torch::Tensor half = torch::randint(0, 256, {12, 3, 32, 16}, torch::kUInt8);
    data::Split symmetric{torch::cat({half, half.flip({3})}, 3), torch::randint(0, 3, {12}, torch::kLong), {}};
    data::LoaderOptions lo;
    lo.batch_size = 5;
    data::BatchLoader loader(symmetric, lo);
    FlipEvalResult r = evaluate_with_flip(model, loader, hw);
    CHECK(r.count == 12);
    CHECK(r.tta == r.plain);
    CHECK(r.tta_accuracy == r.plain_accuracy);
    EvalResult e = evaluate(model, loader, hw, true);
    CHECK(e.predictions == r.plain);  // the plain half is what evaluate() predicts
    CHECK(e.accuracy == r.plain_accuracy);

    // Any images: the TTA prediction is the argmax of the mean of both logits.
    data::Split any{
        torch::randint(0, 256, {12, 3, 32, 32}, torch::kUInt8), torch::randint(0, 3, {12}, torch::kLong), {}};
    data::BatchLoader loader2(any, lo);
    FlipEvalResult q = evaluate_with_flip(model, loader2, hw);
    model->eval();
    torch::NoGradGuard no_grad;
    torch::Tensor x = any.images.to(torch::kFloat) / 255;
    torch::Tensor mean = (model->forward(x) + model->forward(x.flip({3}))) / 2;
    torch::Tensor expected = mean.argmax(1).contiguous();
    CHECK(q.tta == std::vector<int64_t>(expected.data_ptr<int64_t>(), expected.data_ptr<int64_t>() + 12));
  }
}
