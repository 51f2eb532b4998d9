#pragma once
// The report's computed sentences: the decision of a stage over its seeds, the answer to the
// question the stage asks (widths, depth, activation, stem), the ablation of the final recipe,
// and the final model's signs of overfitting. Nothing here is typed by hand: every figure and
// verdict comes from the runs.
#include <string>

#include "engine/core/report/stage_data.hpp"

namespace engine::report {

// "82.3 ± 1.1%" over seeds ("82.3%" for one), and the same in points.
std::string pm_percent(const eval::MeanSd& m);
std::string pm_points(const eval::MeanSd& m);
// "p = 0.118", "p < 0.001".
std::string p_text(double p);

// Who goes on and why: the leader by mean, the paired test, a tie to the cheaper variant.
std::string decision_sentence(const LoadedStage& s);

// The decision table: one row per variant (mean ± sd over seeds, the paired test against the
// leader, the verdict).
std::string decision_table(const LoadedStage& s);

// The answer to the stage's question, by what it varies; "" for a stage that only decides.
std::string stage_answer(const LoadedStage& s);

// Convergence, overfitting gap and epoch time of each variant, as bullet lines.
std::string stage_notes(const LoadedStage& s);

// An ablation stage: variants[0] is the recipe; a table of what removing each lever did.
std::string ablation_section(const LoadedStage& s);

// The final run's signs of overfitting (4.4): train (eval mode) − val at the best epoch, and
// where its val loss bottomed out.
std::string overfitting_sentence(const RunResult& run);

}  // namespace engine::report
