#pragma once
// How a study stage is decided, from files (docs/study.md says it in words):
// - each variant's seeds summarised by the decision statistic the study names (decide_on: the
//   mean val accuracy of the last 5 epochs by default, no max over a noisy curve), and by the
//   best epoch as a labelled figure;
// - the leader: the highest mean statistic;
// - every other variant against the leader: a hierarchical paired bootstrap (seeds, then the
//   shared val images) of the mean difference, Holm-corrected within the stage; per-seed exact
//   McNemar tests stay as detail;
// - the winner: among the leader and the variants not significantly different from it, fewer
//   MACs, then fewer params, then the incumbent (the variant the previous stage carried). Epoch
//   time never decides: it is not timed interleaved, and timings of separate runs drift more
//   than the differences between variants of one cost.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "engine/core/eval/bootstrap.hpp"
#include "engine/core/eval/paired.hpp"
#include "engine/core/run_dir.hpp"

namespace engine::report {

// The study's choice of statistic and test (graphs/study.toml: decide_on, alpha, bootstrap_*).
struct DecisionRule {
  std::string decide_on = "last5_mean";  // "last5_mean" or "best_val" (the max over epochs)
  double alpha = 0.05;                   // family-wise, over the comparisons of one stage
  int64_t replicates = 10000;
  uint64_t bootstrap_seed = 0;
};
inline const std::vector<std::string> kDecisionStatistics{"last5_mean", "best_val"};

// The statistic of one run; "best_val" is biased upward by the max over epochs.
double decision_statistic(const RunResult& run, const std::string& decide_on);
// "mean val accuracy of the last 5 epochs", for the report's sentences.
std::string statistic_words(const std::string& decide_on);

// One graph file of a stage and its runs, one per seed.
struct Variant {
  std::filesystem::path graph;
  std::string name, title;
  std::vector<int64_t> seeds;
  std::vector<std::filesystem::path> runs;  // run directory per seed
  std::string same_as;                      // name of the earlier variant whose runs these are, or ""
};

// One seed both variants ran: this − reference in the statistic, and the exact McNemar test on
// its val images (at the best epoch, the predictions the run keeps).
struct SeedComparison {
  int64_t seed = 0;
  double difference = 0;
  eval::Discordant pairs;  // a_only: only the reference right; b_only: only this one
  double mcnemar_p = 1;
};

// A variant against the stage's reference (the leader; an ablation's recipe).
struct Comparison {
  std::vector<SeedComparison> seeds;
  double difference = 0;              // mean over the seeds of this − reference, in the statistic
  eval::Bootstrap::Interval ci95;     // the bootstrap's 95 % interval, before any correction
  double holm_level = 0.95;           // the level Holm tests this comparison at
  eval::Bootstrap::Interval ci_holm;  // the interval at that level: significant needs it to exclude 0
  double p = 1, p_holm = 1;           // bootstrap p-value, and Holm-adjusted
  bool significant = false;
};

struct VariantStats {
  eval::MeanSd statistic;            // decide_on, over seeds
  eval::MeanSd best_val, last5_val;  // fractions, over seeds
  int64_t params = 0, macs = 0;
  double epoch_seconds = 0;  // mean over seeds; shown, never decides
  // Against the reference (unset for it, and when a run lacks val_predictions.csv or no seed is shared).
  std::optional<Comparison> vs_leader;
  bool tied = false;  // the reference, or not significantly different from it
};

// Why the winner is not the leader (or "" when it is).
enum class TieBreak { none, macs, params, incumbent };

struct StageDecision {
  DecisionRule rule;
  std::vector<VariantStats> stats;  // per variant, in the stage's order
  size_t leader = 0, winner = 0;
  std::optional<size_t> incumbent;  // the variant whose runs the previous stage carried
  TieBreak tie_break = TieBreak::none;
};

// results[k][j] is variants[k].runs[j]. `carried`: the runs of the previous stage's winner; the
// variant of this stage that shares a run directory with them is the incumbent. With `ablation`, variants[0] is the
// reference and the winner (the recipe), and every other variant is compared with it.
StageDecision decide_stage(const std::vector<Variant>& variants, const std::vector<std::vector<RunResult>>& results,
                           const DecisionRule& rule = {}, const std::vector<std::filesystem::path>& carried = {},
                           bool ablation = false);

// Mean val accuracy of the last `n` epochs of a run (fewer when it has fewer).
double last_epochs_mean(const std::vector<EpochRow>& history, size_t n = 5);

}  // namespace engine::report
