#include "engine/core/report/analysis.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "engine/core/error.hpp"
#include "engine/core/eval/metrics.hpp"

namespace engine::report {

namespace {
constexpr double kTie = 1e-9;  // accuracies are ratios of counts: closer than this is equal

// True when a ranks before b: higher best val acc, then fewer params.
bool ranks_before(const RunResult& a, const RunResult& b) {
  if (std::abs(a.best_val_acc - b.best_val_acc) > kTie) return a.best_val_acc > b.best_val_acc;
  return a.params < b.params;
}
}  // namespace

std::size_t pick_winner(const std::vector<RunResult>& runs) {
  if (runs.empty()) throw UserError("pick_winner: no runs to choose from");
  std::size_t best = 0;
  for (std::size_t i = 1; i < runs.size(); ++i)
    if (ranks_before(runs[i], runs[best])) best = i;  // strict: the earlier run keeps a full tie
  return best;
}

std::optional<int> convergence_epoch(const std::vector<EpochRow>& history, double tolerance) {
  if (history.empty()) return std::nullopt;
  double best = 0;
  for (const auto& row : history) best = std::max(best, row.val_acc);
  for (const auto& row : history)
    if (row.val_acc >= best - tolerance - kTie) return row.epoch;
  return std::nullopt;  // unreachable: the best row itself qualifies
}

StageFindings analyze_stage(const std::vector<RunResult>& runs) {
  StageFindings f;
  f.winner = pick_winner(runs);
  const RunResult& winner = runs[f.winner];
  f.standard_error = eval::accuracy_standard_error(winner.best_val_acc, winner.val_size);

  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (i == f.winner) continue;
    if (!f.runner_up || ranks_before(runs[i], runs[*f.runner_up])) f.runner_up = i;
    if (winner.best_val_acc - runs[i].best_val_acc <= f.standard_error) f.within_noise.push_back(i);
  }
  if (f.runner_up) {
    f.margin = winner.best_val_acc - runs[*f.runner_up].best_val_acc;
    f.beyond_noise = f.margin > f.standard_error;
  }

  for (const auto& run : runs) {
    f.convergence.push_back(convergence_epoch(run.history));
    f.gap.push_back(run.train_acc_at_best - run.best_val_acc);
  }

  // Gap trend with model size: only meaningful when every run has its own param count.
  std::vector<std::size_t> by_params(runs.size());
  std::iota(by_params.begin(), by_params.end(), 0);
  std::sort(by_params.begin(), by_params.end(),
            [&](std::size_t a, std::size_t b) { return runs[a].params < runs[b].params; });
  bool distinct = runs.size() >= 2, up = true, down = true;
  for (std::size_t k = 1; k < by_params.size(); ++k) {
    const auto prev = by_params[k - 1], cur = by_params[k];
    distinct = distinct && runs[prev].params != runs[cur].params;
    up = up && f.gap[cur] > f.gap[prev];
    down = down && f.gap[cur] < f.gap[prev];
  }
  f.gap_trend = !distinct ? Trend::kNotApplicable : up ? Trend::kIncreasing : down ? Trend::kDecreasing : Trend::kMixed;
  return f;
}

std::string format_params(std::int64_t params) {
  char buf[32];
  if (params >= 100'000)
    std::snprintf(buf, sizeof buf, "%.2fM", params / 1e6);
  else if (params >= 1'000)
    std::snprintf(buf, sizeof buf, "%.1fK", params / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(params));
  return buf;
}

std::string format_percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", fraction * 100);
  return buf;
}

std::string format_points(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f pt", fraction * 100);
  return buf;
}

std::string format_duration(double seconds) {
  char buf[48];
  const long s = std::lround(seconds);
  if (seconds < 59.95)
    std::snprintf(buf, sizeof buf, "%.1f s", seconds);
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%ld min %02ld s", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld h %02ld min", std::lround(seconds / 60) / 60, std::lround(seconds / 60) % 60);
  return buf;
}

}  // namespace engine::report
