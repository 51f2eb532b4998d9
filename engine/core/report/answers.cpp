#include "engine/core/report/answers.hpp"

#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/core/report/analysis.hpp"

namespace engine::report {

std::string pm_percent(const eval::MeanSd& m) {
  return m.n > 1 ? fmt::format("{:.1f} ± {:.1f}%", 100 * m.mean, 100 * m.sd) : fmt::format("{:.1f}%", 100 * m.mean);
}

std::string p_text(double p) { return p < 0.001 ? "p < 0.001" : fmt::format("p = {:.3f}", p); }

std::string pm_points(const eval::MeanSd& m) {
  return m.n > 1 ? fmt::format("{:.1f} ± {:.1f} pt", 100 * m.mean, 100 * m.sd) : fmt::format("{:.1f} pt", 100 * m.mean);
}

namespace {
// "GELU (3.3-D)", or just the name when the label is the name.
std::string called(const LoadedVariant& v) {
  return v.label == v.variant->name ? v.variant->name : v.label + " (" + v.variant->name + ")";
}

std::string seeds_phrase(const LoadedVariant& v) {
  return v.runs.size() == 1 ? "one seed" : fmt::format("{} seeds", v.runs.size());
}

eval::MeanSd convergence(const LoadedVariant& v) {
  return over_seeds(v,
                    [](const RunResult& r) { return static_cast<double>(convergence_epoch(r.history).value_or(0)); });
}
eval::MeanSd val_at_epoch(const LoadedVariant& v, int epoch) {
  return over_seeds(v, [epoch](const RunResult& r) {
    for (const auto& row : r.history)
      if (row.epoch == epoch) return row.val_acc;
    return r.history.empty() ? 0.0 : r.history.back().val_acc;
  });
}
// How far the val loss climbed from its lowest point by the last epoch.
eval::MeanSd val_loss_rise(const LoadedVariant& v) {
  return over_seeds(v, [](const RunResult& r) {
    if (r.history.empty()) return 0.0;
    double lowest = r.history.front().val_loss;
    for (const auto& row : r.history) lowest = std::min(lowest, row.val_loss);
    return r.history.back().val_loss - lowest;
  });
}
double epoch_time(const LoadedVariant& v) {
  return over_seeds(v, [](const RunResult& r) { return median_epoch_seconds(r); }).mean;
}

// Two means differ beyond the seeds' spread when their mean ± sd intervals do not overlap.
bool apart(const eval::MeanSd& a, const eval::MeanSd& b) { return std::abs(a.mean - b.mean) > a.sd + b.sd; }

// A trend over variants ordered by the variable: monotonic, and the ends apart beyond the
// spread over seeds. With one seed there is no spread to judge by, so no claim.
std::string trend(const std::vector<eval::MeanSd>& ordered, const std::string& what, const std::string& with) {
  if (ordered.size() < 2) return "";
  bool up = true, down = true;
  for (size_t k = 1; k < ordered.size(); ++k) {
    up = up && ordered[k].mean > ordered[k - 1].mean;
    down = down && ordered[k].mean < ordered[k - 1].mean;
  }
  const bool seeds = ordered.front().n > 1 && ordered.back().n > 1;
  if ((up || down) && seeds && apart(ordered.front(), ordered.back()))
    return fmt::format("{} {} with {}, beyond the spread over seeds", what, up ? "grows" : "shrinks", with);
  if (up || down)
    return fmt::format("{} {} with {}, but {}", what, up ? "grows" : "shrinks", with,
                       seeds ? "the ends lie within each other's spread over seeds: no trend is claimed"
                             : "one seed has no spread to judge it by: no trend is claimed");
  return fmt::format("{} shows no monotonic trend with {}", what, with);
}
}  // namespace

namespace {
// "−2.4 pt", "+0.3 pt".
std::string signed_points(double fraction) { return fmt::format("{:+.1f} pt", 100 * fraction); }
std::string interval_text(const eval::Bootstrap::Interval& ci) {
  return fmt::format("[{:+.1f}, {:+.1f}]", 100 * ci.lo, 100 * ci.hi);
}
std::string level_text(double level) { return fmt::format("{:.4g} %", 100 * level); }

// "Δ −2.4 pt, 95 % CI [−4.1, −0.9], Holm p = 0.012"
std::string comparison_text(const Comparison& c) {
  return fmt::format("Δ {}, 95 % CI {}, Holm {}", signed_points(c.difference), interval_text(c.ci95), p_text(c.p_holm));
}

// Per seed, in seed order: "+3.4 / −1.8 / +5.6 pt" and "0.064 / 0.321 / 0.002".
std::string per_seed_differences(const Comparison& c) {
  std::string out;
  for (const auto& s : c.seeds) out += (out.empty() ? "" : " / ") + fmt::format("{:+.1f}", 100 * s.difference);
  return out + " pt";
}
std::string per_seed_mcnemar(const Comparison& c) {
  std::string out;
  for (const auto& s : c.seeds)
    out +=
        (out.empty() ? "" : " / ") + (s.mcnemar_p < 0.001 ? std::string("<0.001") : fmt::format("{:.3f}", s.mcnemar_p));
  return out;
}

// The answer in one bold line: the leader, what ties with it, what is worse, and what goes on.
std::string headline(const LoadedStage& s, const std::string& what) {
  const auto& d = s.decision;
  const std::string leader = s.variants[d.leader].label, winner = s.variants[d.winner].label;
  std::vector<std::string> ties, worse;
  for (size_t k = 0; k < s.variants.size(); ++k)
    if (k != d.leader) (d.stats[k].tied ? ties : worse).push_back(s.variants[k].label);
  if (ties.empty()) return fmt::format("**{}: {}, ahead of every other variant beyond chance.**", what, leader);
  std::string out = fmt::format("**{}: {} by mean, but the test over seeds and images cannot tell it from {}", what,
                                leader, join_words(ties));
  if (!worse.empty()) out += fmt::format("; {} {} worse", join_words(worse), worse.size() == 1 ? "is" : "are");
  return out + (d.winner == d.leader ? fmt::format("; {} goes on.**", winner)
                                     : fmt::format("; {} goes on by the cost rule.**", winner));
}

// Why the winner goes on, in the order the code applies the rule.
std::string tie_break_text(const LoadedStage& s) {
  const auto& d = s.decision;
  const VariantStats &w = d.stats[d.winner], &l = d.stats[d.leader];
  const std::string winner = called(s.variants[d.winner]);
  switch (d.tie_break) {
    case TieBreak::macs:
      return fmt::format(", which goes to the variant with the fewest MACs, {} ({:.1f}M vs {:.1f}M): {} goes on.",
                         winner, w.macs / 1e6, l.macs / 1e6, winner);
    case TieBreak::params:
      return fmt::format(", which at equal MACs goes to the variant with the fewest params, {} ({} vs {}): {} goes on.",
                         winner, format_params(w.params), format_params(l.params), winner);
    case TieBreak::incumbent:
      return fmt::format(
          ", which at equal MACs and params goes to the incumbent, {}, the variant the previous stage carried: {} "
          "goes on.",
          winner, winner);
    case TieBreak::none:
      break;
  }
  const bool incumbent = d.incumbent == d.leader;
  return fmt::format(", and no variant of the tie has fewer MACs or params than the leader{}, so {} goes on.",
                     incumbent ? ", which is also the incumbent" : "", winner);
}
}  // namespace

std::string decision_sentence(const LoadedStage& s) {
  const auto& d = s.decision;
  const LoadedVariant& leader = s.variants[d.leader];
  const std::string stat = statistic_words(d.rule.decide_on);
  if (s.variants.size() == 1)
    return fmt::format("One variant, {}: {} {} over {} (best epoch: {}).", called(leader),
                       pm_percent(d.stats[d.leader].statistic), stat, seeds_phrase(leader),
                       pm_percent(d.stats[d.leader].best_val));
  std::string out = fmt::format("{} leads with {} {} over {}.", called(leader), pm_percent(d.stats[d.leader].statistic),
                                stat, seeds_phrase(leader));
  std::vector<std::string> ties, worse;
  bool one_seed = false;
  for (size_t k = 0; k < s.variants.size(); ++k) {
    if (k == d.leader) continue;
    const auto& st = d.stats[k];
    const auto& v = s.variants[k];
    const std::string test = st.vs_leader ? comparison_text(*st.vs_leader) : "not tested";
    one_seed = one_seed || (st.vs_leader && st.vs_leader->seeds.size() == 1);
    std::string item =
        v.label == v.variant->name ? v.label + " (" + test + ")" : v.label + " (" + v.variant->name + ", " + test + ")";
    (st.tied ? ties : worse).push_back(item);
  }
  if (!worse.empty())
    out += fmt::format(
        " The bootstrap over seeds and val images, Holm-corrected within the stage, puts {} "
        "significantly below it.",
        join_words(worse));
  if (one_seed)
    out +=
        " With one seed the interval covers the val images only: it speaks for that trained model, not the "
        "variant.";
  if (ties.empty()) return out + " " + called(leader) + " goes on.";
  out += fmt::format(" It cannot tell {} from the leader: a tie", join_words(ties));
  return out + tie_break_text(s);
}

std::string decision_table(const LoadedStage& s) {
  const auto& d = s.decision;
  const bool last5 = d.rule.decide_on == "last5_mean";
  std::string md = fmt::format(
      "| Variant | Configuration | Params | MACs | Mean of last 5 epochs{} | Best epoch{} | Epoch | Δ vs leader, 95 % "
      "CI | Holm | Per seed: Δ | Per seed: McNemar p | Verdict |\n"
      "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
      last5 ? " (decides)" : "", last5 ? "" : " (decides)");
  for (size_t k = 0; k < s.variants.size(); ++k) {
    const auto& v = s.variants[k];
    const VariantStats& st = d.stats[k];
    std::string name = (k == d.winner && s.variants.size() > 1 ? "**" + v.variant->name + "**" : v.variant->name) +
                       (v.variant->same_as.empty() ? "" : " (same run as " + v.variant->same_as + ")");
    std::string delta = "–", holm = "–", seeds = "–", mcnemar = "–";
    if (const auto& c = st.vs_leader) {
      delta = signed_points(c->difference) + " " + interval_text(c->ci95);
      holm = fmt::format("{}; {} CI {}", p_text(c->p_holm), level_text(c->holm_level), interval_text(c->ci_holm));
      seeds = per_seed_differences(*c);
      mcnemar = per_seed_mcnemar(*c);
    }
    std::string verdict = k == d.leader   ? "leader"
                          : !st.vs_leader ? "not tested (no val_predictions.csv or no shared seed)"
                          : st.tied       ? "tie"
                                          : "worse";
    if (k == d.incumbent) verdict += "; incumbent";
    if (k == d.winner && k != d.leader) verdict += "; goes on by the cost rule";
    md += fmt::format("| {} | {} | {} | {:.1f}M | {} | {} | {:.1f} s | {} | {} | {} | {} | {} |\n", name, cell(v.label),
                      format_params(st.params), st.macs / 1e6, pm_percent(st.last5_val), pm_percent(st.best_val),
                      epoch_time(v), delta, holm, seeds, mcnemar, verdict);
  }
  return md;
}

std::string stage_answer(const LoadedStage& s) {
  const StageSpec& spec = *s.spec;
  const LoadedVariant& w = s.variants[s.decision.winner];
  const std::string decision = decision_sentence(s);
  std::vector<std::string> items;
  if (spec.varies == "widths") {
    for (const auto& v : s.variants)
      items.push_back(fmt::format("{} {} params", called(v), format_params(v.runs[0].params)));
    return fmt::format("{} {} Size: {}.", headline(s, "Better widths"), decision, join_words(items));
  }
  if (spec.varies == "depth") {
    std::vector<size_t> order(s.variants.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return s.variants[a].runs[0].params < s.variants[b].runs[0].params; });
    std::vector<eval::MeanSd> gaps, rises;
    std::vector<std::string> gap_items, rise_items;
    for (size_t k : order) {
      gaps.push_back(train_val_gap(s.variants[k]));
      rises.push_back(val_loss_rise(s.variants[k]));
      gap_items.push_back(s.variants[k].label + " " + pm_points(gaps.back()));
      rise_items.push_back(fmt::format("{} {:.3f}", s.variants[k].label, rises.back().mean));
    }
    return fmt::format(
        "{} {} This is the depth the final model uses ({}). **Do deeper nets overfit more?** The "
        "train − val gap at the best epoch (train accuracy in eval mode) is {}: {}. The val loss rises from its "
        "lowest point to the last epoch by {} (mean over seeds): {}.",
        headline(s, "Optimal depth"), decision, w.label, join_words(gap_items), trend(gaps, "the gap", "depth"),
        join_words(rise_items), trend(rises, "the rise", "depth"));
  }
  if (spec.varies == "activation") {
    int early = 5;
    for (const auto& v : s.variants)
      for (const auto& r : v.runs) early = std::min<int>(early, r.history.empty() ? early : r.history.back().epoch);
    std::vector<std::string> conv, at_early, times;
    size_t fastest = 0;
    std::vector<eval::MeanSd> early_acc;
    for (size_t k = 0; k < s.variants.size(); ++k) {
      const auto& v = s.variants[k];
      const auto c = convergence(v);
      conv.push_back(fmt::format("{} epoch {:.1f}{}", v.label, c.mean, c.n > 1 ? fmt::format(" ± {:.1f}", c.sd) : ""));
      early_acc.push_back(val_at_epoch(v, early));
      at_early.push_back(v.label + " " + pm_percent(early_acc.back()));
      times.push_back(fmt::format("{} {:.1f} s", v.label, epoch_time(v)));
      if (early_acc[k].mean > early_acc[fastest].mean) fastest = k;
    }
    bool clear = true;
    for (size_t k = 0; k < early_acc.size(); ++k)
      if (k != fastest) clear = clear && early_acc[fastest].n > 1 && apart(early_acc[fastest], early_acc[k]);
    return fmt::format(
        "{} {} **Convergence speed:** val accuracy after {} epochs is {}; {} is ahead {}. "
        "The first epoch within 1 pt of each run's best val accuracy: {}. Epoch time (median; it never decides): {}.",
        headline(s, "Best activation"), decision, early, join_words(at_early), s.variants[fastest].label,
        clear ? "of every other activation beyond the spread over seeds"
              : "by less than the spread over seeds (or with one seed): a tie in speed",
        join_words(conv), join_words(times));
  }
  if (spec.varies == "stem") {
    std::vector<std::string> times;
    double lo = 1e300, hi = 0;
    for (const auto& v : s.variants) {
      const double t = epoch_time(v);
      times.push_back(fmt::format("{} {:.1f} s", v.label, t));
      lo = std::min(lo, t);
      hi = std::max(hi, t);
    }
    return fmt::format("{} {} Epoch time (median): {}; the slower stem costs {:.1f}x per epoch.", headline(s, "Stem"),
                       decision, join_words(times), hi / lo);
  }
  return "";
}

