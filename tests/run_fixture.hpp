#pragma once
// A run in a temporary directory: the synthetic dataset, the tiny graph, and the options of a
// run directory beside them, as the runner, measures and plan suites use it. It includes the
// runner (torch), so only the suites in CMakeLists.txt's TORCH_TESTS include it.
#include <filesystem>
#include <string>
#include <vector>

#include "engine/nn/runner/run.hpp"
#include "tests/support.hpp"

namespace test {

struct TinyRun {
  TempDir dir;
  std::filesystem::path data = dir / "data";
  std::filesystem::path graph;
  explicit TinyRun(const std::string& tag) : dir(tag) {
    write_tiny_dataset(data);  // 54 train, 18 val images
    graph = dir.write("tiny.toml", tiny_graph("tiny"));
  }
  engine::RunOptions options(const std::string& out, std::vector<std::string> sets = {}) const {
    engine::RunOptions o;
    o.out = (dir / out).string();
    o.data_root = data.string();
    o.sets = std::move(sets);
    return o;
  }
};

}  // namespace test
