#include "engine/core/report/report.hpp"

#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <set>
#include <sstream>

#include "engine/core/error.hpp"
#include "engine/core/eval/metrics.hpp"
#include "engine/core/eval/plots.hpp"
#include "engine/core/files.hpp"
#include "engine/core/report/analysis.hpp"

namespace engine::report {
namespace fs = std::filesystem;

namespace {

// Table cells must not break the Markdown table.
std::string cell(const std::string& text) {
  std::string out;
  for (char ch : text) {
    if (ch == '|') out += '\\';
    out += ch == '\n' ? ' ' : ch;
  }
  return out;
}

// A file-name-safe version of a stage name ("3.1" stays "3.1").
std::string slug(const std::string& text) {
  std::string out;
  for (char ch : text) out += (std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-') ? ch : '_';
  return out.empty() ? "stage" : out;
}

// "a, b and c"
std::string join_words(const std::vector<std::string>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i)
    out += (i == 0 ? "" : i + 1 == items.size() ? " and " : ", ") + items[i];
  return out;
}

// Margin and noise in points, with one more decimal when one decimal would print them equal.
std::pair<std::string, std::string> points_pair(double a, double b) {
  if (format_points(a) != format_points(b)) return {format_points(a), format_points(b)};
  return {fmt::format("{:.2f} pt", a * 100), fmt::format("{:.2f} pt", b * 100)};
}

// Draws a chart; a failure (e.g. no gnuplot) becomes a note in the report, not a lost report.
std::string chart(const fs::path& png, const std::vector<eval::Series>& series, const eval::ChartOptions& options,
                  const std::string& link_dir) {
  try {
    eval::line_chart(png, series, options);
  } catch (const UserError& e) {
    spdlog::warn("report: {} not drawn: {}", png.filename().string(), e.what());
    return fmt::format("*({} not drawn: {})*\n", png.filename().string(), e.what());
  }
  return fmt::format("![{}]({}/{})\n", options.title, link_dir, png.filename().string());
}

std::vector<eval::Series> val_acc_series(const std::vector<RunResult>& runs) {
  std::vector<eval::Series> series;
  for (const auto& run : runs) {
    eval::Series s{run.name, {}, {}};
    for (const auto& row : run.history) {
      s.x.push_back(row.epoch);
      s.y.push_back(row.val_acc * 100);
    }
    series.push_back(std::move(s));
  }
  return series;
}

// Train loss dashed, val loss solid, one colour per run.
std::vector<eval::Series> loss_series(const std::vector<RunResult>& runs) {
  std::vector<eval::Series> series;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    eval::Series train{runs[i].name + " train", {}, {}, true, static_cast<int>(i)};
    eval::Series val{runs[i].name + " val", {}, {}, false, static_cast<int>(i)};
    for (const auto& row : runs[i].history) {
      train.x.push_back(row.epoch);
      train.y.push_back(row.train_loss);
      val.x.push_back(row.epoch);
      val.y.push_back(row.val_loss);
    }
    series.push_back(std::move(train));
    series.push_back(std::move(val));
  }
  return series;
}

std::string summary_row(const std::string& stage, const RunResult& run, bool winner) {
  std::string config = cell(run.title);
  if (!run.complete) config += fmt::format(" *(incomplete: {} of {} epochs)*", run.epochs, run.epochs_planned);
  return fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", cell(stage),
                     winner ? "**" + cell(run.name) + "**" : cell(run.name), config, format_params(run.params),
                     format_percent(run.best_val_acc), format_percent(run.train_acc_at_best),
                     format_points(run.train_acc_at_best - run.best_val_acc), run.best_epoch,
                     format_duration(run.epoch_seconds_mean));
}