std::string stage_notes(const LoadedStage& s) {
  std::vector<std::string> conv, gaps, times, still;
  double stage_seconds = 0;
  bool probe = true;
  for (const auto& v : s.variants) {
    const auto c = convergence(v);
    conv.push_back(fmt::format("{} {:.1f}", v.label, c.mean));
    gaps.push_back(v.label + " " + pm_points(train_val_gap(v)));
    times.push_back(fmt::format("{} {:.1f} s", v.label, epoch_time(v)));
    size_t late = 0;
    for (const auto& r : v.runs) {
      stage_seconds += v.variant->same_as.empty() ? r.total_seconds : 0;
      probe = probe && has_train_probe(r);
      if (r.history.size() > 1 && r.best_epoch == r.history.back().epoch) ++late;
    }
    if (late) still.push_back(fmt::format("{} ({} of {} seeds)", v.label, late, v.runs.size()));
  }
  std::string out;
  out += "- Convergence, the first epoch within 1 pt of the run's best val accuracy (mean over seeds): " +
         join_words(conv) + ".\n";
  out += std::string("- Train − val gap at the best epoch (") +
         (probe ? "train accuracy in eval mode on a fixed train sample" : "running train accuracy") +
         "): " + join_words(gaps) + ".\n";
  if (!still.empty())
    out += "- Best val accuracy at the last epoch, so possibly still improving: " + join_words(still) + ".\n";
  out += "- Epoch time (median over epochs, mean over seeds): " + join_words(times) +
         fmt::format("; training time of the stage's own runs {}.\n", format_duration(stage_seconds));
  return out;
}

