// Pins behaviour across refactors with files recorded from the engine before them
// (tests/regression/): a fixed-seed training run's metrics, a graph's per-node figures and
// every message of the bad-graph catalogue, all compared exactly.
#include <doctest/doctest.h>

#include "tests/support.hpp"

namespace fs = std::filesystem;

namespace {
fs::path regression_dir() { return test::source_dir() / "tests" / "regression"; }

// metrics.csv without the timing columns (seconds, img_per_s), which no two runs share.
std::string without_timings(const std::string& csv) {
  std::istringstream in(csv);
  std::string line, out;
  while (std::getline(in, line)) {
    size_t cut = 0;
    for (int commas = 0; commas < 6 && cut != std::string::npos; ++commas) cut = line.find(',', cut + 1);
    out += line.substr(0, cut) + "\n";
  }
  return out;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}
}  // namespace

TEST_SUITE("regression") {
  TEST_CASE("a fixed-seed 2-epoch run reproduces the recorded metrics.csv digit for digit") {
    test::TempDir dir;
    auto r = test::run_cli({"run", (regression_dir() / "small.toml").string(), "--run-dir", (dir / "run").string(),
                            "--data", test::data_dir().string()});
    REQUIRE(r.code == 0);
    CHECK(without_timings(test::read_file(dir / "run" / "metrics.csv")) ==
          test::read_file(regression_dir() / "expected-metrics.csv"));
  }

  TEST_CASE("the per-node shapes, parameter counts and MACs of the regression graph are unchanged") {
    auto r = test::run_cli({"info", (regression_dir() / "small.toml").string()});
    REQUIRE(r.code == 0);
    std::string table = test::read_file(regression_dir() / "layer-table.txt");
    CHECK(r.out.substr(0, table.size()) == table);
  }

  TEST_CASE("every message of the bad-graph catalogue is unchanged, word for word") {
    // One line per case: the file, a tab, what `engine check FILE` printed, run from the root.
    std::vector<std::string> expected = lines_of(test::read_file(regression_dir() / "bad-messages.txt"));
    REQUIRE(expected.size() >= 26);
    fs::path cwd = fs::current_path();
    fs::current_path(test::source_dir());
    for (const auto& line : expected) {
      std::string file = line.substr(0, line.find('\t'));
      auto r = test::run_cli({"check", file});
      CAPTURE(file);
      CHECK(r.code == 2);
      CHECK(r.out == line.substr(file.size() + 1) + "\n");
    }
    fs::current_path(cwd);
  }
}