// The bullet list of computed conclusions for one stage.
std::string stage_conclusions(const StageSpec& stage, const std::vector<RunResult>& runs, const StageFindings& f) {
  std::ostringstream out;
  const RunResult& w = runs[f.winner];
  if (!f.runner_up) {
    out << fmt::format("- Only one run, **{}**: {} best val accuracy (epoch {}); nothing to compare.\n", w.name,
                       format_percent(w.best_val_acc), w.best_epoch);
  } else {
    const RunResult& r = runs[*f.runner_up];
    const bool tie = f.margin <= 1e-9;
    if (tie)
      out << fmt::format(
          "- **Winner: {}** by the tie-break: it ties {} at {} best val accuracy and has fewer "
          "params ({} vs {}).\n",
          w.name, r.name, format_percent(w.best_val_acc), format_params(w.params), format_params(r.params));
    else
      out << fmt::format(
          "- **Winner: {}** with {} best val accuracy (epoch {}), {} ahead of the runner-up {} "
          "({}).\n",
          w.name, format_percent(w.best_val_acc), w.best_epoch, format_points(f.margin), r.name,
          format_percent(r.best_val_acc));
    const auto [margin, se] = points_pair(f.margin, f.standard_error);
    if (f.beyond_noise)
      out << fmt::format(
          "- Beyond noise (margin {} > 1 SE = {}, from {} val images): {} is ahead of every "
          "other variant by more than one standard error.\n",
          margin, se, w.val_size, w.name);
    else
      out << fmt::format(
          "- Within noise (margin {} {} 1 SE = {}, from {} val images): {} and {} are not "
          "distinguishable on this val set.\n",
          margin, f.margin < f.standard_error ? "<" : "=", se, w.val_size, w.name, r.name);
    std::vector<std::string> others;
    for (auto i : f.within_noise)
      if (i != *f.runner_up) others.push_back(runs[i].name);
    if (!others.empty()) out << fmt::format("- Also within one SE of the winner: {}.\n", join_words(others));
  }

  std::vector<std::string> items;
  for (std::size_t i = 0; i < runs.size(); ++i)
    items.push_back(f.convergence[i] ? fmt::format("{} epoch {} of {}", runs[i].name, *f.convergence[i],
                                                   runs[i].history.back().epoch)
                                     : runs[i].name + " no history");
  out << "- Convergence (first epoch within 1 pt of the run's best val accuracy): " << join_words(items) << ".\n";
  // A run whose best epoch is its last one may not have finished improving.
  items.clear();
  for (const auto& run : runs) {
    const auto& h = run.history;
    const auto best = std::max_element(h.begin(), h.end(), [](auto& a, auto& b) { return a.val_acc < b.val_acc; });
    if (h.size() > 1 && best == h.end() - 1) items.push_back(run.name);
  }
  if (!items.empty())
    out << "- Best val accuracy at the last epoch, so possibly still improving: " << join_words(items) << ".\n";

  // Gaps listed by params when that ordering means something, else in run order.
  std::vector<std::size_t> order(runs.size());
  std::iota(order.begin(), order.end(), 0);
  if (f.gap_trend != Trend::kNotApplicable)
    std::sort(order.begin(), order.end(), [&](auto a, auto b) { return runs[a].params < runs[b].params; });
  items.clear();
  for (auto i : order)
    items.push_back(fmt::format("{} ({}) {}", runs[i].name, format_params(runs[i].params), format_points(f.gap[i])));
  const std::string with = stage.varies == "depth" ? "depth (params)" : "params";
  std::string trend;
  switch (f.gap_trend) {
    case Trend::kIncreasing:
      trend = "; it grows monotonically with " + with;
      break;
    case Trend::kDecreasing:
      trend = "; it shrinks monotonically with " + with;
      break;
    case Trend::kMixed:
      trend = "; no monotonic trend with " + with;
      break;
    case Trend::kNotApplicable:
      break;
  }
  out << "- Overfitting gap (train − val accuracy at the best epoch): " << join_words(items) << trend << ".\n";

  items.clear();
  double stage_seconds = 0;
  for (const auto& run : runs) {
    items.push_back(fmt::format("{} {}", run.name, format_duration(run.epoch_seconds_mean)));
    stage_seconds += run.total_seconds;
  }
  out << "- Epoch time: " << join_words(items) << "; stage wall time " << format_duration(stage_seconds) << ".\n";
  for (const auto& run : runs)
    if (!run.complete)
      out << fmt::format("- Incomplete: {} stopped after {} of {} planned epochs.\n", run.name, run.epochs,
                         run.epochs_planned);
  return out.str();
}

bool copy_if_present(const fs::path& from, const fs::path& to) {
  if (!fs::is_regular_file(from)) return false;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
  return true;
}

