#pragma once
// A trained run as the commands that use it see it (engine predict, engine export): found
// from a run directory or a graph file, with its graph and the classes and normalisation it
// was trained with. Torch-free: the command layer includes it.
#include <filesystem>
#include <string>
#include <vector>

#include "engine/core/graph.hpp"
#include "engine/core/run_dir.hpp"

namespace engine {

struct RunSource {
  std::vector<std::string> sets;  // --set, applied to the graph (or to a run's config.toml)
  std::string out;                // a graph file's run directory (default runs/<name>)
  std::string data_root;          // --data: read only for runs trained before data.toml existed
};

struct TrainedRun {
  std::filesystem::path dir;  // holds config.toml and best.pt
  Value spec;                 // completed
  Graph graph;
  RunData data;
  std::string note;  // set when `data` was recomputed from the dataset (an older run)
};

// `run_or_graph` is a run directory (config.toml + best.pt) or a graph file whose run
// directory is source.out or runs/<name>. data.toml gives the classes and mean/std; a run
// without it gets them from the dataset exactly as its loader did (train-split statistics
// unless [data].mean/std are set). UserError when there is no best.pt.
TrainedRun open_trained_run(const std::string& run_or_graph, const RunSource& source);

}  // namespace engine