std::string ablation_section(const LoadedStage& s) {
  const LoadedVariant& recipe = s.variants[0];
  const auto& d = s.decision;
  const std::string stat = statistic_words(d.rule.decide_on);
  std::string md = fmt::format(
      "The recipe, {}, reaches {} {} ({}; best epoch {}). Each row removes one lever; the bootstrap over seeds and "
      "the same {} val images compares it with the recipe, Holm-corrected over the {} rows.\n\n"
      "| Without | {} | Best epoch | Δ vs recipe, 95 % CI | Holm | Per seed: McNemar p | Verdict |\n"
      "|---|---:|---:|---:|---:|---:|---|\n",
      recipe.variant->name, pm_percent(d.stats[0].statistic), stat, seeds_phrase(recipe),
      pm_percent(d.stats[0].best_val), recipe.runs[0].val_size, s.variants.size() - 1,
      d.rule.decide_on == "last5_mean" ? "Mean of last 5 epochs" : "Best val");
  std::vector<std::string> helps, hurts, ties;
  bool one_seed = false;
  for (size_t k = 1; k < s.variants.size(); ++k) {
    const auto& v = s.variants[k];
    const auto& st = d.stats[k];
    std::string verdict = "not tested (no val_predictions.csv or no shared seed)", delta = "–", holm = "–",
                mcnemar = "–";
    if (const auto& c = st.vs_leader) {
      one_seed = one_seed || c->seeds.size() == 1;
      delta = signed_points(c->difference) + " " + interval_text(c->ci95);
      holm = fmt::format("{}; {} CI {}", p_text(c->p_holm), level_text(c->holm_level), interval_text(c->ci_holm));
      mcnemar = per_seed_mcnemar(*c);
      if (!c->significant) {
        verdict = "tie";
        ties.push_back(v.label);
      } else if (c->difference < 0) {
        verdict = "the lever helps";
        helps.push_back(v.label);
      } else {
        verdict = "the lever hurts";
        hurts.push_back(v.label);
      }
    }
    md += fmt::format("| {} | {} | {} | {} | {} | {} | {} |\n", cell(v.label), pm_percent(st.statistic),
                      pm_percent(st.best_val), delta, holm, mcnemar, verdict);
  }
  md += "\n";
  if (!helps.empty()) md += "Significantly below the recipe after Holm: " + join_words(helps) + ". ";
  if (!hurts.empty()) md += "Significantly above the recipe after Holm: " + join_words(hurts) + ". ";
  if (!ties.empty())
    md += fmt::format("Ties with the recipe after Holm: {}; what {} is below what {} val images{} can resolve.",
                      join_words(ties), ties.size() == 1 ? "that lever gives" : "each of those levers gives",
                      recipe.runs[0].val_size, one_seed ? " and one seed" : " and these seeds");
  if (one_seed)
    md +=
        " With one seed the intervals cover the val images only: they speak for these trained models, not the "
        "levers.";
  return md + "\n";
}