std::string final_section(const fs::path& run_dir, const fs::path& fig_dir, const std::string& link_dir) {
  const RunDir dir(run_dir);
  const RunResult run = dir.read_result();
  std::ostringstream out;
  out << "## Final model: " << run.name << "\n\n" << fmt::format("{}; {} params", run.title, format_params(run.params));
  if (!run.graph.empty()) out << "; graph `" << run.graph << "`";
  out << ".\n\n";

  if (!dir.has_test_metrics()) {
    spdlog::warn("report: {} has no test results", run_dir.string());
    out << "*No test results in " << (dir / run_file::test_dir).string()
        << ": run `engine test` on this run first.*\n\n";
  } else {
    const auto file = dir.read_test_metrics();
    const auto& m = file.metrics;
    const double se = eval::accuracy_standard_error(m.accuracy, m.total);
    out << fmt::format(
        "- Test accuracy **{}** on {} images (1 SE = {}); best val accuracy was {} (epoch {}), "
        "so test is {} {}.\n",
        format_percent(m.accuracy), m.total, format_points(se), format_percent(run.best_val_acc), run.best_epoch,
        format_points(std::abs(m.accuracy - run.best_val_acc)), m.accuracy >= run.best_val_acc ? "higher" : "lower");
    out << fmt::format("- Macro F1 {:.3f}, weighted F1 {:.3f}.\n", m.macro.f1, m.weighted.f1);
    if (!m.classes.empty()) {
      std::size_t best = 0, worst = 0;
      for (std::size_t c = 1; c < m.classes.size(); ++c) {
        if (m.classes[c].f1 > m.classes[best].f1) best = c;
        if (m.classes[c].f1 < m.classes[worst].f1) worst = c;
      }
      out << fmt::format("- Best class by F1: {} ({:.3f}); worst: {} ({:.3f}).\n", file.labels[best].name,
                         m.classes[best].f1, file.labels[worst].name, m.classes[worst].f1);
    }
    if (dir.has_confusion()) {
      const auto confusion = dir.read_confusion();
      std::int64_t most = 0;
      std::size_t from = 0, to = 0;
      for (std::size_t r = 0; r < confusion.matrix.size(); ++r)
        for (std::size_t c = 0; c < confusion.matrix.size(); ++c)
          if (r != c && confusion.matrix[r][c] > most) most = confusion.matrix[r][c], from = r, to = c;
      if (most > 0) {
        const auto row_total =
            std::accumulate(confusion.matrix[from].begin(), confusion.matrix[from].end(), std::int64_t{0});
        out << fmt::format("- Most frequent confusion: {} predicted as {} ({} of {} test images of {}).\n",
                           confusion.class_names[from], confusion.class_names[to], most, row_total,
                           confusion.class_names[from]);
      }
    }
    out << "\n| Class | wnid | Precision | Recall | F1 | Support |\n|---|---|---:|---:|---:|---:|\n";
    for (std::size_t c = 0; c < m.classes.size(); ++c) {
      const auto& s = m.classes[c];
      out << fmt::format("| {} | {} | {:.3f} | {:.3f} | {:.3f} | {} |\n", cell(file.labels[c].name),
                         cell(file.labels[c].wnid), s.precision, s.recall, s.f1, s.support);
    }
    out << fmt::format("| macro avg | | {:.3f} | {:.3f} | {:.3f} | {} |\n", m.macro.precision, m.macro.recall,
                       m.macro.f1, m.total);
    out << fmt::format("| weighted avg | | {:.3f} | {:.3f} | {:.3f} | {} |\n\n", m.weighted.precision,
                       m.weighted.recall, m.weighted.f1, m.total);
  }
  const std::pair<const char*, const char*> figures[] = {{run_file::confusion_png, "Confusion matrix (test set)"},
                                                         {run_file::samples, "Test samples"}};
  for (const auto& [file, caption] : figures) {
    const std::string name = fs::path(file).filename().string();
    if (copy_if_present(dir / file, fig_dir / ("final-" + name)))
      out << fmt::format("![{}]({}/final-{})\n\n", caption, link_dir, name);
  }
  if (copy_if_present(dir / run_file::drawing, fig_dir / "final-architecture.svg"))
    out << fmt::format("![Architecture of {}]({}/final-architecture.svg)\n\n", run.name, link_dir);
  return out.str();
}

const char* const kMethod = R"(## How the conclusions are computed

- Winner: highest best val accuracy; a tie goes to the run with fewer params.
- Noise: one standard error of the winner's val accuracy, sqrt(p(1−p)/n) with n = val_size. A margin
  over the runner-up above 1 SE is "beyond noise", otherwise "within noise". (The SE of a difference
  of two accuracies is about √2 larger, so "beyond noise" is a lenient test.)
- Convergence epoch: the first epoch whose val accuracy is within 1 point of the run's best.
- Overfitting gap: train accuracy − val accuracy, both at the best-val epoch; its trend is checked
  over the runs ordered by params.
- Wall time: sum of each run's total_seconds.
)";

}  // namespace

fs::path figures_dir(const fs::path& out_md) { return out_md.parent_path() / (out_md.stem().string() + "_figures"); }

