#include "engine/core/report/decision.hpp"

#include <algorithm>
#include <tuple>

#include "engine/core/error.hpp"
#include "engine/core/files.hpp"

namespace engine::report {

namespace fs = std::filesystem;

double last_epochs_mean(const std::vector<EpochRow>& history, size_t n) {
  if (history.empty()) return 0;
  size_t from = history.size() > n ? history.size() - n : 0;
  double sum = 0;
  for (size_t k = from; k < history.size(); ++k) sum += history[k].val_acc;
  return sum / static_cast<double>(history.size() - from);
}

double decision_statistic(const RunResult& run, const std::string& decide_on) {
  if (decide_on == "last5_mean") return last_epochs_mean(run.history, 5);
  if (decide_on == "best_val") return run.best_val_acc;
  throw UserError("decide_on = \"" + decide_on + "\": expected \"last5_mean\" or \"best_val\"");
}

std::string statistic_words(const std::string& decide_on) {
  return decide_on == "best_val" ? "best val accuracy (the maximum over epochs)"
                                 : "mean val accuracy of the last 5 epochs";
}

namespace {
VariantStats summarise(const std::vector<RunResult>& runs, const DecisionRule& rule) {
  VariantStats s;
  std::vector<double> stat, best, last5;
  for (const auto& r : runs) {
    stat.push_back(decision_statistic(r, rule.decide_on));
    best.push_back(r.best_val_acc);
    last5.push_back(last_epochs_mean(r.history));
    s.params = r.params;
    s.macs = r.macs;
    s.epoch_seconds += r.epoch_seconds_mean / static_cast<double>(runs.size());
  }
  s.statistic = eval::mean_sd(stat);
  s.best_val = eval::mean_sd(best);
  s.last5_val = eval::mean_sd(last5);
  return s;
}

// A run directory in common: the same configuration and seed, so the same variant, also when
// the two stages ran different numbers of seeds.
bool shares_a_run(const std::vector<fs::path>& a, const std::vector<fs::path>& b) {
  for (const auto& x : a)
    for (const auto& y : b)
      if (fs::weakly_canonical(x) == fs::weakly_canonical(y)) return true;
  return false;
}

struct Compared {
  Comparison comparison;
  eval::Bootstrap boot;
};

std::optional<Compared> compared(const Variant& reference, const std::vector<RunResult>& reference_runs,
                                 const Variant& other, const std::vector<RunResult>& other_runs,
                                 const DecisionRule& rule) {
  Comparison c;
  std::vector<eval::SeedDifference> seeds;
  for (size_t i = 0; i < reference.seeds.size(); ++i)
    for (size_t j = 0; j < other.seeds.size(); ++j) {
      if (reference.seeds[i] != other.seeds[j]) continue;
      RunDir ra(reference.runs[i]), rb(other.runs[j]);
      if (!ra.has_val_predictions() || !rb.has_val_predictions()) return std::nullopt;
      ValPredictions a = ra.read_val_predictions(), b = rb.read_val_predictions();
      if (a.labels != b.labels)
        throw UserError(reference.runs[i].string() + " and " + other.runs[j].string() +
                        " were validated on different images; they cannot be compared pair by pair");
      SeedComparison s;
      s.seed = reference.seeds[i];
      s.difference =
          decision_statistic(other_runs[j], rule.decide_on) - decision_statistic(reference_runs[i], rule.decide_on);
      s.pairs = eval::discordant(a.labels, a.predictions, b.predictions);
      s.mcnemar_p = eval::mcnemar_exact(s.pairs);
      c.seeds.push_back(s);
      seeds.push_back({s.difference, eval::image_differences(a.labels, b.predictions, a.predictions)});
    }
  if (seeds.empty()) return std::nullopt;
  // Each pair of variants draws its own stream, so adding a variant leaves the others' figures.
  eval::Bootstrap boot = eval::hierarchical_bootstrap(
      seeds, {rule.replicates, hash_string(reference.name + " vs " + other.name, rule.bootstrap_seed)});
  c.difference = boot.estimate;
  c.ci95 = boot.interval(0.95);
  c.p = boot.p_value();  // Holm's level, interval and verdict are set by the stage, over all its comparisons
  return Compared{std::move(c), std::move(boot)};
}
}  // namespace

StageDecision decide_stage(const std::vector<Variant>& variants, const std::vector<std::vector<RunResult>>& results,
                           const DecisionRule& rule, const std::vector<fs::path>& carried, bool ablation) {
  if (variants.empty()) throw UserError("a stage without variants cannot be decided");
  StageDecision d;
  d.rule = rule;
  for (const auto& runs : results) d.stats.push_back(summarise(runs, rule));
  for (size_t k = 0; k < variants.size(); ++k)
    if (shares_a_run(variants[k].runs, carried)) d.incumbent = k;
  // Cost: fewer MACs, then fewer params, then the incumbent. Epoch time is not in it.
  auto cost = [&](size_t k) { return std::make_tuple(d.stats[k].macs, d.stats[k].params, d.incumbent != k); };
  if (!ablation)
    for (size_t k = 1; k < variants.size(); ++k) {
      double a = d.stats[k].statistic.mean, b = d.stats[d.leader].statistic.mean;
      if (a > b + 1e-12 || (a > b - 1e-12 && cost(k) < cost(d.leader))) d.leader = k;
    }
  d.stats[d.leader].tied = true;
  std::vector<size_t> tested;
  std::vector<eval::Bootstrap> boots;
  for (size_t k = 0; k < variants.size(); ++k) {
    if (k == d.leader) continue;
    auto c = compared(variants[d.leader], results[d.leader], variants[k], results[k], rule);
    if (!c) continue;  // not tested: not in the tie (the leader keeps its place), and the report says why
    d.stats[k].vs_leader = std::move(c->comparison);
    boots.push_back(std::move(c->boot));
    tested.push_back(k);
  }
  // Holm within the stage, decided on each comparison's interval at its Holm level.
  std::vector<double> p;
  for (const auto& b : boots) p.push_back(b.p_value());
  const auto adjusted = eval::holm_adjust(p);
  const auto levels = eval::holm_levels(p, rule.alpha);
  const auto significant = eval::holm_significant(boots, rule.alpha);
  for (size_t j = 0; j < tested.size(); ++j) {
    VariantStats& s = d.stats[tested[j]];
    s.vs_leader->p_holm = adjusted[j];
    s.vs_leader->holm_level = levels[j];
    s.vs_leader->ci_holm = boots[j].interval(levels[j]);
    s.vs_leader->significant = significant[j];
  }
  for (size_t k = 0; k < variants.size(); ++k)
    if (k != d.leader) d.stats[k].tied = d.stats[k].vs_leader && !d.stats[k].vs_leader->significant;
  d.winner = d.leader;
  if (ablation) return d;
  for (size_t k = 0; k < variants.size(); ++k)
    if (d.stats[k].tied && cost(k) < cost(d.winner)) d.winner = k;
  const VariantStats &w = d.stats[d.winner], &l = d.stats[d.leader];
  d.tie_break = d.winner == d.leader  ? TieBreak::none
                : w.macs < l.macs     ? TieBreak::macs
                : w.params < l.params ? TieBreak::params
                                      : TieBreak::incumbent;
  return d;
}

}  // namespace engine::report
