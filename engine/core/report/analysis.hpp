#pragma once
// The conclusions of the comparison report, computed from run results (never written by hand),
// and the number formats the report uses.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/core/run_dir.hpp"

namespace engine::report {

// Index of the run with the best val accuracy; ties (within 1e-9) go to fewer params, then to the
// earlier run. The study uses it to choose which graph the next stage extends.
// An empty list is an engine::UserError.
std::size_t pick_winner(const std::vector<RunResult>& runs);

// First epoch whose val accuracy is within `tolerance` (a fraction: 0.01 = 1 point) of the run's
// best val accuracy in metrics.csv; nullopt when the history is empty.
std::optional<int> convergence_epoch(const std::vector<EpochRow>& history, double tolerance = 0.01);

// How one number changes across runs ordered by params.
enum class Trend {
  kNotApplicable,  // fewer than two runs, or two runs share a param count
  kIncreasing,     // strictly grows with params
  kDecreasing,     // strictly shrinks with params
  kMixed,          // neither
};

struct StageFindings {
  std::size_t winner = 0;
  std::optional<std::size_t> runner_up;         // second-best by the same ordering
  double margin = 0;                            // winner's best val acc − runner-up's, as a fraction
  double standard_error = 0;                    // sqrt(p(1-p)/n), p = winner's best val acc, n = its val_size
  bool beyond_noise = false;                    // margin > one standard error
  std::vector<std::size_t> within_noise;        // other runs whose best is within one SE of the winner
  std::vector<std::optional<int>> convergence;  // per run, see convergence_epoch
  std::vector<double> gap;                      // per run: train acc − val acc at the best epoch
  Trend gap_trend = Trend::kNotApplicable;      // gap vs params
};

StageFindings analyze_stage(const std::vector<RunResult>& runs);

// Formats: 2.80M (params), 78.4% (fraction as percent), 1.6 pt (fraction as points),
// 41.3 s / 2 min 05 s / 1 h 07 min (durations).
std::string format_params(std::int64_t params);
std::string format_percent(double fraction);
std::string format_points(double fraction);
std::string format_duration(double seconds);

}  // namespace engine::report
