// `engine study`: plan validation, winners feeding the next stage, skipping finished runs, report.
#include <doctest/doctest.h>

#include "engine/core/run_dir.hpp"
#include "engine/core/spec.hpp"
#include "engine/cli/study.hpp"
#include "tests/support.hpp"

using namespace engine;
namespace fs = std::filesystem;

TEST_SUITE("study") {
  TEST_CASE("a two-stage study picks winners, builds on them, skips finished runs and writes the report") {
    test::TempDir dir{"engine-study"};
    test::write_tiny_dataset(dir / "data");
    std::string base = test::tiny_graph("base");
    base.replace(base.find("epochs = 2"), 10, "epochs = 1");
    dir.write("base.toml", base);
    // Stage 1: widths (2 vs 16 channels: the wider one learns more in one epoch).
    dir.write("w-narrow.toml", "extends = \"base.toml\"\nname = \"w-narrow\"\n[vars]\nwidth = 2\n");
    dir.write("w-wide.toml", "extends = \"base.toml\"\nname = \"w-wide\"\n[vars]\nwidth = 16\n");
    // Stage 2: activations, on whichever width won (their own extends says base.toml).
    dir.write("a-elu.toml", "extends = \"base.toml\"\nname = \"a-elu\"\n[vars]\nact = \"elu\"\n");
    dir.write("a-gelu.toml", "extends = \"base.toml\"\nname = \"a-gelu\"\n[vars]\nact = \"gelu\"\n");
    auto study = dir.write("study.toml", R"(title = "Tiny study"
[[stages]]
name = "W"
title = "width"
graphs = ["w-narrow.toml", "w-wide.toml"]
[[stages]]
name = "A"
title = "activation"
graphs = ["a-elu.toml", "a-gelu.toml"]
extends = "winner"
final = true
)");
    StudyOptions o;
    o.data_root = (dir / "data").string();
    o.runs = (dir / "runs").string();
    o.dry_run = true;
    CHECK(run_study(study, o) == 0);
    CHECK_FALSE(fs::exists(dir / "runs" / "w-narrow"));

    o.dry_run = false;
    REQUIRE(run_study(study, o) == 0);
    auto narrow = RunDir(dir / "runs" / "w-narrow").read_result(), wide = RunDir(dir / "runs" / "w-wide").read_result();
    std::string winner = wide.best_val_acc > narrow.best_val_acc ||
                                 (wide.best_val_acc == narrow.best_val_acc && wide.params < narrow.params)
                             ? "16"
                             : "2";
    // Stage A's runs were built on the stage W winner's width.
    Value elu = parse_toml_file(dir / "runs" / "a-elu" / "config.toml");
    CHECK(elu.find("vars")->find("width")->repr() == winner);
    CHECK(elu.find("vars")->find("act")->s == "elu");
    CHECK(fs::exists(dir / "runs" / "report.md"));
    std::string md = test::read_file(dir / "runs" / "report.md");
    CHECK(md.find("w-wide") != std::string::npos);
    CHECK(md.find("a-gelu") != std::string::npos);
    bool tested = fs::exists(dir / "runs" / "a-elu" / "test" / "metrics.toml") ||
                  fs::exists(dir / "runs" / "a-gelu" / "test" / "metrics.toml");
    CHECK(tested);

    // Second time: every run is complete, nothing retrains.
    auto stamp = fs::last_write_time(dir / "runs" / "w-narrow" / "last.pt");
    REQUIRE(run_study(study, o) == 0);
    CHECK(fs::last_write_time(dir / "runs" / "w-narrow" / "last.pt") == stamp);
  }

  TEST_CASE("a typo anywhere in the study fails the dry run before any training") {
    test::TempDir dir{"engine-study"};
    dir.write("base.toml", test::tiny_graph("base"));
    dir.write("ok.toml", "extends = \"base.toml\"\n");
    dir.write("typo.toml", "extends = \"base.toml\"\n[vars]\nact = \"gleu\"\n");
    auto study = dir.write("study.toml",
                           "[[stages]]\nname = \"1\"\ngraphs = [\"ok.toml\"]\n[[stages]]\nname = \"2\"\ngraphs = [\"typo.toml\"]\n"
                           "extends = \"winner\"\n");
    StudyOptions o;
    o.dry_run = true;
    o.runs = (dir / "runs").string();
    CHECK_THROWS_WITH_AS(run_study(study, o), doctest::Contains("unknown op 'gleu'; did you mean 'gelu'?"), SpecError);
    auto missing = dir.write("missing.toml", "[[stages]]\nname = \"1\"\ngraphs = [\"nope.toml\"]\n");
    CHECK_THROWS_WITH_AS(load_study(missing), doctest::Contains("missing.toml:3:11: stages[0]: graph file 'nope.toml' not found"),
                         SpecError);
  }
}
