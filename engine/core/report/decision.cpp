#include "engine/core/report/decision.hpp"

#include <algorithm>
#include <tuple>

#include <spdlog/fmt/fmt.h>

#include "engine/core/error.hpp"

namespace engine::report {

double last_epochs_mean(const std::vector<EpochRow>& history, size_t n) {
  if (history.empty()) return 0;
  size_t from = history.size() > n ? history.size() - n : 0;
  double sum = 0;
  for (size_t k = from; k < history.size(); ++k) sum += history[k].val_acc;
  return sum / static_cast<double>(history.size() - from);
}

namespace {
VariantStats summarise(const std::vector<RunResult>& runs) {
  VariantStats s;
  std::vector<double> best, last5;
  for (const auto& r : runs) {
    best.push_back(r.best_val_acc);
    last5.push_back(last_epochs_mean(r.history));
    s.params = r.params;
    s.macs = r.macs;
    s.epoch_seconds += r.epoch_seconds_mean / static_cast<double>(runs.size());
  }
  s.best_val = eval::mean_sd(best);
  s.last5_val = eval::mean_sd(last5);
  return s;
}

}  // namespace

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

StageDecision decide_stage(const std::vector<Variant>& variants) {
  std::vector<std::vector<RunResult>> results;
  for (const auto& v : variants) {
    results.emplace_back();
    for (const auto& dir : v.runs) results.back().push_back(RunDir(dir).read_result());
  }
  return decide_stage(variants, results);
}

StageDecision decide_stage(const std::vector<Variant>& variants, const std::vector<std::vector<RunResult>>& results) {
  if (variants.empty()) throw UserError("a stage without variants cannot be decided");
  StageDecision d;
  for (const auto& runs : results) d.stats.push_back(summarise(runs));
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

}  // namespace engine::report
