#pragma once
// The torch layer as the commands see it (`engine run`, `engine info`'s print(model)):
// torch-free, so the command layer compiles without torch.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace engine {

struct Graph;

struct RunOptions {
  std::vector<std::string> sets;
  std::vector<std::filesystem::path> bases;  // replaces the graph's extends chain (see load_spec)
  std::string out;                // run directory (default runs/<name>)
  std::string data_root;          // --data (else ENGINE_DATA, else [data].root)
  bool fresh = false;             // start over; an existing run is moved aside
  int64_t stop_after = 0;         // train at most this many epochs now (0: to the end); rerun resumes
};

struct RunOutcome {
  std::filesystem::path dir;
  int64_t epochs_done = 0, epochs_planned = 0;
  double best_val_acc = 0;
  bool complete = false;
  bool was_complete = false;  // nothing to do: the run had already finished
  bool interrupted = false;   // Ctrl-C: the current epoch was dropped
};

RunOutcome run_graph(const std::filesystem::path& graph_file, const RunOptions& options);

// print(model) of the graph's module, as `engine info` and model.txt show it.
std::string printed_model(const Graph& g);

}  // namespace engine
