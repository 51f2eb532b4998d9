#pragma once
// The study's report: one Markdown file with its figures in a folder beside it. Every number,
// verdict and sentence in it is computed from the run directories (docs/report.md says how).
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "engine/core/report/decision.hpp"
#include "engine/core/run_dir.hpp"

namespace engine::report {

struct StageSpec {
  std::string name;               // e.g. "3.1" or "Baseline"
  std::string title;              // what the stage compares, e.g. "stage widths"
  std::vector<Variant> variants;  // each with one run directory per seed
  // Which computed answer the stage gets: "widths", "depth", "activation", "stem" or "" (the
  // decision alone). A stage whose `final` is set answers 4.4 (best configuration, overfitting).
  std::string varies = "";
  std::string question = "";  // the assignment's question, quoted above the answer
  bool ablation = false;      // variants[0] is the recipe; each other variant removes one lever
  bool final = false;         // its winner is the final model (tested)
  DecisionRule rule = {};
  // The runs of the variant the previous stage carried: this stage's variant that shares a run
  // directory with them is the incumbent, which a tie of equal cost goes to.
  std::vector<std::filesystem::path> carried = {};
};

// The stage decided from its run directories (decision.hpp), as the study and the report do it.
StageDecision decide_stage(const StageSpec& spec);

struct ReportOptions {
  std::string title = "Study report";
  // The study's log: its "[study] started <ISO time>" and "[study] ended <ISO time>" lines give
  // the wall time. Optional.
  std::filesystem::path study_log;
};

// Folder that holds the report's figures: <stem>_figures beside out_md (runs/report_figures/).
std::filesystem::path figures_dir(const std::filesystem::path& out_md);

// Writes out_md (e.g. runs/report.md) and its figures: the data, the summary table of every
// experiment, per stage its question, computed answer, decision over seeds and curves (seed
// means with their range), the ablation, and the final run's test results (copied from
// <final_run>/test/ so the report folder is self-contained). A run directory that cannot be
// read is an engine::UserError; a figure gnuplot cannot draw is logged and noted instead.
void write_report(const std::filesystem::path& out_md, const std::vector<StageSpec>& stages,
                  const std::optional<std::filesystem::path>& final_run, const ReportOptions& options = {});

// A run's own curves: <dir>/accuracy.png (train and val accuracy per epoch) and <dir>/loss.png,
// each with its .csv and .gp. For the runner, after each epoch or at the end.
void training_curves(const std::filesystem::path& dir, const std::vector<EpochRow>& history,
                     const std::string& run_name = "");

}  // namespace engine::report
