#pragma once
// A stage's run directories read once for the report: per variant its runs (one per seed), its
// resolved configuration, and a label that says what the stage varies ("GELU", "[1,1,1]",
// "32-64-128-256") rather than a run id.
#include <functional>
#include <string>
#include <vector>

#include "engine/core/eval/paired.hpp"
#include "engine/core/report/decision.hpp"
#include "engine/core/report/report.hpp"
#include "engine/core/run_dir.hpp"
#include "engine/core/spec.hpp"

namespace engine::report {

struct LoadedVariant {
  const Variant* variant = nullptr;
  std::string label;
  std::vector<RunResult> runs;  // one per seed, in the variant's seed order
  Value config;                 // the first run's config.toml
};

struct LoadedStage {
  const StageSpec* spec = nullptr;
  std::vector<LoadedVariant> variants;
  StageDecision decision;
};

LoadedStage load_stage(const StageSpec& spec);

// The network a configuration builds, in the words of the assignment:
// "64-128-256, [2,2,2] blocks, ReLU, 7x7/s2 stem".
std::string describe_network(const Value& config);

// One label per variant: the [vars] values that differ between them ("GELU", "[1,1,1]",
// "32-64-128-256", "3x3/s1 stem"); the whole network for a single variant; the titles when no
// variable differs (e.g. an ablation of training settings).
std::vector<std::string> variant_labels(const std::vector<Value>& configs, const std::vector<std::string>& titles);

// Train accuracy at the best epoch: the eval-mode probe when the run has it, else the running one.
double train_acc_at_best(const RunResult& r);
bool has_train_probe(const RunResult& r);
// The median epoch time: one epoch slowed by other work on the machine does not move it.
double median_epoch_seconds(const RunResult& r);

// A figure of each run of a variant, as mean ± sd over its seeds.
eval::MeanSd over_seeds(const LoadedVariant& v, const std::function<double(const RunResult&)>& f);
// Train accuracy − best val accuracy at the best epoch, over seeds.
eval::MeanSd train_val_gap(const LoadedVariant& v);

}  // namespace engine::report