std::string overfitting_sentence(const RunResult& run) {
  if (run.history.empty()) return "";
  const EpochRow* lowest = &run.history.front();
  for (const auto& row : run.history)
    if (row.val_loss < lowest->val_loss) lowest = &row;
  const double g = train_acc_at_best(run) - run.best_val_acc;
  // A rise is claimed only where the printed figures show one: 0.449 and 0.449 is none.
  const double last = run.history.back().val_loss;
  std::string after = ", the last epoch: no rise";
  if (std::round(1000 * last) > std::round(1000 * lowest->val_loss))
    after = fmt::format(
        " and {:.3f} at the last epoch: past that epoch the model fits the train set at the cost of val loss", last);
  else if (lowest != &run.history.back())
    after = fmt::format(" and {:.3f} at the last epoch: no rise", last);
  return fmt::format(
      "Train accuracy ({}) at the best epoch is {} against {} val: a gap of {}. The val loss is lowest at epoch {} "
      "of {} ({:.3f}){}.",
      has_train_probe(run) ? "eval mode, fixed train sample" : "running", format_percent(train_acc_at_best(run)),
      format_percent(run.best_val_acc), format_points(g), lowest->epoch, run.history.back().epoch, lowest->val_loss,
      after);
}

}  // namespace engine::report
