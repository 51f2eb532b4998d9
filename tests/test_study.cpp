// `engine study`: plan validation, declared vs measured winners, seeds, deduplication, skipping
// finished runs, the report.
#include <doctest/doctest.h>

#include <stdlib.h>

#include <algorithm>
#include <thread>

#include "engine/cli/jobs.hpp"
#include "engine/cli/study.hpp"
#include "engine/core/graph.hpp"
#include "engine/core/run_dir.hpp"
#include "engine/core/sections.hpp"
#include "engine/core/spec.hpp"
#include "tests/support.hpp"

using namespace engine;
namespace fs = std::filesystem;

TEST_SUITE("study") {
  TEST_CASE("--jobs puts runs side by side only with runs of about the same cost, costliest first") {
    auto jobs_of = [](const std::vector<Wave>& waves) {
      std::vector<std::vector<size_t>> out;
      for (const auto& w : waves) out.push_back(w.jobs);
      return out;
    };
    auto threads_of = [](const std::vector<Wave>& waves) {
      std::vector<int> out;
      for (const auto& w : waves) out.push_back(w.threads);
      return out;
    };
    using Groups = std::vector<std::vector<size_t>>;
    // Three equal runs on 2 cores: two side by side, the third alone on both cores (not on one).
    auto equal = plan_waves({5, 5, 5}, 2, 2);
    CHECK(jobs_of(equal) == Groups{{0, 1}, {2}});
    CHECK(threads_of(equal) == std::vector<int>{1, 2});
    // The Stem stage: 7x7 and 3x3 stems, 1:3.7 in MACs. One after the other, the 3x3 first.
    auto stem = plan_waves({114.49, 426.51}, 2, 2);
    CHECK(jobs_of(stem) == Groups{{1}, {0}});
    CHECK(threads_of(stem) == std::vector<int>{2, 2});
    // Three seeds of a deep and of a shallow graph: pairs of equals; the odd ones out alone.
    auto depth = plan_waves({58, 171, 58, 171, 58, 171}, 2, 2);
    CHECK(jobs_of(depth) == Groups{{1, 3}, {5}, {0, 2}, {4}});
    CHECK(threads_of(depth) == std::vector<int>{1, 2, 1, 2});
    // Within kBalance counts as equal; a wider --jobs fills a wave with all that are.
    auto near = plan_waves({100, 110, 160, 100}, 4, 8);
    CHECK(jobs_of(near) == Groups{{2}, {1, 0, 3}});
    CHECK(threads_of(near) == std::vector<int>{8, 2});
    // More jobs than cores: at least one thread each.
    CHECK(threads_of(plan_waves({1, 1, 1, 1}, 4, 2)) == std::vector<int>{1});
    CHECK(plan_waves({}, 2, 2).empty());
  }

  TEST_CASE(
      "graph files are what runs: a stage whose files extend another graph than the measured winner stops, "
      "--pin edits them, identical configs train once, a rerun retrains nothing") {
    test::TempDir dir{"engine-study"};
    test::write_tiny_dataset(dir / "data");
    std::string base = test::tiny_graph("base");
    base.replace(base.find("epochs = 2"), 10, "epochs = 1");
    dir.write("base.toml", base);
    // Stage W: widths; w-same is w-narrow under another name (one run, reported twice).
    dir.write("w-narrow.toml", "extends = \"base.toml\"\nname = \"w-narrow\"\n[vars]\nwidth = 2\n");
    dir.write("w-wide.toml", "extends = \"base.toml\"\nname = \"w-wide\"\n[vars]\nwidth = 16\n");
    dir.write("w-same.toml", "extends = \"w-narrow.toml\"\nname = \"w-same\"\n");
    // Stage A declares base.toml, which is not in stage W: whatever W measures, it disagrees.
    dir.write("a-elu.toml",
              "# Stage A, ELU.\nextends = \"base.toml\"  # the W winner\nname = \"a-elu\"\n[vars]\nact = \"elu\"\n");
    dir.write("a-gelu.toml", "extends = \"base.toml\"\nname = \"a-gelu\"\n[vars]\nact = \"gelu\"\n");
    auto study = dir.write("study.toml", R"(title = "Tiny study"
seeds = [0, 1]
[[stages]]
name = "W"
graphs = ["w-narrow.toml", "w-wide.toml", "w-same.toml"]
[[stages]]
name = "A"
graphs = ["a-elu.toml", "a-gelu.toml"]
extends = "winner"
final = true
seeds = [0]
)");
    StudyOptions o;
    o.data_root = (dir / "data").string();
    o.runs = (dir / "runs").string();
    o.dry_run = true;
    CHECK(run_study(study, o) == 0);
    CHECK_FALSE(fs::exists(dir / "runs" / "w-narrow-s0"));

    o.dry_run = false;
    std::ostringstream err;
    auto* old = std::cerr.rdbuf(err.rdbuf());
    int code = run_study(study, o);
    std::cerr.rdbuf(old);
    CHECK(code == 2);
    CAPTURE(err.str());
    CHECK(err.str().find("a-elu.toml:2:11: extends = \"base.toml\"  ->  extends = \"w-") != std::string::npos);
    CHECK(err.str().find("--pin") != std::string::npos);
    CHECK(fs::exists(dir / "runs" / "w-narrow-s1" / "metrics.csv"));
    CHECK(RunDir(dir / "runs" / "w-narrow-s1").read_config().find("train")->find("seed")->i == 1);
    CHECK_FALSE(fs::exists(dir / "runs" / "w-same-s0"));  // the same run as w-narrow
    CHECK_FALSE(fs::exists(dir / "runs" / "a-elu-s0"));

    o.pin = true;
    REQUIRE(run_study(study, o) == 0);
    std::string elu = test::read_file(dir / "a-elu.toml");
    CAPTURE(elu);
    CHECK(elu.find("# Stage A, ELU.\nextends = \"w-") == 0);
    CHECK(elu.find(".toml\"  # the W winner\nname = \"a-elu\"") != std::string::npos);
    // The file now resolves to exactly what ran.
    CHECK(to_toml(load_graph(dir / "a-elu.toml").spec) == to_toml(RunDir(dir / "runs" / "a-elu-s0").read_config()));
    std::string md = test::read_file(dir / "runs" / "report.md");
    CHECK(md.find("## Stage W") != std::string::npos);
    CHECK(md.find("w-same (same run as w-narrow)") != std::string::npos);
    bool tested = fs::exists(dir / "runs" / "a-elu-s0" / "test" / "metrics.toml") ||
                  fs::exists(dir / "runs" / "a-gelu-s0" / "test" / "metrics.toml");
    CHECK(tested);

    // Second time: every run is complete, nothing retrains, the files stay as they are.
    auto stamp = fs::last_write_time(dir / "runs" / "w-narrow-s0" / "last.pt");
    o.pin = false;
    REQUIRE(run_study(study, o) == 0);
    CHECK(fs::last_write_time(dir / "runs" / "w-narrow-s0" / "last.pt") == stamp);
    CHECK(test::read_file(dir / "a-elu.toml") == elu);
  }

  TEST_CASE("a typo anywhere in the study fails the dry run before any training") {
    test::TempDir dir{"engine-study"};
    dir.write("base.toml", test::tiny_graph("base"));
    dir.write("ok.toml", "extends = \"base.toml\"\n");
    dir.write("typo.toml", "extends = \"base.toml\"\n[vars]\nact = \"gleu\"\n");
    auto study = dir.write(
        "study.toml",
        "[[stages]]\nname = \"1\"\ngraphs = [\"ok.toml\"]\n[[stages]]\nname = \"2\"\ngraphs = [\"typo.toml\"]\n"
        "extends = \"winner\"\n");
    StudyOptions o;
    o.dry_run = true;
    o.runs = (dir / "runs").string();
    CHECK_THROWS_WITH_AS(run_study(study, o), doctest::Contains("unknown op 'gleu'; did you mean 'gelu'?"), SpecError);
    auto missing = dir.write("missing.toml", "[[stages]]\nname = \"1\"\ngraphs = [\"nope.toml\"]\n");
    CHECK_THROWS_WITH_AS(load_study(missing),
                         doctest::Contains("missing.toml:3:11: stages[0]: graph file 'nope.toml' not found"),
                         SpecError);
  }
}

