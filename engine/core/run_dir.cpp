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
      if (diff.empty()) return moved;
      EpochsExtension more = epochs_extension(old, spec);
      if (!more.only_epochs_grew)
        throw UserError(dir_.string() + " holds a run of a different config; these keys differ (run -> now):" + diff +
                        "\nRun with --fresh to start over (the old run is kept as " + dir_.string() +
                        ".prev-N), or with --out DIR to train elsewhere.");
      if (!more.schedule_independent)
        throw UserError(dir_.string() + " cannot be extended from train.epochs = " + std::to_string(more.from) + " to " +
                        std::to_string(more.to) + ": its scheduler '" + more.scheduler +
                        "' spreads the learning-rate decay over train.epochs, so the epochs it trained on a " +
                        std::to_string(more.from) + "-epoch schedule would not match the first epochs of a " +
                        std::to_string(more.to) + "-epoch run. Run with --fresh to train " + std::to_string(more.to) +
                        " epochs from the start (the old run is kept as " + dir_.string() +
                        ".prev-N), or with --out DIR to train elsewhere. (Runs with scheduler none or step can be "
                        "extended.)");
      // Extended: the run continues from its last checkpoint under the new total.
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
