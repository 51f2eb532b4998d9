#pragma once
// `engine run`: one runner for every graph. What [train] says is what happens.
#include <filesystem>
#include <string>
#include <vector>

#include "engine/dataset/batch_loader.hpp"
#include "engine/model.hpp"
#include "engine/runner/hardware.hpp"

namespace engine {

struct RunOptions {
  std::vector<std::string> sets;
  std::vector<std::filesystem::path> bases;  // replaces the graph's extends chain (see load_spec)  // --set overrides
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

struct EvalResult {
  double loss = 0, accuracy = 0;
  double compute_seconds = 0;  // in forward passes
  int64_t count = 0;
  std::vector<int64_t> predictions;  // when asked for, in loader order
};

// Mean loss and accuracy over one pass of `loader` in eval mode, without gradients.
EvalResult evaluate(GraphModule& model, data::BatchLoader& loader, const Hardware& hw, bool keep_predictions = false);

}  // namespace engine
