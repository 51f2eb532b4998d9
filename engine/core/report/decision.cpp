#include "engine/core/report/decision.hpp"

#include <algorithm>
#include <tuple>

#include <spdlog/fmt/fmt.h>

#include "engine/core/error.hpp"
#include "engine/core/report/analysis.hpp"

namespace engine::report {

double last_epochs_mean(const std::vector<EpochRow>& history, size_t n) {
  if (history.empty()) return 0;
  size_t from = history.size() > n ? history.size() - n : 0;
  double sum = 0;
  for (size_t k = from; k < history.size(); ++k) sum += history[k].val_acc;
  return sum / static_cast<double>(history.size() - from);
}

namespace {
VariantStats summarise(const Variant& v) {
  VariantStats s;
  std::vector<double> best, last5;
  for (const auto& dir : v.runs) {
    RunResult r = RunDir(dir).read_result();
    best.push_back(r.best_val_acc);
    last5.push_back(last_epochs_mean(r.history));
    s.params = r.params;
    s.macs = r.macs;
    s.epoch_seconds += r.epoch_seconds_mean / static_cast<double>(v.runs.size());
  }
  s.best_val = eval::mean_sd(best);
  s.last5_val = eval::mean_sd(last5);
  return s;
}

// Discordant pairs of the leader and another variant, pooled over the seeds both have;
// nullopt when any of those runs lacks its predictions.
std::optional<eval::Discordant> paired(const Variant& leader, const Variant& other) {
  eval::Discordant total;
  bool any = false;
  for (size_t i = 0; i < leader.seeds.size(); ++i)
    for (size_t j = 0; j < other.seeds.size(); ++j) {
      if (leader.seeds[i] != other.seeds[j]) continue;
      RunDir ra(leader.runs[i]), rb(other.runs[j]);
      if (!ra.has_val_predictions() || !rb.has_val_predictions()) return std::nullopt;
      ValPredictions a = ra.read_val_predictions(), b = rb.read_val_predictions();
      if (a.labels != b.labels)
        throw UserError(leader.runs[i].string() + " and " + other.runs[j].string() +
                        " were validated on different images; they cannot be compared pair by pair");
      eval::Discordant d = eval::discordant(a.labels, a.predictions, b.predictions);
      total.a_only += d.a_only;
      total.b_only += d.b_only;
      any = true;
    }
  if (!any) return std::nullopt;
  return total;
}
}  // namespace

StageDecision decide_stage(const std::vector<Variant>& variants) {
  if (variants.empty()) throw UserError("a stage without variants cannot be decided");
  StageDecision d;
  for (const auto& v : variants) d.stats.push_back(summarise(v));
  auto cost = [&](size_t k) { return std::make_tuple(d.stats[k].macs, d.stats[k].params, d.stats[k].epoch_seconds); };
  for (size_t k = 1; k < variants.size(); ++k) {
    double a = d.stats[k].best_val.mean, b = d.stats[d.leader].best_val.mean;
    if (a > b + 1e-12 || (a > b - 1e-12 && cost(k) < cost(d.leader))) d.leader = k;
  }
  d.stats[d.leader].tied = true;
  for (size_t k = 0; k < variants.size(); ++k) {
    if (k == d.leader) continue;
    VariantStats& s = d.stats[k];
    s.vs_leader = paired(variants[d.leader], variants[k]);
    if (!s.vs_leader) continue;
    s.p_value = eval::mcnemar_exact(*s.vs_leader);
    s.tied = *s.p_value >= kSignificance;
  }
  d.winner = d.leader;
  for (size_t k = 0; k < variants.size(); ++k)
    if (d.stats[k].tied && cost(k) < cost(d.winner)) d.winner = k;
  return d;
}

namespace {
std::string pm(const eval::MeanSd& m) {
  return m.n > 1 ? fmt::format("{:.1f} ± {:.1f}%", 100 * m.mean, 100 * m.sd) : fmt::format("{:.1f}%", 100 * m.mean);
}

std::string verdict(const VariantStats& s, bool leader) {
  if (leader) return "leader";
  if (!s.p_value) return "not tested (no val_predictions.csv)";
  return fmt::format("{} (p = {:.3f})", s.tied ? "tie" : "worse", *s.p_value);
}

std::string why_winner(const std::vector<Variant>& v, const StageDecision& d) {
  const std::string& leader = v[d.leader].name;
  std::vector<std::string> ties;
  for (size_t k = 0; k < v.size(); ++k)
    if (k != d.leader && d.stats[k].tied) ties.push_back(v[k].name);
  if (v.size() == 1) return "One variant: " + leader + " goes on.";
  std::string out = fmt::format("{} leads by mean best val accuracy ({}).", leader, pm(d.stats[d.leader].best_val));
  if (ties.empty()) return out + " Every other variant is significantly worse at 5 %, so " + leader + " goes on.";
  std::string list;
  for (const auto& t : ties) list += (list.empty() ? "" : ", ") + t;
  out += " The paired test cannot tell it from " + list + " at 5 %: a tie";
  if (d.winner == d.leader) return out + ", and " + leader + " is also the cheapest of them, so it goes on.";
  const VariantStats &w = d.stats[d.winner], &l = d.stats[d.leader];
  std::string cheaper = w.macs < l.macs ? fmt::format("{:.1f}M vs {:.1f}M MACs", w.macs / 1e6, l.macs / 1e6)
                        : w.params < l.params
                            ? "fewer parameters (" + format_params(w.params) + " vs " + format_params(l.params) + ")"
                            : fmt::format("a shorter epoch ({:.1f} s vs {:.1f} s)", w.epoch_seconds, l.epoch_seconds);
  return out + ", which goes to the cheaper " + v[d.winner].name + " (" + cheaper + ").";
}
}  // namespace

std::string decision_markdown(const std::string& stage, const std::vector<Variant>& v, const StageDecision& d) {
  std::string md = "### Stage " + stage +
                   " over seeds\n\n"
                   "| Variant | Configuration | Params | MACs | Best val | Mean of last 5 epochs | Epoch | "
                   "Only leader right / only this right | Verdict |\n|---|---|---:|---:|---:|---:|---:|---:|---|\n";
  for (size_t k = 0; k < v.size(); ++k) {
    const VariantStats& s = d.stats[k];
    std::string name = (k == d.winner ? "**" + v[k].name + "**" : v[k].name) +
                       (v[k].same_as.empty() ? "" : " (same run as " + v[k].same_as + ")");
    std::string pairs = s.vs_leader ? fmt::format("{} / {}", s.vs_leader->a_only, s.vs_leader->b_only) : "–";
    md += fmt::format("| {} | {} | {} | {:.1f}M | {} | {} | {:.1f} s | {} | {} |\n", name, v[k].title,
                      format_params(s.params), s.macs / 1e6, pm(s.best_val), pm(s.last5_val), s.epoch_seconds, pairs,
                      verdict(s, k == d.leader));
  }
  return md + "\n" + why_winner(v, d) + "\n\n";
}

}  // namespace engine::report
