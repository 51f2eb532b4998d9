// `engine study`: plan validation, declared vs measured winners, seeds, deduplication, skipping
// finished runs, the report.
#include <doctest/doctest.h>

#include "engine/cli/study.hpp"
#include "engine/core/graph.hpp"
#include "engine/core/run_dir.hpp"
#include "engine/core/sections.hpp"
#include "engine/core/spec.hpp"
#include "tests/support.hpp"

using namespace engine;
namespace fs = std::filesystem;

TEST_SUITE("study") {
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

TEST_SUITE("study") {
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
      for (auto* l : {&ran, &written}) {
        l->erase(std::remove_if(l->begin(), l->end(), [&](const auto& kv) { return runtime(kv.first); }), l->end());
        std::sort(l->begin(), l->end());
      }
      CHECK(ran == written);
      ++compared;
    }
    CHECK(compared >= 10);
  }
}
