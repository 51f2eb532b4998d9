#pragma once
// Convergence of a run, and the number and text formats the report uses.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/core/run_dir.hpp"

namespace engine::report {

// First epoch whose val accuracy is within `tolerance` (a fraction: 0.01 = 1 point) of the run's
// best val accuracy in metrics.csv; nullopt when the history is empty.
std::optional<int> convergence_epoch(const std::vector<EpochRow>& history, double tolerance = 0.01);

// Formats: 2.80M (params), 78.4% (fraction as percent), 1.6 pt (fraction as points),
// 41.3 s / 2 min 05 s / 1 h 07 min (durations).
std::string format_params(std::int64_t params);
std::string format_percent(double fraction);
std::string format_points(double fraction);
std::string format_duration(double seconds);

// "a, b and c".
std::string join_words(const std::vector<std::string>& items);
// Text for a Markdown table cell: a '|' escaped, a newline a space, so the row stays one row.
std::string cell(const std::string& text);

}  // namespace engine::report