namespace {
// Sets an environment variable for one scope.
struct EnvVar {
  std::string name;
  EnvVar(std::string n, const std::string& value) : name(std::move(n)) { ::setenv(name.c_str(), value.c_str(), 1); }
  ~EnvVar() { ::unsetenv(name.c_str()); }
};

// run_study with its stdout and stderr captured.
test::CliResult study_captured(const fs::path& study, const StudyOptions& o) {
  std::ostringstream out, err;
  auto* old_out = std::cout.rdbuf(out.rdbuf());
  auto* old_err = std::cerr.rdbuf(err.rdbuf());
  test::CliResult r;
  try {
    r.code = run_study(study, o);
  } catch (...) {
    std::cout.rdbuf(old_out), std::cerr.rdbuf(old_err);
    throw;
  }
  std::cout.rdbuf(old_out), std::cerr.rdbuf(old_err);
  r.out = out.str(), r.err = err.str();
  return r;
}
}  // namespace

TEST_SUITE("study") {
  TEST_CASE(
      "--jobs 2 trains a stage's distinct runs as engine run processes: the files --jobs 1 writes, whole metrics, "
      "threads recorded, a rerun retrains nothing") {
    test::TempDir dir{"engine-study-jobs"};
    test::write_tiny_dataset(dir / "data");
    dir.write("base.toml", test::tiny_graph("base"));  // 2 epochs
    dir.write("g-narrow.toml", "extends = \"base.toml\"\nname = \"g-narrow\"\n[vars]\nwidth = 4\n");
    dir.write("g-wide.toml", "extends = \"base.toml\"\nname = \"g-wide\"\n[vars]\nwidth = 16\n");
    dir.write("g-same.toml", "extends = \"g-narrow.toml\"\nname = \"g-same\"\n");  // g-narrow's runs
    auto study = dir.write("study.toml",
                           "seeds = [0, 1]\n[[stages]]\nname = \"G\"\ngraphs = [\"g-narrow.toml\", \"g-wide.toml\", "
                           "\"g-same.toml\"]\n");
    EnvVar exe{"ENGINE_EXE", ENGINE_BINARY};  // the jobs are this engine, not the test binary
    StudyOptions o;
    o.data_root = (dir / "data").string();
    o.runs = (dir / "runs-j2").string();
    o.jobs = 2;
    test::CliResult first = study_captured(study, o);
    CAPTURE(first.out);
    CAPTURE(first.err);
    REQUIRE(first.code == 0);
    CHECK(first.out.find("g-wide, seed 1: started (pid ") != std::string::npos);
    // 16 channels against 4: each width's two seeds side by side, the wide pair first.
    CHECK(first.out.find("(MACs x epochs): {g-wide, seed 0; g-wide, seed 1} {g-narrow, seed 0; g-narrow, seed 1}") !=
          std::string::npos);
    CHECK(first.out.find("g-wide, seed 1: done, exited with 0 after ") != std::string::npos);
    CHECK(first.out.find("g-same, seed") == std::string::npos);  // the same runs as g-narrow: not started
    CHECK_FALSE(fs::exists(dir / "runs-j2" / "g-same-s0"));
    CHECK(fs::exists(dir / "runs-j2" / "report.md"));

    o.runs = (dir / "runs-j1").string();
    o.jobs = 1;
    REQUIRE(study_captured(study, o).code == 0);

    const int threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / 2);
    for (std::string name : {"g-narrow", "g-wide"})
      for (int seed : {0, 1}) {
        const std::string run = name + "-s" + std::to_string(seed);
        CAPTURE(run);
        const RunDir j2(dir / "runs-j2" / run);
        CHECK(j2.read_metrics().size() == 2);
        CHECK(j2.read_result().complete);
        CHECK(j2.read_result().threads == threads);
        CHECK(test::read_file(j2 / "config.toml") == test::read_file(dir / "runs-j1" / run / "config.toml"));
        // `engine config FILE [--set train.seed=1]`: no thread count got into it.
        std::vector<std::string> sets;
        if (seed != 0) sets.push_back("train.seed=1");
        CHECK(to_toml(load_graph(dir / (name + ".toml"), sets).spec) == to_toml(j2.read_config()));
        CHECK(test::read_file(j2 / "study-job.log").find("epoch  2/2") != std::string::npos);
        CHECK(test::read_file(j2 / "train.log").find("epoch  2/2") != std::string::npos);
      }

    // A plain engine run of one of them takes the directory as its own, finished run.
    const fs::path wide = dir / "runs-j2" / "g-wide-s1";
    auto stamp = fs::last_write_time(wide / "last.pt");
    auto again = test::run_cli({"run", (dir / "g-wide.toml").string(), "--run-dir", wide.string(), "--set",
                                "train.seed=1", "--data", o.data_root});
    CHECK(again.code == 0);
    CHECK(fs::last_write_time(wide / "last.pt") == stamp);

    o.runs = (dir / "runs-j2").string();
    o.jobs = 2;
    test::CliResult rerun = study_captured(study, o);
    CAPTURE(rerun.out);
    REQUIRE(rerun.code == 0);
    CHECK(rerun.out.find(": started (pid") == std::string::npos);
    CHECK(rerun.out.find("g-narrow, seed 0: already complete") != std::string::npos);
    CHECK(fs::last_write_time(wide / "last.pt") == stamp);
  }

  TEST_CASE(
      "--jobs: a run that fails stops the study with its exit code, naming its log; --jobs with --nproc is refused") {
    test::TempDir dir{"engine-study-jobs"};
    test::write_tiny_dataset(dir / "data");  // 3 classes
    std::string base = test::tiny_graph("base");
    base.replace(base.find("epochs = 2"), 10, "epochs = 1");
    dir.write("base.toml", base);
    dir.write("ok.toml", "extends = \"base.toml\"\nname = \"ok\"\n");
    dir.write("bad.toml", "extends = \"base.toml\"\nname = \"bad\"\n[data]\nnum_classes = 4\n");
    auto study = dir.write("study.toml", "[[stages]]\nname = \"1\"\ngraphs = [\"bad.toml\", \"ok.toml\"]\n");
    EnvVar exe{"ENGINE_EXE", ENGINE_BINARY};
    StudyOptions o;
    o.data_root = (dir / "data").string();
    o.runs = (dir / "runs").string();
    o.jobs = 2;
    test::CliResult r = study_captured(study, o);
    CAPTURE(r.out);
    CAPTURE(r.err);
    CHECK(r.code == 2);
    const std::string log = (dir / "runs" / "bad-s0" / "study-job.log").string();
    CHECK(r.out.find("bad, seed 0: failed, exited with 2 after ") != std::string::npos);
    CHECK(r.err.find("bad, seed 0 (" + log + ") failed with exit 2") != std::string::npos);
    CHECK(test::read_file(log).find("fewer than data.num_classes = 4") != std::string::npos);
    CHECK(RunDir(dir / "runs" / "ok-s0").read_metrics().size() == 1);  // started beside it, and finished

    auto both = test::run_cli({"study", study.string(), "--jobs", "2", "--nproc", "2"});
    CHECK(both.code == 2);
    CHECK(both.err.find("error: --jobs runs several single-process runs side by side and --nproc") !=
          std::string::npos);
    auto none = test::run_cli({"study", study.string(), "--jobs", "0"});
    CHECK(none.code == 2);
    CHECK(none.err.find("--jobs") != std::string::npos);
  }

  TEST_CASE("graphs/study.toml: 5 seeds for stages 3.1-3.3, 3 for the final model, decided on the last 5 epochs") {
    const Study s = load_study(test::source_dir() / "graphs" / "study.toml");
    for (const auto& st : s.stages) {
      CAPTURE(st.name);
      if (st.name.rfind("3.", 0) == 0) CHECK(st.seeds == std::vector<int64_t>{0, 1, 2, 3, 4});
      if (st.final || st.ablation) CHECK(st.seeds == std::vector<int64_t>{0, 1, 2});
    }
    CHECK(s.rule.decide_on == "last5_mean");
    CHECK(s.rule.alpha == doctest::Approx(0.05));
    CHECK(s.rule.replicates == 10000);
  }

  TEST_CASE("the decision settings of a study file: defaults, and a typo named with its line") {
    test::TempDir dir{"engine-study-rule"};
    dir.write("base.toml", test::tiny_graph("base"));
    const std::string stages = "[[stages]]\nname = \"1\"\ngraphs = [\"base.toml\"]\n";
    const Study plain = load_study(dir.write("plain.toml", stages));
    CHECK(plain.rule.decide_on == "last5_mean");
    CHECK(plain.rule.bootstrap_seed == 0);
    const Study set = load_study(dir.write("set.toml", "decide_on = \"best_val\"\nbootstrap_seed = 7\n" + stages));
    CHECK(set.rule.decide_on == "best_val");
    CHECK(set.rule.bootstrap_seed == 7);
    CHECK_THROWS_WITH_AS(load_study(dir.write("typo.toml", "decide_on = \"last5_men\"\n" + stages)),
                         doctest::Contains("typo.toml:1:"), SpecError);
    CHECK_THROWS_WITH_AS(load_study(dir.write("alpha.toml", "alpha = 0.5\n" + stages)),
                         doctest::Contains("alpha.toml:1:"), SpecError);
  }

  TEST_CASE("every committed run is what its graph file resolves to (engine config graphs/X.toml)") {
    int compared = 0;
    for (const auto& e : fs::directory_iterator(test::source_dir() / "results" / "runs")) {
      std::string run = e.path().filename().string();
      fs::path graph = test::source_dir() / "graphs" / (run + ".toml");
      if (!fs::exists(e.path() / "config.toml")) continue;
      // A seed's run (X-s1) is graphs/X.toml with that train.seed.
      std::vector<std::string> sets;
      if (!fs::exists(graph)) {
        auto dash = run.rfind("-s");
        INFO(run, " has no graph file");
        REQUIRE(dash != std::string::npos);
        graph = test::source_dir() / "graphs" / (run.substr(0, dash) + ".toml");
        sets.push_back("train.seed=" + run.substr(dash + 2));
      }
      CAPTURE(run);
      // Keys added to the engine after the run have their defaults (as a resume reads them).
      Value config = RunDir(e.path()).read_config();
      complete_sections(config);
      auto ran = flatten(config), written = flatten(load_graph(graph, sets).spec);
      auto runtime = [](const std::string& key) {
        for (const auto& k : runtime_keys())
          if (k == key) return true;
        return false;
      };
      // precision "auto" is whatever the run resolved it to (it ran when bf16 was the default).
      const bool auto_precision = std::any_of(written.begin(), written.end(), [](const auto& kv) {
        return kv.first == "train.precision" && kv.second.find("auto") != std::string::npos;
      });
      for (auto* l : {&ran, &written}) {
        l->erase(std::remove_if(l->begin(), l->end(),
                                [&](const auto& kv) {
                                  return runtime(kv.first) || (auto_precision && kv.first == "train.precision");
                                }),
                 l->end());
        std::sort(l->begin(), l->end());
      }
      CHECK(ran == written);
      ++compared;
    }
    CHECK(compared >= 10);
  }
}
