#include "engine/core/run_dir.hpp"

#include <algorithm>

#include "engine/core/files.hpp"
#include "engine/core/sections.hpp"

namespace engine {

namespace fs = std::filesystem;

std::string config_hash(const std::string& text) { return hex64(hash_string(text)); }

const std::vector<std::string>& runtime_keys() {
  static const std::vector<std::string> keys{"train.threads", "train.device",  "train.eval_batch_size", "data.root",
                                             "data.cache",    "train.test_tta"};  // test_tta: only engine test
  return keys;
}

namespace {
std::string differences(const Value& old_spec, const Value& new_spec) {
  auto a = flatten(old_spec), b = flatten(new_spec);
  auto runtime = [](const std::string& k) {
    return std::find(runtime_keys().begin(), runtime_keys().end(), k) != runtime_keys().end();
  };
  std::string out;
  auto value_in = [](const auto& list, const std::string& key) -> std::string {
    for (const auto& [k, v] : list)
      if (k == key) return v;
    return "(absent)";
  };
  std::vector<std::string> keys;
  for (const auto& [k, v] : a) keys.push_back(k);
  for (const auto& [k, v] : b)
    if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  for (const auto& k : keys) {
    if (runtime(k)) continue;
    std::string was = value_in(a, k), now = value_in(b, k);
    if (was != now) out += "\n  " + k + ": " + was + " -> " + now;
  }
  return out;
}
}  // namespace

EpochsExtension epochs_extension(const Value& old_spec, const Value& new_spec) {
  EpochsExtension x;
  auto epochs_of = [](const Value& spec) -> int64_t {
    const Value* train = spec.find("train");
    const Value* epochs = train ? train->find("epochs") : nullptr;
    return epochs && epochs->is(Value::Kind::Int) ? epochs->i : -1;
  };
  x.from = epochs_of(old_spec);
  x.to = epochs_of(new_spec);
  Value same_total = new_spec;
  if (Value* train = same_total.find("train"); train && train->find("epochs") && x.from >= 0)
    train->set("epochs", Value::of_int(x.from));
  x.only_epochs_grew = x.from >= 0 && x.to > x.from && differences(old_spec, same_total).empty();
  const Value* train = old_spec.find("train");
  const Value* scheduler = train ? train->find("scheduler") : nullptr;
  x.scheduler = scheduler && scheduler->is(Value::Kind::String) ? scheduler->s : "none";
  x.schedule_independent = x.scheduler == "none" || x.scheduler == "step";  // see lr_at in the trainer
  return x;
}

std::string RunDir::prepare(const std::string& config_text, const Value& spec, bool fresh) const {
  std::string moved;
  if (fs::exists(dir_ / run_file::config)) {
    if (fresh) {
      int n = 1;
      while (fs::exists(dir_.string() + ".prev-" + std::to_string(n))) ++n;
      moved = dir_.string() + ".prev-" + std::to_string(n);
      fs::rename(dir_, moved);
    } else {
      Value old = read_config();
      // Keys added to the language since the run began are absent from its config.toml; it ran
      // with their defaults (which keep the earlier behaviour), so it is compared with those.
      try {
        Value completed = old;
        complete_sections(completed);
        old = std::move(completed);
      } catch (const std::exception&) {  // not valid any more: compared as written
      }
      // "auto" precision resumes in whatever the run recorded (before it was the default, bf16 was).
      const Value* now_train = spec.find("train");
      const Value* now = now_train ? now_train->find("precision") : nullptr;
      if (Value* train = old.find("train");
          train && now && now->is(Value::Kind::String) && now->as_string("precision") == "auto")
        if (const Value* was = train->find("precision"); was && was->is(Value::Kind::String))
          train->set("precision", *now);
      std::string diff = differences(old, spec);
      if (diff.empty()) return moved;
      EpochsExtension more = epochs_extension(old, spec);
      if (!more.only_epochs_grew)
        throw UserError(dir_.string() + " holds a run of a different config; these keys differ (run -> now):" + diff +
                        "\nRun with --fresh to start over (the old run is kept as " + dir_.string() +
                        ".prev-N), or with --run-dir DIR to train elsewhere.");
      if (!more.schedule_independent)
        throw UserError(dir_.string() + " cannot be extended from train.epochs = " + std::to_string(more.from) +
                        " to " + std::to_string(more.to) + ": its scheduler '" + more.scheduler +
                        "' spreads the learning-rate decay over train.epochs, so the epochs it trained on a " +
                        std::to_string(more.from) + "-epoch schedule would not match the first epochs of a " +
                        std::to_string(more.to) + "-epoch run. Run with --fresh to train " + std::to_string(more.to) +
                        " epochs from the start (the old run is kept as " + dir_.string() +
                        ".prev-N), or with --run-dir DIR to train elsewhere. (Runs with scheduler none or step can be "
                        "extended.)");
      // Extended: the run continues from its last checkpoint under the new total.
    }
  }
  fs::create_directories(dir_);
  write_file_atomic(dir_ / run_file::config,
                    "# Resolved graph as run (extends, vars, overrides and defaults applied).\nconfig_hash = \"" +
                        config_hash(config_text) + "\"\n" + config_text);
  return moved;
}

// The resolved spec as run, without the hash the runner added on top.
Value RunDir::read_config() const {
  Value config = parse_toml_file(dir_ / run_file::config);
  config.erase("config_hash");
  return config;
}

}  // namespace engine
