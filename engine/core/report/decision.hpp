#pragma once
// How a study stage is decided, from files: each variant's seeds summarised (mean ± sd of the
// best val accuracy and of the mean of its last five epochs), the leader by mean, an exact
// McNemar test of the leader against every other variant on the same val images (discordant
// pairs pooled over the seeds both ran), and the winner: the cheapest variant the test cannot
// tell from the leader at 5 % (fewer MACs, then fewer params, then the shorter epoch).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "engine/core/eval/paired.hpp"
#include "engine/core/run_dir.hpp"

namespace engine::report {

inline constexpr double kSignificance = 0.05;

// One graph file of a stage and its runs, one per seed.
struct Variant {
  std::filesystem::path graph;
  std::string name, title;
  std::vector<int64_t> seeds;
  std::vector<std::filesystem::path> runs;  // run directory per seed
  std::string same_as;                      // name of the earlier variant whose runs these are, or ""
};

struct VariantStats {
  eval::MeanSd best_val, last5_val;  // fractions, over seeds
  int64_t params = 0, macs = 0;
  double epoch_seconds = 0;  // mean over seeds
  // Against the leader (unset for the leader itself, and when a run lacks val_predictions.csv).
  std::optional<eval::Discordant> vs_leader;  // a_only: leader right only; b_only: this one only
  std::optional<double> p_value;
  bool tied = false;  // the leader, or not significantly different from it
};

struct StageDecision {
  std::vector<VariantStats> stats;  // per variant, in the stage's order
  size_t leader = 0, winner = 0;
};

StageDecision decide_stage(const std::vector<Variant>& variants);
// The same from the runs already read: results[k][j] is variants[k].runs[j].
StageDecision decide_stage(const std::vector<Variant>& variants, const std::vector<std::vector<RunResult>>& results);

// Discordant pairs of `a` and `b` on the same val images (a_only: only a right), pooled over
// the seeds both ran; nullopt when any of those runs lacks val_predictions.csv.
std::optional<eval::Discordant> paired(const Variant& a, const Variant& b);

// Mean val accuracy of the last `n` epochs of a run (fewer when it has fewer).
double last_epochs_mean(const std::vector<EpochRow>& history, size_t n = 5);

}  // namespace engine::report
