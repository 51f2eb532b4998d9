#include "engine/core/report/stage_data.hpp"

#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <map>

#include "engine/core/error.hpp"

namespace engine::report {

LoadedStage load_stage(const StageSpec& spec) {
  if (spec.variants.empty()) throw UserError("report: stage '" + spec.name + "' has no runs");
  LoadedStage s;
  s.spec = &spec;
  std::vector<Value> configs;
  std::vector<std::string> titles;
  for (const auto& v : spec.variants) {
    if (v.runs.empty()) throw UserError("report: " + v.name + " in stage '" + spec.name + "' has no runs");
    LoadedVariant lv;
    lv.variant = &v;
    for (const auto& dir : v.runs) lv.runs.push_back(RunDir(dir).read_result());
    lv.config = RunDir(v.runs.front()).read_config();
    configs.push_back(lv.config);
    titles.push_back(v.title.empty() ? v.name : v.title);
    s.variants.push_back(std::move(lv));
  }
  const auto labels = variant_labels(configs, titles);
  for (size_t k = 0; k < labels.size(); ++k) s.variants[k].label = labels[k];
  std::vector<std::vector<RunResult>> results;
  for (const auto& v : s.variants) results.push_back(v.runs);
  s.decision = decide_stage(spec.variants, results, spec.rule, spec.carried, spec.ablation);
  return s;
}

StageDecision decide_stage(const StageSpec& spec) {
  std::vector<std::vector<RunResult>> results;
  for (const auto& v : spec.variants) {
    results.emplace_back();
    for (const auto& dir : v.runs) results.back().push_back(RunDir(dir).read_result());
  }
  return decide_stage(spec.variants, results, spec.rule, spec.carried, spec.ablation);
}

namespace {
const Value* var(const Value& config, const std::string& key) {
  const Value* vars = config.find("vars");
  return vars ? vars->find(key) : nullptr;
}

std::string activation_name(const std::string& op) {
  static const std::map<std::string, std::string> names{
      {"relu", "ReLU"}, {"leaky_relu", "LeakyReLU"}, {"elu", "ELU"},   {"gelu", "GELU"},
      {"silu", "SiLU"}, {"sigmoid", "Sigmoid"},      {"tanh", "Tanh"}, {"hardswish", "Hardswish"},
      {"mish", "Mish"}, {"prelu", "PReLU"}};
  auto it = names.find(op);
  return it == names.end() ? op : it->second;
}

std::string widths_label(const Value& widths) {
  std::string out;
  for (const auto& w : widths.items) out += (out.empty() ? "" : "-") + w.repr();
  return out;
}

// "[1,1,1]": one entry per stage, as the assignment writes it, also when one number is broadcast.
std::string blocks_label(const Value& blocks, const Value* widths) {
  std::vector<std::string> items;
  for (const auto& b : blocks.items) items.push_back(b.repr());
  if (items.size() == 1 && widths && widths->items.size() > 1) items.resize(widths->items.size(), items[0]);
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
  return "[" + out + "]";
}

std::string stem_label(const Value& config) {
  const Value *k = var(config, "stem_kernel"), *s = var(config, "stem_stride");
  if (!k || !s) return "";
  return fmt::format("{}x{}/s{} stem", k->repr(), k->repr(), s->repr());
}

std::string var_label(const Value& config, const std::string& key) {
  const Value* v = var(config, key);
  if (!v) return key + " unset";
  if (key == "widths" && v->is(Value::Kind::Array)) return widths_label(*v);
  if (key == "blocks" && v->is(Value::Kind::Array)) return blocks_label(*v, var(config, "widths"));
  if (key == "act" && v->is(Value::Kind::String)) return activation_name(v->s);
  return key + " " + v->repr();
}
}  // namespace

std::string describe_network(const Value& config) {
  std::vector<std::string> parts;
  if (const Value* w = var(config, "widths"); w && w->is(Value::Kind::Array)) parts.push_back(widths_label(*w));
  if (const Value* b = var(config, "blocks"); b && b->is(Value::Kind::Array))
    parts.push_back(blocks_label(*b, var(config, "widths")) + " blocks");
  if (const Value* a = var(config, "act"); a && a->is(Value::Kind::String)) parts.push_back(activation_name(a->s));
  if (std::string stem = stem_label(config); !stem.empty()) parts.push_back(stem);
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

std::vector<std::string> variant_labels(const std::vector<Value>& configs, const std::vector<std::string>& titles) {
  if (configs.size() == 1) {
    std::string network = describe_network(configs[0]);
    return {network.empty() ? titles[0] : network};
  }
  // The variables whose values differ between the variants, in the first file's order.
  std::vector<std::string> differing;
  std::vector<std::string> keys;
  for (const auto& c : configs)
    if (const Value* vars = c.find("vars"))
      for (const auto& k : vars->keys())
        if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  for (const auto& k : keys) {
    const Value* first = var(configs[0], k);
    for (const auto& c : configs) {
      const Value* v = var(c, k);
      if (!first || !v || v->repr() != first->repr()) {
        differing.push_back(k);
        break;
      }
    }
  }
  if (differing.empty()) return titles;
  std::vector<std::string> labels;
  for (const auto& c : configs) {
    std::vector<std::string> parts;
    bool stem_done = false;
    for (const auto& k : differing) {
      if (k.rfind("stem_", 0) == 0) {
        if (!stem_done) parts.push_back(stem_label(c));
        stem_done = true;
        continue;
      }
      parts.push_back(var_label(c, k));
    }
    std::string label;
    for (const auto& p : parts) label += (label.empty() ? "" : ", ") + p;
    labels.push_back(label);
  }
  return labels;
}

bool has_train_probe(const RunResult& r) { return r.train_eval_acc_at_best.has_value(); }

double train_acc_at_best(const RunResult& r) { return r.train_eval_acc_at_best.value_or(r.train_acc_at_best); }

double median_epoch_seconds(const RunResult& r) {
  std::vector<double> s;
  for (const auto& row : r.history) s.push_back(row.seconds);
  if (s.empty()) return r.epoch_seconds_mean;
  std::sort(s.begin(), s.end());
  return s.size() % 2 ? s[s.size() / 2] : (s[s.size() / 2 - 1] + s[s.size() / 2]) / 2;
}

eval::MeanSd over_seeds(const LoadedVariant& v, const std::function<double(const RunResult&)>& f) {
  std::vector<double> values;
  for (const auto& r : v.runs) values.push_back(f(r));
  return eval::mean_sd(values);
}

eval::MeanSd train_val_gap(const LoadedVariant& v) {
  return over_seeds(v, [](const RunResult& r) { return train_acc_at_best(r) - r.best_val_acc; });
}

}  // namespace engine::report
