#include "engine/core/run_dir.hpp"

#include <algorithm>

#include "engine/core/files.hpp"

namespace engine {

namespace fs = std::filesystem;

std::string config_hash(const std::string& text) { return hex64(hash_string(text)); }

const std::vector<std::string>& runtime_keys() {
  static const std::vector<std::string> keys{"train.threads", "train.device", "train.eval_batch_size", "data.root",
                                             "data.cache"};
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

std::string RunDir::prepare(const std::string& config_text, const Value& spec, bool fresh) const {
  std::string moved;
  if (fs::exists(dir_ / run_file::config)) {
    if (fresh) {
      int n = 1;
      while (fs::exists(dir_.string() + ".prev-" + std::to_string(n))) ++n;
      moved = dir_.string() + ".prev-" + std::to_string(n);
      fs::rename(dir_, moved);
    } else {
      std::string diff = differences(read_config(), spec);
      if (!diff.empty())
        throw UserError(dir_.string() + " holds a run of a different config; these keys differ (run -> now):" + diff +
                        "\nRun with --fresh to start over (the old run is kept as " + dir_.string() +
                        ".prev-N), or with --out DIR to train elsewhere.");
      return moved;
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
