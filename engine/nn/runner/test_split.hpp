#pragma once
// `engine test`: evaluates a trained run's best checkpoint on the test split (the official
// val images of the chosen classes) and writes runs/<name>/test/.
#include <filesystem>
#include <string>
#include <vector>

namespace engine {

struct TestOptions {
  std::vector<std::string> sets;
  std::vector<std::filesystem::path> bases;  // replaces the graph's extends chain (see load_spec)
  std::string out;        // the run directory (default runs/<name>)
  std::string data_root;  // --data
  int samples = 10;       // test images drawn in samples.png
};

struct TestOutcome {
  std::filesystem::path dir;  // <run>/test
  double accuracy = 0;
  std::string report;         // the per-class table
};

TestOutcome test_graph(const std::filesystem::path& graph_file, const TestOptions& options);

}  // namespace engine
