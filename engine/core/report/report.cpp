#include "engine/core/report/report.hpp"

#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <iomanip>
#include <map>
#include <numeric>
#include <set>
#include <sstream>

#include "engine/core/error.hpp"
#include "engine/core/eval/metrics.hpp"
#include "engine/core/eval/plots.hpp"
#include "engine/core/files.hpp"
#include "engine/core/report/analysis.hpp"
#include "engine/core/report/answers.hpp"
#include "engine/core/report/stage_data.hpp"

namespace engine::report {
namespace fs = std::filesystem;

namespace {

// A file-name-safe version of a stage name ("3.1" stays "3.1").
std::string slug(const std::string& text) {
  std::string out;
  for (char ch : text) out += (std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-') ? ch : '_';
  return out.empty() ? "stage" : out;
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

// Seed means per epoch of one figure, with the range over seeds as the band.
eval::Series seed_mean(const LoadedVariant& v, const std::string& name, bool dashed, int color, bool band,
                       const std::function<std::optional<double>(const EpochRow&)>& f) {
  std::map<int, std::vector<double>> by_epoch;
  for (const auto& r : v.runs)
    for (const auto& row : r.history)
      if (auto y = f(row)) by_epoch[row.epoch].push_back(*y);
  eval::Series s{name, {}, {}, dashed, color, {}, {}};
  for (const auto& [epoch, ys] : by_epoch) {
    s.x.push_back(epoch);
    s.y.push_back(std::accumulate(ys.begin(), ys.end(), 0.0) / static_cast<double>(ys.size()));
    if (band && v.runs.size() > 1) {
      s.lo.push_back(*std::min_element(ys.begin(), ys.end()));
      s.hi.push_back(*std::max_element(ys.begin(), ys.end()));
    }
  }
  return s;
}

bool probe_everywhere(const LoadedStage& s) {
  for (const auto& v : s.variants)
    for (const auto& r : v.runs)
      for (const auto& row : r.history)
        if (!row.train_eval_acc) return false;
  return true;
}

// A chart's figure of an epoch: val, the eval-mode train probe (absent in older runs) and the
// running train figure.
struct CurveFields {
  std::function<double(const EpochRow&)> val;
  std::function<std::optional<double>(const EpochRow&)> probe;
  std::function<double(const EpochRow&)> running;
};

// Per variant: val solid with its band over seeds, train dashed (the probe when every run has it).
std::vector<eval::Series> curves(const LoadedStage& s, const CurveFields& f) {
  const bool probe = probe_everywhere(s);
  std::vector<eval::Series> series;
  for (size_t k = 0; k < s.variants.size(); ++k) {
    const auto& v = s.variants[k];
    const int c = static_cast<int>(k);
    series.push_back(seed_mean(v, v.label + " val", false, c, true, [&](const EpochRow& r) { return f.val(r); }));
    series.push_back(seed_mean(v, v.label + (probe ? " train" : " train (running)"), true, c, false,
                               [&](const EpochRow& r) -> std::optional<double> {
                                 if (probe)
                                   if (auto y = f.probe(r)) return y;
                                 return f.running(r);
                               }));
  }
  return series;
}

const CurveFields kAccuracy{[](const EpochRow& r) { return 100 * r.val_acc; },
                            [](const EpochRow& r) -> std::optional<double> {
                              if (r.train_eval_acc) return 100 * *r.train_eval_acc;
                              return std::nullopt;
                            },
                            [](const EpochRow& r) { return 100 * r.train_acc; }};
const CurveFields kLoss{[](const EpochRow& r) { return r.val_loss; },
                        [](const EpochRow& r) { return r.train_eval_loss; },
                        [](const EpochRow& r) { return r.train_loss; }};

// One row of the table of every experiment: the assignment's columns first (stage,
// configuration, params, val acc, train acc), then the seeds' spread and the verdict.
std::string summary_row(const LoadedStage& s, size_t k) {
  const LoadedVariant& v = s.variants[k];
  const auto& d = s.decision;
  const VariantStats& st = d.stats[k];
  std::string name = v.variant->name;
  if (s.variants.size() > 1 && k == d.winner && !s.spec->ablation) name = "**" + name + "**";
  std::string verdict;
  if (s.spec->ablation)
    verdict = k == 0 ? "the recipe" : "ablation";
  else if (s.variants.size() == 1)
    verdict = s.spec->final ? "final" : "–";
  else if (k == d.winner)
    verdict = k == d.leader ? "leader, goes on" : "tie: goes on by the cost rule";
  else if (k == d.leader)
    verdict = "leader";
  else
    verdict = st.vs_leader ? fmt::format("{}, Holm {}", st.tied ? "tie" : "worse", p_text(st.vs_leader->p_holm))
                           : "not tested";
  if (!v.variant->same_as.empty()) verdict += "; same run as " + v.variant->same_as;
  for (const auto& r : v.runs)
    if (!r.complete) verdict += fmt::format("; incomplete ({} of {} epochs)", r.epochs, r.epochs_planned);
  const auto train = over_seeds(v, [](const RunResult& r) { return train_acc_at_best(r); });
  const auto gap = train_val_gap(v);
  const auto epoch = over_seeds(v, [](const RunResult& r) { return median_epoch_seconds(r); });
  return fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {:.1f}M | {:.1f} s | {} |\n", name, cell(v.label),
                     format_params(st.params), pm_percent(st.best_val), pm_percent(train), v.runs.size(),
                     pm_percent(st.last5_val), pm_points(gap), st.macs / 1e6, epoch.mean, verdict);
}

// "[study] started 2026-11-29T12:18:24+00:00" and "[study] ended ..." in the study's log.
std::optional<double> logged_wall_seconds(const fs::path& log) {
  if (log.empty() || !fs::is_regular_file(log)) return std::nullopt;
  std::ifstream in(log);
  std::optional<std::time_t> started, ended;
  for (std::string line; std::getline(in, line);) {
    for (auto [prefix, slot] : {std::pair{"[study] started ", &started}, std::pair{"[study] ended ", &ended}}) {
      if (line.rfind(prefix, 0) != 0) continue;
      std::tm tm{};
      std::istringstream when(line.substr(std::strlen(prefix)));
      when >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
      if (!when.fail()) *slot = timegm(&tm);  // both in the same offset: the difference is right
    }
  }
  if (!started || !ended || *ended < *started) return std::nullopt;
  return static_cast<double>(*ended - *started);
}

std::string data_section(const std::vector<LoadedStage>& stages, const std::optional<fs::path>& final_run) {
  const LoadedVariant& first = stages.front().variants.front();
  const RunResult& run = first.runs.front();
  const Value* data = first.config.find("data");
  const Value* train = first.config.find("train");
  std::ostringstream out;
  out << "## Data\n\n";
  const auto classes = read_run_data(run.dir);
  if (classes)
    out << fmt::format("- {} classes of Tiny ImageNet (64x64): {}.\n", classes->names.size(),
                       join_words(classes->names));
  if (data && data->find("val_fraction") && data->find("split_seed"))
    out << fmt::format(
        "- **Validation**: {} images, {:g} % of each class's train images held out (split seed {}); every choice "
        "in this study is made on them. **Training**: the other train images.\n",
        run.val_size, 100 * data->find("val_fraction")->as_float("data.val_fraction"),
        data->find("split_seed")->repr());
  if (train && train->find("train_probe") && train->find("train_probe")->i > 0)
    out << fmt::format(
        "- **Train accuracy** in the tables and the dashed curves: the eval-mode accuracy on a fixed sample of {} "
        "training images without augmentation, so it compares with val; the running accuracy on augmented "
        "batches stays in each metrics.csv as train_acc.\n",
        train->find("train_probe")->i);
  if (final_run && RunDir(*final_run).has_test_metrics())
    out << fmt::format(
        "- **Test**: the official Tiny ImageNet val set of these classes, {} images, evaluated once, for the final "
        "model only.\n",
        RunDir(*final_run).read_test_metrics().metrics.total);
  return out.str() + "\n";
}

std::string stage_section(const LoadedStage& s, const fs::path& fig_dir, const std::string& link_dir,
                          std::set<std::string>& used_slugs) {
  const StageSpec& spec = *s.spec;
  std::ostringstream md;
  md << "## Stage " << spec.name << (spec.title.empty() ? "" : ": " + spec.title) << "\n\n";
  if (!spec.question.empty()) md << "> " << spec.question << "\n\n";
  if (spec.ablation) {
    md << ablation_section(s);
  } else {
    const std::string answer = stage_answer(s);
    md << (answer.empty() ? decision_sentence(s) : answer) << "\n\n" << decision_table(s) << "\n";
  }
  md << stage_notes(s) << "\n";
  std::string base = "stage-" + slug(spec.name);
  for (int k = 2; !used_slugs.insert(base).second; ++k) base = "stage-" + slug(spec.name) + "-" + std::to_string(k);
  const bool seeds = std::any_of(s.variants.begin(), s.variants.end(), [](auto& v) { return v.runs.size() > 1; });
  const std::string of = seeds ? " (mean over seeds, band: their range)" : "";
  md << chart(fig_dir / (base + "-accuracy.png"), curves(s, kAccuracy),
              {"Stage " + spec.name + ": accuracy, val solid, train dashed" + of, "epoch", "accuracy (%)"}, link_dir)
     << "\n"
     << chart(fig_dir / (base + "-loss.png"), curves(s, kLoss),
              {"Stage " + spec.name + ": loss, val solid, train dashed" + of, "epoch", "cross-entropy loss"}, link_dir)
     << "\n";
  return md.str();
}

bool copy_if_present(const fs::path& from, const fs::path& to) {
  if (!fs::is_regular_file(from)) return false;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
  return true;
}

// The final variant's test accuracy over every seed that has one, when `run_dir` is one of its
// seeds: the figures below are that one seed's.
std::string seeds_test_line(const fs::path& run_dir, const std::vector<LoadedStage>& stages) {
  for (const auto& st : stages) {
    if (!st.spec->final) continue;
    const LoadedVariant& v = st.variants[st.decision.winner];
    const auto& runs = v.variant->runs;
    if (runs.size() < 2 || std::find(runs.begin(), runs.end(), run_dir) == runs.end()) continue;
    std::vector<double> acc;
    std::string per_seed;
    for (size_t k = 0; k < runs.size(); ++k) {
      if (!RunDir(runs[k]).has_test_metrics()) continue;
      acc.push_back(RunDir(runs[k]).read_test_metrics().metrics.accuracy);
      per_seed +=
          fmt::format("{}seed {} {}", per_seed.empty() ? "" : ", ", v.variant->seeds[k], format_percent(acc.back()));
    }
    if (acc.size() < 2) return "";
    return fmt::format(
        "- Over {} seeds of {}: test accuracy **{}** ({}); the other figures of this section are seed {}'s.\n",
        acc.size(), v.variant->name, pm_percent(eval::mean_sd(acc)), per_seed,
        v.variant->seeds[static_cast<size_t>(std::find(runs.begin(), runs.end(), run_dir) - runs.begin())]);
  }
  return "";
}

// 4.4: the final model against every stage's best, its test results, its signs of overfitting.
std::string final_section(const fs::path& run_dir, const fs::path& fig_dir, const std::string& link_dir,
                          const std::vector<LoadedStage>& stages) {
  const RunDir dir(run_dir);
  const RunResult run = dir.read_result();
  std::ostringstream out;
  out << "## Final model: " << run.name << "\n\n"
      << "> 4.4: Which configuration gave the best result? Are there signs of overfitting (a large difference "
         "between train and val)?\n\n";
  // The best of the other experiments, by mean best val accuracy over their seeds.
  const LoadedVariant* best_other = nullptr;
  double best_other_val = -1;
  for (const auto& st : stages) {
    if (st.spec->final || st.spec->ablation) continue;
    for (const auto& v : st.variants) {
      const double m = v.runs.empty() ? 0 : over_seeds(v, [](const RunResult& r) { return r.best_val_acc; }).mean;
      if (m > best_other_val) best_other_val = m, best_other = &v;
    }
  }
  Value config = dir.read_config();
  out << fmt::format("**Best configuration: {}** — {}, {} params", run.name, describe_network(config),
                     format_params(run.params));
  if (!run.title.empty()) out << " (" << run.title << ")";
  out << fmt::format(": {} best val accuracy at epoch {} of {}", format_percent(run.best_val_acc), run.best_epoch,
                     run.history.empty() ? 0 : run.history.back().epoch);
  if (best_other)
    out << fmt::format(", against {} for the best stage configuration, {} ({} seeds' mean)",
                       format_percent(best_other_val), best_other->variant->name, best_other->runs.size());
  out << ". " << overfitting_sentence(run) << "\n\n";
  if (!run.graph.empty()) out << "Graph: `" << run.graph << "`.\n\n";

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
    if (file.tta)
      out << fmt::format(
          "- Flip test-time augmentation (mean logits of each image and its mirror): {} with, {} without; the "
          "figures above and below are {} it ([train] test_tta, set in the graph before the test was read).\n",
          format_percent(file.tta->with_tta), format_percent(file.tta->without_tta),
          file.tta->used ? "with" : "without");
    out << seeds_test_line(run_dir, stages);
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

// The rule as decision.cpp applies it; docs/study.md explains it at length.
std::string method(const std::vector<LoadedStage>& stages) {
  const DecisionRule& rule = stages.front().decision.rule;
  return fmt::format(
      R"(## How the conclusions are computed

- Each variant trains once per seed; identical configurations train once and are marked "same run as".
- The decision statistic (decide_on = "{}"): the {} of each run, mean ± sd over seeds. The best
  epoch's val accuracy stays in the tables, labelled "best epoch": a maximum over a noisy curve is biased
  upward, more so for noisier variants, so it does not decide.
- The leader has the highest mean statistic. Every other variant is compared with it by a hierarchical paired
  bootstrap ({} replicates, seed {}): each replicate resamples the seeds both ran and, once for all of them,
  the shared val images; a seed's value is its difference in the statistic, moved by how the resampled images
  change its per-image difference at the best epoch (val_predictions.csv keeps that epoch's predictions
  only). The unit of replication is the seed; images vary within a seed.
- Holm within a stage: the bootstrap p-value (2 × the smaller share of replicates on either side of 0)
  orders the comparisons; the k-th smallest of m is tested with its interval at level 1 − {:g}/(m − k + 1),
  and is significant when that interval excludes 0 and so did every one before it (the same as a
  Holm-adjusted p < {:g}). The 95 % CI shown is before correction. Per-seed exact McNemar p-values are detail.
- A variant not significantly different from the leader ties with it; a tie goes to the variant with the
  fewest MACs, then the fewest params, then the incumbent (the variant the previous stage carried), then the
  leader. Epoch time never decides: the variants are not timed interleaved, and timings of separate runs
  drift more than the differences between variants of one cost.
- A trend (e.g. the gap with depth) is claimed only when it is monotonic and its ends lie apart by more
  than their spread over seeds.
- Convergence epoch: the first epoch whose val accuracy is within 1 point of the run's best.
- Epoch time: the median over a run's epochs, so an epoch slowed by other work on the machine does not move it.
)",
      rule.decide_on, statistic_words(rule.decide_on), rule.replicates, rule.bootstrap_seed, rule.alpha, rule.alpha);
}

}  // namespace

fs::path figures_dir(const fs::path& out_md) { return out_md.parent_path() / (out_md.stem().string() + "_figures"); }

void write_report(const fs::path& out_md, const std::vector<StageSpec>& stages,
                  const std::optional<fs::path>& final_run, const ReportOptions& options) {
  if (stages.empty()) throw UserError("report: no stages to report");
  // Read everything first: a bad run directory fails before anything is written.
  std::vector<LoadedStage> loaded;
  for (const auto& stage : stages) loaded.push_back(load_stage(stage));

  const fs::path fig_dir = figures_dir(out_md);
  const std::string link_dir = fig_dir.filename().string();
  fs::create_directories(fig_dir);

  // Training time counts each run directory once, even if it appears in two stages.
  std::set<fs::path> seen;
  double total_seconds = 0;
  std::set<std::string> setups;
  for (const auto& st : loaded)
    for (const auto& v : st.variants)
      for (const auto& run : v.runs) {
        if (!seen.insert(fs::weakly_canonical(run.dir)).second) continue;
        total_seconds += run.total_seconds;
        if (!run.device.empty()) setups.insert(fmt::format("{}, {}, {}", run.device, run.precision, run.memory_format));
      }

  std::ostringstream md;
  md << "# " << options.title << "\n\n"
     << fmt::format("{} runs in {} stage{}; their training and evaluation took {} (sum of each run's total_seconds)",
                    seen.size(), stages.size(), stages.size() == 1 ? "" : "s", format_duration(total_seconds));
  if (auto wall = logged_wall_seconds(options.study_log))
    md << fmt::format(", and the study {} of wall time from start to end ({})", format_duration(*wall),
                      options.study_log.filename().string());
  md << ".";
  if (setups.size() == 1) md << " Every run: " << *setups.begin() << ".";
  md << "\n\n" << data_section(loaded, final_run);

  md << "## Summary of every experiment\n\n"
     << "| Stage | Configuration | Params | Val acc (best epoch) | Train acc | Seeds | Val, mean of last 5 epochs | "
        "Gap "
        "(train − val) | MACs | Epoch | Verdict |\n"
     << "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n";
  for (const auto& st : loaded)
    for (size_t k = 0; k < st.variants.size(); ++k) md << summary_row(st, k);
  md << fmt::format(
      "\nVal acc (best epoch): the best val accuracy of each run, mean ± sd over seeds; it is shown, the {} "
      "decides. Train acc: at the best epoch. Bold: the variant that goes on from its stage (see each stage for the "
      "test).\n\n",
      statistic_words(loaded.front().decision.rule.decide_on));

  std::set<std::string> used_slugs;
  for (const auto& st : loaded) md << stage_section(st, fig_dir, link_dir, used_slugs);
  if (final_run) md << final_section(*final_run, fig_dir, link_dir, loaded);
  md << method(loaded);

  write_file_atomic(out_md, md.str());
  spdlog::info("report: wrote {} ({} stages, figures in {})", out_md.string(), stages.size(), fig_dir.string());
}

void training_curves(const fs::path& dir, const std::vector<EpochRow>& history, const std::string& run_name) {
  eval::Series train_acc{"train", {}, {}, false, 0, {}, {}}, val_acc{"val", {}, {}, false, 1, {}, {}};
  eval::Series train_loss{"train", {}, {}, false, 0, {}, {}}, val_loss{"val", {}, {}, false, 1, {}, {}};
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
