#include "engine/nn/runner/artifacts.hpp"

#include "engine/kernels/vector_loops.hpp"

#include <spdlog/spdlog.h>

#include "engine/core/draw.hpp"
#include "engine/core/files.hpp"
#include "engine/core/info.hpp"
#include "engine/core/report/report.hpp"

namespace engine {

namespace fs = std::filesystem;

void write_model_files(const Prepared& p) {
  if (!fs::exists(p.dir / run_file::model))
    write_file_atomic(p.dir / run_file::model, layer_table(p.graph) + "\n" + model_text(*p.model) + "\n");
  if (fs::exists(p.dir / run_file::drawing)) return;
  try {
    draw_graph(p.graph, p.dir / run_file::drawing, false);
  } catch (const std::exception& e) {
    spdlog::warn("{} not drawn: {}", run_file::drawing, e.what());
  }
}

RunResult summary_start(const Prepared& p, const std::string& config_text) {
  RunResult s;
  s.name = p.graph.name;
  s.title = p.graph.title;
  s.graph = p.graph_file.string();
  s.params = p.graph.params;
  s.macs = p.graph.macs;
  s.epochs_planned = static_cast<int>(p.train.epochs);
  s.device = p.hw.name;
  s.threads = p.hw.threads;
  s.precision = p.train.precision;
  s.memory_format = p.hw.channels_last ? "channels_last" : "contiguous";
  s.conv_kernels = p.conv_kernels;
  s.kernels = p.train.kernels;
  s.cpu_isa = p.hw.device.is_cpu() ? cpu_isa() : "";
  s.loop_isa = p.hw.device.is_cpu() ? vec::loop_isa_name(vec::loop_isa()) : "";
  s.seed = static_cast<int64_t>(p.train.seed);
  s.engine_version = ENGINE_VERSION;
  s.config_hash = config_hash(config_text);
  // A resumed run's peak is the highest of all the processes that trained it.
  try {
    if (fs::exists(p.dir / run_file::summary)) {
      Value summary = read_toml(p.dir / run_file::summary);
      if (const Value* peak = summary.find("peak_rss_mb")) s.peak_rss_mb = peak->as_float("peak_rss_mb");
    }
  } catch (const UserError&) {  // unreadable: the next epoch rewrites it
  }
  return s;
}

void write_charts(const RunDir& dir, const RunResult& summary) {
  if (summary.history.empty()) return;
  try {
    report::training_curves(dir.path(), summary.history, summary.name);
  } catch (const std::exception& e) {
    spdlog::warn("charts not drawn: {}", e.what());
  }
}

}  // namespace engine
