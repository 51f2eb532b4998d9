#pragma once
// What a run leaves for people beside its checkpoints and metrics: model.txt, the drawing, the
// summary and the charts. A drawing or a chart that cannot be made is a warning, not a failure.
#include <string>

#include "engine/core/run_dir.hpp"
#include "engine/nn/runner/prepare.hpp"

namespace engine {

// model.txt (layer table and print(model)) and architecture.svg, unless the run has them.
void write_model_files(const Prepared& p);

// The summary's fields known before training (graph, hardware, config); the rest follows from
// its history (update_from_history).
RunResult summary_start(const Prepared& p, const std::string& config_text);

// accuracy.png and loss.png of the epochs so far.
void write_charts(const RunDir& dir, const RunResult& summary);

}  // namespace engine
