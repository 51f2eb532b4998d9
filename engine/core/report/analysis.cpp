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

}  // namespace

std::optional<int> convergence_epoch(const std::vector<EpochRow>& history, double tolerance) {
  if (history.empty()) return std::nullopt;
  double best = 0;
  for (const auto& row : history) best = std::max(best, row.val_acc);
  for (const auto& row : history)
    if (row.val_acc >= best - tolerance - kTie) return row.epoch;
  return std::nullopt;  // unreachable: the best row itself qualifies
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

std::string join_words(const std::vector<std::string>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i)
    out += (i == 0 ? "" : i + 1 == items.size() ? " and " : ", ") + items[i];
  return out;
}

std::string cell(const std::string& text) {
  std::string out;
  for (char ch : text) {
    if (ch == '|') out += '\\';
    out += ch == '\n' ? ' ' : ch;
  }
  return out;
}

}  // namespace engine::report
