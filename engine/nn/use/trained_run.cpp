#include "engine/nn/use/trained_run.hpp"

#include "engine/core/sections.hpp"
#include "engine/nn/dataset/data.hpp"

namespace engine {

namespace fs = std::filesystem;

TrainedRun open_trained_run(const std::string& run_or_graph, const RunSource& source) {
  TrainedRun run;
  fs::path given(run_or_graph);
  if (fs::is_directory(given)) {
    if (!fs::exists(given / run_file::config))
      throw UserError(run_or_graph +
                      " is not a run directory (no config.toml); give a run directory such as "
                      "runs/<name>, or the graph file it was trained from");
    Value spec = RunDir(given).read_config();
    for (const auto& set : source.sets) apply_override(spec, set);
    LoadedGraph loaded = resolve_graph(std::move(spec));
    run.spec = std::move(loaded.spec);
    run.graph = std::move(loaded.graph);
    run.dir = given;
  } else {
    if (!fs::exists(given)) throw UserError(run_or_graph + ": no such run directory or graph file");
    LoadedGraph loaded = load_graph(given, source.sets);
    run.spec = std::move(loaded.spec);
    run.graph = std::move(loaded.graph);
    run.dir = source.out.empty() ? fs::path("runs") / run.graph.name : fs::path(source.out);
  }
  if (!fs::exists(run.dir / "best.pt"))
    throw UserError((run.dir / "best.pt").string() + ": no best checkpoint; train the graph first (engine run " +
                    (fs::is_directory(given) ? run.graph.name + "'s graph file" : run_or_graph) + ")");

  if (auto stored = read_run_data(run.dir)) {
    run.data = std::move(*stored);
  } else {  // trained before data.toml: what the loader computed then, computed again
    data::DataConfig dc =
        data_config(run.spec, source.data_root, run.graph.input, (run.dir.parent_path() / ".cache").string());
    if (!dc.mean.empty() && !dc.std.empty()) {
      data::DataFiles files = data::list_data(dc, data::TestSplit::Skip);
      run.data = RunData{files.wnids, files.names, dc.mean, dc.std};
    } else {
      data::LoadedData loaded = data::load_data(dc, data::TestSplit::Skip);
      run.data = RunData{loaded.wnids, loaded.names, loaded.mean, loaded.std};
    }
    run.note = run.dir.string() +
               " has no data.toml (trained before the runner wrote one): classes and mean/std "
               "recomputed from " +
               dc.root;
  }
  if (static_cast<int64_t>(run.data.wnids.size()) != run.graph.num_classes)
    throw UserError(run.dir.string() + ": the graph's head has " + std::to_string(run.graph.num_classes) +
                    " classes but the run's data has " + std::to_string(run.data.wnids.size()));
  return run;
}

}  // namespace engine
