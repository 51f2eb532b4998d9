// The measured execution plan of `engine run`: what [train].memory_format = "auto" becomes.
#include "engine/kernels/choose.hpp"  // torch before doctest
#include "engine/nn/runner/hardware.hpp"

#include <doctest/doctest.h>

#include "engine/core/run_dir.hpp"
#include "engine/nn/runner/plan.hpp"
#include "engine/nn/runner/run.hpp"
#include "tests/run_fixture.hpp"

using namespace engine;
namespace fs = std::filesystem;

namespace {
struct Fixture : test::TinyRun {
  fs::path plans = dir / ".cache" / "plans.toml";  // beside the run directories, as the data cache
  Fixture() : TinyRun("engine-plan") {}
  RunOptions options(const std::string& out, std::vector<std::string> sets = {"train.epochs=1"}) const {
    return TinyRun::options(out, std::move(sets));
  }
  std::string format_of(const std::string& out) const { return RunDir(dir / out).read_result().memory_format; }
  std::string log_of(const std::string& out) const { return test::read_file(dir / out / "train.log"); }
};

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }
std::string other(const std::string& format) { return format == "contiguous" ? "channels_last" : "contiguous"; }

}  // namespace

TEST_SUITE("plan") {
  TEST_CASE("auto times both formats once, records and caches the faster; a second run reads the cache") {
    Fixture f;
    CHECK(run_graph(f.graph, f.options("a")).complete);
    const std::string chosen = f.format_of("a");
    CHECK((chosen == "channels_last" || chosen == "contiguous"));
    const std::string log = f.log_of("a");
    CHECK(has(log, "memory format: measured"));
    CHECK(has(log, "  channels_last  "));
    CHECK(has(log, "  contiguous     "));
    REQUIRE(fs::exists(f.plans));
    const std::string plans = test::read_file(f.plans);
    CHECK(has(plans, "memory_format = \"" + chosen + "\""));
    CHECK(has(plans, "graph = \"tiny\""));

    CHECK(run_graph(f.graph, f.options("b")).complete);
    CHECK_FALSE(has(f.log_of("b"), "memory format: measured"));
    CHECK(has(f.log_of("b"), "memory format: " + chosen + ", as measured before"));
    CHECK(f.format_of("b") == chosen);

    // Another batch size is another plan.
    CHECK(run_graph(f.graph, f.options("c", {"train.epochs=1", "train.batch_size=8"})).complete);
    CHECK(has(f.log_of("c"), "memory format: measured"));
  }

  TEST_CASE("contiguous is chosen only when faster by more than the tie margin") {
    CHECK(choose_contiguous(100, 90));         // 10% faster
    CHECK_FALSE(choose_contiguous(100, 97));   // 3%: a tie, channels_last
    CHECK_FALSE(choose_contiguous(100, 100));  // equal: channels_last
    CHECK_FALSE(choose_contiguous(100, 130));  // slower
    CHECK(choose_contiguous(100, (1 - kPlanTieMargin) * 100 - 0.01));
    CHECK_FALSE(choose_contiguous(100, (1 - kPlanTieMargin) * 100 + 0.01));
  }

  TEST_CASE("a resumed run keeps the format it recorded, whatever the cache says now") {
    Fixture f;
    RunOptions part = f.options("run", {"train.epochs=2"});
    part.stop_after = 1;
    CHECK_FALSE(run_graph(f.graph, part).complete);
    const std::string recorded = f.format_of("run");
    // The cache now claims the other format: the resume must not follow it.
    std::string plans = test::read_file(f.plans);
    const std::string line = "memory_format = \"" + recorded + "\"";
    REQUIRE(has(plans, line));
    plans.replace(plans.find(line), line.size(), "memory_format = \"" + other(recorded) + "\"");
    f.dir.write(".cache/plans.toml", plans);

    part.stop_after = 0;
    CHECK(run_graph(f.graph, part).complete);
    CHECK(has(f.log_of("run"), "memory format: " + recorded + ", as the run being resumed recorded"));
    CHECK(f.format_of("run") == recorded);
    CHECK(RunDir(f.dir / "run").read_metrics().size() == 2);
  }

  TEST_CASE("under ENGINE_THREADS (engine study --jobs) the plan is measured and cached on those threads") {
    Fixture f;
    setenv("ENGINE_THREADS", "1", 1);
    const bool done = run_graph(f.graph, f.options("a")).complete;
    unsetenv("ENGINE_THREADS");
    REQUIRE(done);
    CHECK(has(f.log_of("a"), "memory format: measured"));
    CHECK(has(test::read_file(f.plans), "threads = 1\n"));
    CHECK(has(f.log_of("a"), "(1 threads)"));
  }

  TEST_CASE("an explicit memory_format is used as written, with nothing measured or cached") {
    Fixture f;
    for (const std::string format : {"contiguous", "channels_last"}) {
      CAPTURE(format);
      CHECK(run_graph(f.graph, f.options(format, {"train.epochs=1", "train.memory_format=" + format})).complete);
      CHECK(f.format_of(format) == format);
      CHECK_FALSE(has(f.log_of(format), "memory format:"));
      CHECK_FALSE(has(f.log_of(format), "convolution kernels:"));
      CHECK(RunDir(f.dir / format).read_result().conv_kernels.empty());
    }
    CHECK_FALSE(fs::exists(f.plans));
  }

  TEST_CASE("auto measures the graph's convolution kernels, records them, and a resume and engine test keep them") {
    // The choices are measured in bf16, which "auto" takes only where it is native.
    if (bf16_support("cpu") == Bf16::none) {
      MESSAGE("oneDNN at " << cpu_isa() << " has no bf16 convolution: nothing to measure, case skipped");
      return;
    }
    Fixture f;
    RunOptions part = f.options("run", {"train.epochs=2", "train.precision=bf16"});
    part.stop_after = 1;
    CHECK_FALSE(run_graph(f.graph, part).complete);
    // The tiny graph's first layer (3 -> 8, 3x3, stride 2, on 32x32 in bf16) is what the stem's rule takes.
    const std::string key = "space_to_depth 3->8 k3x3 s2x2 p1x1 d1x1 bias on 32x32";
    const ConvChoices recorded = RunDir(f.dir / "run").read_result().conv_kernels;
    REQUIRE(recorded.size() == 1);
    const std::string kernel = recorded.at(key);
    CHECK((kernel == "aten" || kernel == "space_to_depth"));
    CHECK(has(f.log_of("run"), "convolution kernels: "));
    CHECK(has(f.log_of("run"), "  " + key + "  "));
    const std::string line = "\"" + key + "\" = \"" + kernel + "\"";
    std::string plans = test::read_file(f.plans);
    REQUIRE(has(plans, line));

    // The cache now claims the other kernel: the resume must keep the recorded one.
    const std::string flipped = kernel == "aten" ? "space_to_depth" : "aten";
    plans.replace(plans.find(line), line.size(), "\"" + key + "\" = \"" + flipped + "\"");
    f.dir.write(".cache/plans.toml", plans);
    part.stop_after = 0;
    CHECK(run_graph(f.graph, part).complete);
    CHECK(has(f.log_of("run"), "as the run being resumed recorded, and its convolution kernels"));
    CHECK(RunDir(f.dir / "run").read_result().conv_kernels == recorded);

    // A new run reads the cache, flipped kernel and all.
    CHECK(run_graph(f.graph, f.options("again", {"train.epochs=1", "train.precision=bf16"})).complete);
    CHECK(RunDir(f.dir / "again").read_result().conv_kernels == ConvChoices{{key, flipped}});

    TestOptions t;
    t.out = (f.dir / "run").string();
    t.data_root = f.data.string();
    CHECK(test_graph(f.graph, t).accuracy >= 0);
    // engine test, predict and a resume build the model with what the run recorded.
    TrainConfig adopted;
    ConvChoices choices;
    CHECK(adopt_recorded_plan(adopted, choices, RunDir(f.dir / "run")));
    CHECK(choices == recorded);
    CHECK(adopted.kernels == "auto");
    CHECK(adopted.precision == "bf16");
  }

  TEST_CASE("precision auto is bf16 only where the CPU computes it natively; bf16 where it cannot run is refused") {
    // Our reading of the CPU follows ONEDNN_MAX_CPU_ISA as oneDNN does, so each path is reachable here.
    const char* before = std::getenv("ONEDNN_MAX_CPU_ISA");
    const std::string saved = before ? before : "";
    const std::string best = (unsetenv("ONEDNN_MAX_CPU_ISA"), cpu_isa());
    struct Case {
      const char* cap;
      Bf16 support;
    };
    for (const Case& c :
         {Case{"AVX512_CORE_BF16", Bf16::native}, Case{"AVX512_CORE", Bf16::emulated}, Case{"AVX2", Bf16::none}}) {
      setenv("ONEDNN_MAX_CPU_ISA", c.cap, 1);
      CAPTURE(c.cap);
      CAPTURE(best);
      if (best != "avx512_core_amx" && best != "avx512_core_bf16" && c.support != Bf16::none) continue;  // not here
      CHECK(bf16_support("cpu") == c.support);
      CHECK(resolve_precision("auto", "cpu", false) == (c.support == Bf16::native ? "bf16" : "fp32"));
      CHECK(resolve_precision("fp32", "cpu", false) == "fp32");
      if (c.support == Bf16::none) {
        CHECK_THROWS_WITH_AS(resolve_precision("bf16", "cpu", false),
                             doctest::Contains("has no bf16 convolution (it needs AVX-512"), UserError);
      } else {
        CHECK(resolve_precision("bf16", "cpu", false) == "bf16");  // emulated: warned, but it runs
      }
    }
    setenv("ONEDNN_MAX_CPU_ISA", "AVX2", 1);
    CHECK(cpu_isa() == "avx2");
    setenv("ONEDNN_MAX_CPU_ISA", "ALL", 1);
    CHECK(cpu_isa() == best);
    if (saved.empty())
      unsetenv("ONEDNN_MAX_CPU_ISA");
    else
      setenv("ONEDNN_MAX_CPU_ISA", saved.c_str(), 1);
  }

  TEST_CASE("a run records the precision auto chose in summary.toml, and a resume keeps it") {
    Fixture f;
    RunOptions part = f.options("run", {"train.epochs=2"});
    part.stop_after = 1;
    CHECK_FALSE(run_graph(f.graph, part).complete);
    const std::string chosen = bf16_support("cpu") == Bf16::native ? "bf16" : "fp32";
    CHECK(RunDir(f.dir / "run").read_result().precision == chosen);
    CHECK(has(test::read_file(f.dir / "run" / "config.toml"), "precision = \"auto\""));  // as the graph says
    CHECK(has(f.log_of("run"), "precision: " + chosen + " (auto: bf16 is "));
    part.stop_after = 0;
    CHECK(run_graph(f.graph, part).complete);
    CHECK(has(f.log_of("run"), "precision: " + chosen + ", as the run being resumed trained"));
    CHECK(RunDir(f.dir / "run").read_result().precision == chosen);
  }
}
