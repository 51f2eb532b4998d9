#pragma once
// Step one of run, test and study: a graph file resolved into its config and run directory,
// then the hardware and model, then the data. The loop and the artifacts start from here.
#include <filesystem>
#include <map>
#include <string>

#include <torch/torch.h>

#include "engine/core/graph.hpp"
#include "engine/core/run_dir.hpp"
#include "engine/core/sections.hpp"
#include "engine/nn/dataset/batch_loader.hpp"
#include "engine/nn/dataset/data.hpp"
#include "engine/nn/model.hpp"
#include "engine/nn/runner/hardware.hpp"
#include "engine/nn/runner/run.hpp"

namespace engine {

namespace dist {
class ProcessGroup;
}

struct Prepared {
  std::filesystem::path graph_file;
  Value spec;  // resolved and completed: what config.toml records
  Graph graph;
  TrainConfig train;
  RunDir dir{""};
  Hardware hw;                 // prepare_model
  GraphModule model{nullptr};  // prepare_model
  data::DataConfig dataset;    // prepare_data: [data] with its root resolved
  data::LoadedData data;       // prepare_data
  // The plan (runner/plan.hpp): convolution shape -> the kernel conv2d takes, as measured.
  std::map<std::string, std::string> conv_kernels;
  dist::ProcessGroup* group = nullptr;  // join_ranks: set when this process is one of several ranks
  bool root() const;                    // rank 0, or the only process: the one that writes files
  KernelSettings kernels() const;       // [train].kernels with the plan's choices
};

// [train].precision and kernels as this run takes them (p.train; config.toml keeps what the graph
// says, summary.toml records these). "auto" precision becomes bf16 or fp32 (resolve_precision),
// or what the run being resumed trained in; ENGINE_KERNELS overrides [train].kernels, and a
// resumed run keeps the kernels it recorded. `fresh`: the directory's old run is not resumed.
void resolve_run_settings(Prepared& p, bool fresh);

// Joins the process group when a launcher started this process as a rank (engine/nn/dist/).
void join_ranks(Prepared& p);

// The completed spec, its graph, [train] and the run directory; nothing on disk is touched.
Prepared resolve(const std::filesystem::path& graph_file, const RunInputs& inputs);

// train.threads from the environment of a process started beside others (ENGINE_THREADS from
// `engine study --jobs`, ENGINE_RANK_THREADS from `--nproc`, else the launcher's share: see
// dist::launcher_threads); prepare_model applies it, and so
// must anything that runs steps before it (the memory-format plan).
void apply_thread_env(Prepared& p);

// The device, and the graph's module on it with the seed's initial weights.
void prepare_model(Prepared& p);

// Loads the data (the test split only when asked for); its classes must match the graph's head.
void prepare_data(Prepared& p, const RunInputs& inputs, data::TestSplit test);

// Loaders on the model's device: shuffled and augmented per epoch, or in split order.
data::BatchLoader train_loader(const Prepared& p);
data::BatchLoader eval_loader(const Prepared& p, const data::Split& split);

}  // namespace engine
