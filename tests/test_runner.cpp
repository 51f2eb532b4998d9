// The runner and `engine test`: training, resume, refusals, divergence, checkpoints, files.
#include <doctest/doctest.h>

#include "engine/core/graph.hpp"
#include "engine/core/registry.hpp"
#include "engine/core/run_dir.hpp"
#include "engine/nn/model.hpp"
#include "engine/nn/runner/checkpoint.hpp"
#include "engine/nn/runner/hardware.hpp"
#include "engine/nn/runner/run.hpp"
#include "tests/run_fixture.hpp"

using namespace engine;
namespace fs = std::filesystem;

namespace {
struct Fixture : test::TinyRun {
  Fixture() : TinyRun("engine-runner") {}
};
}  // namespace

TEST_SUITE("runner") {
  TEST_CASE("a tiny graph trains, its loss falls, and every file of the run directory exists and parses") {
    Fixture f;
    RunOutcome out = run_graph(f.graph, f.options("run", {"train.epochs=3"}));
    CHECK(out.complete);
    CHECK(out.epochs_done == 3);
    RunResult r = RunDir(out.dir).read_result();
    REQUIRE(r.history.size() == 3);
    CHECK(r.history[2].train_loss < r.history[0].train_loss);
    CHECK(r.params == 8 * 3 * 9 + 8 + 16 + 8 * 3 + 3);
    CHECK(r.complete);
    CHECK(r.val_size == 18);  // 6 per class at 0.25
    for (const char* name :
         {"config.toml", "model.txt", "metrics.csv", "summary.toml", "best.pt", "last.pt", "accuracy.png",
          "accuracy.gp", "accuracy.csv", "loss.png", "architecture.svg", "train.log"}) {
      CAPTURE(name);
      CHECK(fs::exists(out.dir / name));
    }
    Value config = parse_toml_file(out.dir / "config.toml");
    CHECK(config.find("config_hash"));
    CHECK(config.find("train")->find("epochs")->i == 3);
    CHECK(test::read_file(out.dir / "model.txt").find("Total params") != std::string::npos);

    // Run again: nothing to do, nothing rewritten.
    auto before = fs::last_write_time(out.dir / "last.pt");
    RunOutcome again = run_graph(f.graph, f.options("run", {"train.epochs=3"}));
    CHECK(again.was_complete);
    CHECK(fs::last_write_time(out.dir / "last.pt") == before);
  }

  TEST_CASE("a run stopped after an epoch resumes to exactly the metrics of an uninterrupted run") {
    Fixture f;
    std::vector<std::string> sets{"train.epochs=3", "data.augment.flip=true", "data.augment.crop_padding=2"};
    run_graph(f.graph, f.options("whole", sets));
    RunOptions part = f.options("parts", sets);
    part.stop_after = 1;
    RunOutcome first = run_graph(f.graph, part);
    CHECK_FALSE(first.complete);
    CHECK(first.epochs_done == 1);
    CHECK_FALSE(RunDir(first.dir).read_result().complete);
    part.stop_after = 0;
    CHECK(run_graph(f.graph, part).complete);

    auto a = RunDir(f.dir / "whole").read_metrics();
    auto b = RunDir(f.dir / "parts").read_metrics();
    REQUIRE(a.size() == 3);
    REQUIRE(b.size() == 3);
    for (size_t k = 0; k < 3; ++k) {
      CAPTURE(k);
      CHECK(a[k].train_loss == doctest::Approx(b[k].train_loss).epsilon(1e-6));
      CHECK(a[k].val_loss == doctest::Approx(b[k].val_loss).epsilon(1e-6));
      CHECK(a[k].val_acc == b[k].val_acc);
    }
  }

  TEST_CASE("a changed config is refused with the keys that differ; --fresh moves the old run aside") {
    Fixture f;
    run_graph(f.graph, f.options("run", {"train.epochs=1"}));
    try {
      run_graph(f.graph, f.options("run", {"train.epochs=1", "train.lr=0.5"}));
      FAIL("a changed config must be refused");
    } catch (const UserError& e) {
      CHECK(std::string(e.what()).find("train.lr: 0.01 -> 0.5") != std::string::npos);
    }
    // Threads and the data root are not part of a run's identity.
    auto same = f.options("run", {"train.epochs=1", "train.threads=1"});
    CHECK(run_graph(f.graph, same).was_complete);

    RunOptions fresh = f.options("run", {"train.epochs=1", "train.lr=0.5"});
    fresh.fresh = true;
    CHECK(run_graph(f.graph, fresh).complete);
    CHECK(fs::exists(f.dir / "run.prev-1" / "best.pt"));
  }

  TEST_CASE("a diverging loss stops the run naming epoch and batch; earlier results stay") {
    Fixture f;
    run_graph(f.graph, f.options("run", {"train.epochs=1"}));
    auto metrics = test::read_file(f.dir / "run" / "metrics.csv");
    try {
      RunOptions o = f.options("run", {"train.epochs=2", "train.lr=1e30"});
      o.fresh = false;
      // lr is part of the config: train it in its own directory instead.
      o.out = (f.dir / "nan").string();
      run_graph(f.graph, o);
      FAIL("must diverge");
    } catch (const UserError& e) {
      std::string m = e.what();
      CHECK(m.find("training diverged") != std::string::npos);
      CHECK(m.find("at epoch 1, batch ") != std::string::npos);
    }
    CHECK(test::read_file(f.dir / "run" / "metrics.csv") == metrics);
  }

  TEST_CASE("a checkpoint round trip restores identical outputs; a mismatched graph is explained") {
    Fixture f;
    auto build = [&](const std::string& file, int seed) {
      torch::manual_seed(seed);
      Graph g = load_graph(file).graph;
      return build_model(g);
    };
    GraphModule a = build(f.graph.string(), 1);
    a->train();
    a->forward(torch::randn({4, 3, 32, 32}));  // moves batchnorm's running statistics
    CheckpointInfo info{3, 0.75, 2};
    save_checkpoint(f.dir / "a.pt", *a, nullptr, info);
    GraphModule b = build(f.graph.string(), 2);
    CheckpointInfo back = load_checkpoint(f.dir / "a.pt", *b);
    CHECK(back.epoch == 3);
    CHECK(back.best_epoch == 2);
    a->eval();
    b->eval();
    torch::Tensor x = torch::randn({2, 3, 32, 32});
    CHECK(torch::equal(a->forward(x), b->forward(x)));

    std::string text = test::tiny_graph("wide");
    text.replace(text.find("width = 8"), 9, "width = 16");
    auto wide = f.dir.write("wide.toml", text);
    GraphModule c = build(wide.string(), 1);
    CHECK_THROWS_WITH_AS(load_checkpoint(f.dir / "a.pt", *c),
                         doctest::Contains("cannot copy param 'conv2d_0.weight': shape mismatch. Checkpoint shape is "
                                           "[8, 3, 3, 3]; model shape is [16, 3, 3, 3]"),
                         UserError);
  }

  TEST_CASE("engine test writes every evaluation file; no run or a mismatched checkpoint exits 2") {
    Fixture f;
    run_graph(f.graph, f.options("run", {"train.epochs=2"}));
    std::string out = (f.dir / "run").string();
    auto r = test::run_cli(
        {"test", f.graph.string(), "--run-dir", out, "--data", f.data.string(), "--set", "train.epochs=2"});
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("test accuracy") != std::string::npos);
    for (const char* name : {"metrics.toml", "report.txt", "confusion.csv", "confusion.png", "samples.png"}) {
      CAPTURE(name);
      CHECK(fs::exists(f.dir / "run" / "test" / name));
    }
    auto m = RunDir(f.dir / "run").read_test_metrics();
    CHECK(m.metrics.total == 18);
    CHECK(m.labels.size() == 3);
    CHECK(m.labels[0].name == "class0");

    auto none =
        test::run_cli({"test", f.graph.string(), "--run-dir", (f.dir / "nothing").string(), "--data", f.data.string()});
    CHECK(none.code == 2);
    CHECK(none.err.find("no best checkpoint") != std::string::npos);
    auto wrong =
        test::run_cli({"test", f.graph.string(), "--run-dir", out, "--data", f.data.string(), "--set", "vars.width=4"});
    CHECK(wrong.code == 2);
    CHECK(wrong.err.find("shape mismatch") != std::string::npos);
  }
}

TEST_SUITE("runner") {
  TEST_CASE("bf16 autocast computes convolutions and linears in bfloat16, and only inside its scope") {
    Hardware hw;
    hw.bf16 = true;
    torch::nn::Conv2d conv(torch::nn::Conv2dOptions(3, 4, 3));
    torch::Tensor x = torch::randn({2, 3, 8, 8});
    {
      Autocast autocast(hw);
      CHECK((conv->forward(x).scalar_type() == torch::kBFloat16));
    }
    CHECK((conv->forward(x).scalar_type() == torch::kFloat));
  }
}