void write_report(const fs::path& out_md, const std::vector<StageSpec>& stages,
                  const std::optional<fs::path>& final_run, const ReportOptions& options) {
  // Read everything first: a bad run directory fails before anything is written.
  std::vector<std::vector<RunResult>> stage_runs;
  for (const auto& stage : stages) {
    if (stage.runs.empty()) throw UserError("report: stage '" + stage.name + "' has no runs");
    std::vector<RunResult> runs;
    for (const auto& dir : stage.runs) runs.push_back(RunDir(dir).read_result());
    stage_runs.push_back(std::move(runs));
  }
  std::vector<StageFindings> findings;
  for (const auto& runs : stage_runs) findings.push_back(analyze_stage(runs));

  const fs::path fig_dir = figures_dir(out_md);
  const std::string link_dir = fig_dir.filename().string();
  fs::create_directories(fig_dir);

  // Wall time counts each run directory once, even if it appears in two stages or is the final run.
  std::set<fs::path> seen;
  double total_seconds = 0;
  std::set<std::string> setups;
  for (const auto& runs : stage_runs)
    for (const auto& run : runs) {
      if (!seen.insert(fs::weakly_canonical(run.dir)).second) continue;
      total_seconds += run.total_seconds;
      if (!run.device.empty()) setups.insert(fmt::format("{}, {} threads, {}", run.device, run.threads, run.precision));
    }
  if (final_run && !seen.count(fs::weakly_canonical(*final_run))) {
    total_seconds += RunDir(*final_run).read_result().total_seconds;
    seen.insert(fs::weakly_canonical(*final_run));
  }

  std::ostringstream md;
  md << "# " << options.title << "\n\n"
     << fmt::format("{} runs in {} stages. Total wall time of the study: {} (sum of total_seconds).", seen.size(),
                    stages.size(), format_duration(total_seconds));
  if (setups.size() == 1) md << " All runs: " << *setups.begin() << ".";
  md << "\n\n## Summary\n\n"
     << "| Stage | Run | Configuration | Params | Best val acc | Train acc (same epoch) | Gap (train−val) | "
        "Best epoch | Epoch time |\n"
     << "|---|---|---|---:|---:|---:|---:|---:|---:|\n";
  for (std::size_t s = 0; s < stages.size(); ++s)
    for (std::size_t i = 0; i < stage_runs[s].size(); ++i)
      md << summary_row(stages[s].name, stage_runs[s][i], stages[s].runs.size() > 1 && i == findings[s].winner);
  if (options.decisions.empty()) {
    md << "\nBold: the stage's winner (best val accuracy, ties to fewer params).\n\n";
  } else {
    md << "\nRows: the first seed's run of each variant. The decisions use every seed:\n\n"
       << "## Decisions over seeds\n\n"
       << "Each variant is trained once per seed. Best val: the mean ± sd over seeds of the best val accuracy; "
          "the paired test is the exact McNemar test of the leader against each variant on the same val "
          "images, discordant pairs pooled over the seeds both ran. A difference not significant at 5 % is a "
          "tie, and a tie goes to the cheaper variant (fewer MACs, then fewer params, then the shorter epoch).\n\n"
       << options.decisions;
  }

  std::set<std::string> used_slugs;
  for (std::size_t s = 0; s < stages.size(); ++s) {
    const auto& stage = stages[s];
    md << "## Stage " << stage.name << (stage.title.empty() ? "" : ": " + stage.title) << "\n\n"
       << stage_conclusions(stage, stage_runs[s], findings[s]) << "\n";
    std::string base = "stage-" + slug(stage.name);
    for (int k = 2; !used_slugs.insert(base).second; ++k) base = "stage-" + slug(stage.name) + "-" + std::to_string(k);
    md << chart(fig_dir / (base + "-val_acc.png"), val_acc_series(stage_runs[s]),
                {"Stage " + stage.name + ": validation accuracy", "epoch", "val accuracy (%)"}, link_dir)
       << "\n"
       << chart(fig_dir / (base + "-loss.png"), loss_series(stage_runs[s]),
                {"Stage " + stage.name + ": loss (train dashed, val solid)", "epoch", "cross-entropy loss"}, link_dir)
       << "\n";
  }
  if (final_run) md << final_section(*final_run, fig_dir, link_dir);
  md << kMethod;

  write_file_atomic(out_md, md.str());
  spdlog::info("report: wrote {} ({} stages, figures in {})", out_md.string(), stages.size(), fig_dir.string());
}

void training_curves(const fs::path& dir, const std::vector<EpochRow>& history, const std::string& run_name) {
  eval::Series train_acc{"train", {}, {}, false, 0}, val_acc{"val", {}, {}, false, 1};
  eval::Series train_loss{"train", {}, {}, false, 0}, val_loss{"val", {}, {}, false, 1};
  for (const auto& row : history) {
    for (auto* s : {&train_acc, &val_acc, &train_loss, &val_loss}) s->x.push_back(row.epoch);
    train_acc.y.push_back(row.train_acc * 100);
    val_acc.y.push_back(row.val_acc * 100);
    train_loss.y.push_back(row.train_loss);
    val_loss.y.push_back(row.val_loss);
  }
  const std::string prefix = run_name.empty() ? "" : run_name + ": ";
  eval::line_chart(dir / "accuracy.png", {train_acc, val_acc}, {prefix + "accuracy", "epoch", "accuracy (%)"});
  eval::line_chart(dir / "loss.png", {train_loss, val_loss}, {prefix + "loss", "epoch", "cross-entropy loss"});
}

}  // namespace engine::report
