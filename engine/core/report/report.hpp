#pragma once
// The study's comparison report: one Markdown file with its figures in a folder beside it.
// Every number and conclusion in it is computed from the run directories (see docs/report.md).
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "engine/core/run_dir.hpp"

namespace engine::report {

struct StageSpec {
  std::string name;                         // e.g. "3.1" or "Baseline"
  std::string title;                        // what the stage compares, e.g. "width"
  std::vector<std::filesystem::path> runs;  // run directories (runs/<name>)
  std::string varies;                       // optional: "depth" words the gap trend "with depth"; else "with params"
};

struct ReportOptions {
  std::string title = "Study report";
  std::string decisions;  // Markdown of the stage decisions over seeds, placed after the summary
};

// Folder that holds the report's figures: <stem>_figures beside out_md (runs/report_figures/).
std::filesystem::path figures_dir(const std::filesystem::path& out_md);

// Writes out_md (e.g. runs/report.md) and its figures: summary table, per-stage curves and
// computed conclusions, and the final run's test results (copied from <final_run>/test/ so the
// report folder is self-contained). A run directory that cannot be read is an engine::UserError;
// a figure gnuplot cannot draw is logged and noted in the report instead.
void write_report(const std::filesystem::path& out_md, const std::vector<StageSpec>& stages,
                  const std::optional<std::filesystem::path>& final_run, const ReportOptions& options = {});

// A run's own curves: <dir>/accuracy.png (train and val accuracy per epoch) and <dir>/loss.png,
// each with its .csv and .gp. For the runner, after each epoch or at the end.
void training_curves(const std::filesystem::path& dir, const std::vector<EpochRow>& history,
                     const std::string& run_name = "");

}  // namespace engine::report
