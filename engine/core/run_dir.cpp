#include "engine/core/run_dir.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>

namespace engine {

namespace fs = std::filesystem;

void write_text_atomic(const fs::path& path, const std::string& text) {
  fs::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) throw UserError(tmp.string() + ": cannot write (disk full or no permission?)");
  }
  fs::rename(tmp, path);
}

std::string config_hash(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

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

std::string RunDir::prepare(const std::string& config_text, const Value& spec, bool fresh) {
  fs::path config = dir_ / "config.toml";
  std::string moved;
  if (fs::exists(config)) {
    if (fresh) {
      int n = 1;
      while (fs::exists(dir_.string() + ".prev-" + std::to_string(n))) ++n;
      moved = dir_.string() + ".prev-" + std::to_string(n);
      fs::rename(dir_, moved);
    } else {
      Value old = parse_toml_file(config);
      old.erase("config_hash");
      std::string diff = differences(old, spec);
      if (!diff.empty())
        throw UserError(dir_.string() + " holds a run of a different config; these keys differ (run -> now):" + diff +
                        "\nRun with --fresh to start over (the old run is kept as " + dir_.string() +
                        ".prev-N), or with --out DIR to train elsewhere.");
      return moved;
    }
  }
  fs::create_directories(dir_);
  write_text_atomic(config, "# Resolved graph as run (extends, vars, overrides and defaults applied).\nconfig_hash = \"" +
                                config_hash(config_text) + "\"\n" + config_text);
  return moved;
}

void RunDir::append_metrics(const report::EpochRow& r) const {
  fs::path path = dir_ / "metrics.csv";
  bool header = !fs::exists(path) || fs::file_size(path) == 0;
  std::ofstream out(path, std::ios::app);
  if (header) out << "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds,img_per_s\n";
  char line[256];
  std::snprintf(line, sizeof line, "%d,%.6f,%.6f,%.6f,%.6f,%.6g,%.3f,%.1f\n", r.epoch, r.train_loss, r.train_acc,
                r.val_loss, r.val_acc, r.lr, r.seconds, r.img_per_s);
  out << line;
  out.flush();
}

std::vector<report::EpochRow> RunDir::metrics_until(int64_t epoch) const {
  fs::path path = dir_ / "metrics.csv";
  if (!fs::exists(path)) return {};
  std::vector<report::EpochRow> rows = report::read_metrics_csv(path), kept;
  for (const auto& r : rows)
    if (r.epoch <= epoch) kept.push_back(r);
  if (kept.size() != rows.size()) {
    fs::remove(path);
    for (const auto& r : kept) append_metrics(r);
  }
  return kept;
}

}  // namespace engine
