#pragma once
// The torch layer as the commands see it (`engine run`, `engine test`, `engine study`, and
// `engine info`'s print(model)): torch-free, so the command layer compiles without torch.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/core/run_dir.hpp"  // TtaAccuracy

namespace engine {

struct Graph;

// What run and test both start from: the graph, how it is resolved, where its run lives, the data.
struct RunInputs {
  std::vector<std::string> sets;
  std::vector<std::filesystem::path> bases;  // replaces the graph's extends chain (see load_spec)
  std::string out;                           // run directory (default <runs>/<name>)
  std::string runs = "runs";                 // where run directories go when `out` is empty
  std::string data_root;                     // --data (else ENGINE_DATA, else [data].root)
};

struct RunOptions : RunInputs {
  bool fresh = false;      // start over; an existing run is moved aside
  int64_t stop_after = 0;  // train at most this many epochs now (0: to the end); rerun resumes
};

struct RunOutcome {
  std::filesystem::path dir;
  int64_t epochs_done = 0, epochs_planned = 0;
  double best_val_acc = 0;
  bool complete = false;
  bool was_complete = false;  // nothing to do: the run had already finished
  bool interrupted = false;   // Ctrl-C: the current epoch was dropped
};

// Threads for run, test and time in place of train.threads, from the environment: `engine study
// --jobs` sets it for the runs it starts side by side. config.toml keeps the graph's value.
inline constexpr const char* kThreadsEnv = "ENGINE_THREADS";

// `engine run`: one runner for every graph. What [train] says is what happens.
RunOutcome run_graph(const std::filesystem::path& graph_file, const RunOptions& options);

struct TestOptions : RunInputs {
  int samples = 10;  // test images drawn in samples.png
  bool tta = false;  // report flip TTA (as [train].test_tta = true does)
};

struct TestOutcome {
  std::filesystem::path dir;  // <run>/test
  double accuracy = 0;        // the reported one: with flip TTA when tta.used
  std::string report;         // the per-class table
  TtaAccuracy tta;            // both accuracies, from the same pass
};

// `engine test`: evaluates a trained run's best checkpoint on the test split (the official val
// images of the chosen classes) and writes <run>/test/.
TestOutcome test_graph(const std::filesystem::path& graph_file, const TestOptions& options);

// `engine time`: where a training step's time goes, node by node (Caffe's `caffe time`).
struct TimeOptions : RunInputs {
  int64_t batch = 0;    // images per step (0: train.batch_size)
  int iterations = 10;  // timed steps, after 2 untimed ones
  std::string device;   // overrides train.device ("cpu", "cuda", "auto")
};

struct NodeTime {
  std::string name, op, shape;
  int64_t macs = 0;                        // per image, from the validator
  double forward_ms = 0, backward_ms = 0;  // per step
};

struct TimeOutcome {
  std::vector<NodeTime> nodes;  // leaves in execution order, then "loss"
  int64_t batch = 0;
  std::string memory_format;  // of the figures above: "channels_last" or "contiguous"
  double step_ms = 0;         // the real training step: forward, loss, backward, optimiser
  double eval_ms = 0;         // a forward pass in eval mode without gradients
  double train_img_s = 0, eval_img_s = 0;
  // memory_format = "auto" on the CPU: both formats timed, the faster step's figures above.
  std::vector<TimeOutcome> formats;
  std::string text;  // the report `engine time` prints
};

// Times `graph_file` on a synthetic batch at the run's device, precision and memory format;
// "auto" on the CPU times both formats, the choice engine run's plan measures, node by node.
// Nothing is read from or written to a run directory, and no data is needed.
TimeOutcome time_graph(const std::filesystem::path& graph_file, const TimeOptions& options);

// The run directory of the graph named `name`: inputs.out, else <inputs.runs>/<name>.
std::filesystem::path run_dir_of(const std::string& name, const RunInputs& inputs);

// print(model) of the graph's module, as `engine info` and model.txt show it.
std::string printed_model(const Graph& g);

}  // namespace engine
