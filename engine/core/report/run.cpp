#include "engine/core/report/run.hpp"

#include <spdlog/spdlog.h>
#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "engine/core/error.hpp"

namespace engine::report {
namespace fs = std::filesystem;

namespace {

std::vector<std::string> split_csv_line(std::string line) {
  if (!line.empty() && line.back() == '\r') line.pop_back();
  std::vector<std::string> fields;
  std::stringstream in(line);
  for (std::string field; std::getline(in, field, ',');) fields.push_back(field);
  if (!line.empty() && line.back() == ',') fields.emplace_back();
  return fields;
}

void check_fraction(double value, const std::string& what, const std::string& where) {
  if (!(value >= 0.0 && value <= 1.0))
    throw UserError(where + ": " + what + " = " + std::to_string(value) +
                    " is not a fraction in [0, 1] (accuracies are stored as fractions, not %)");
}

// Typed access to summary.toml with errors that name the file and the key.
class SummaryReader {
 public:
  SummaryReader(const toml::table& table, fs::path path) : table_(table), path_(std::move(path)) {}

  template <typename T>
  void get(const char* key, T& out, bool required) const {
    const auto node = table_[key];
    if (!node) {
      if (required) throw UserError(path_.string() + ": missing key '" + key + "'");
      return;
    }
    std::optional<T> value;
    if constexpr (std::is_same_v<T, double>) {
      value = node.value<double>();  // an integer like `total_seconds = 12` is fine too
    } else if constexpr (std::is_same_v<T, int>) {
      if (auto v = node.value_exact<std::int64_t>()) value = static_cast<int>(*v);
    } else {
      value = node.value_exact<T>();
    }
    if (!value) throw UserError(path_.string() + ": key '" + key + "' has the wrong type (" + type_name<T>() + " expected)");
    out = *value;
  }

 private:
  template <typename T>
  static const char* type_name() {
    if constexpr (std::is_same_v<T, std::string>) return "string";
    if constexpr (std::is_same_v<T, bool>) return "boolean";
    if constexpr (std::is_same_v<T, double>) return "number";
    return "integer";
  }
  const toml::table& table_;
  fs::path path_;
};

}  // namespace

std::vector<EpochRow> read_metrics_csv(const fs::path& path) {
  std::ifstream file(path);
  if (!file) throw UserError(path.string() + ": file not found");
  std::string line;
  if (!std::getline(file, line)) throw UserError(path.string() + ": empty file (expected a header row)");
  const auto header = split_csv_line(line);

  static const std::array<const char*, 8> kColumns = {"epoch",   "train_loss", "train_acc", "val_loss",
                                                      "val_acc", "lr",         "seconds",   "img_per_s"};
  std::array<std::size_t, 8> column{};
  for (std::size_t c = 0; c < kColumns.size(); ++c) {
    const auto it = std::find(header.begin(), header.end(), kColumns[c]);
    if (it == header.end())
      throw UserError(path.string() + ": header has no column '" + kColumns[c] +
                      "' (expected epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds,img_per_s)");
    column[c] = static_cast<std::size_t>(it - header.begin());
  }

  std::vector<EpochRow> rows;
  for (int line_no = 2; std::getline(file, line); ++line_no) {
    if (line.empty() || line == "\r") continue;
    const auto fields = split_csv_line(line);
    const std::string where = path.string() + ":" + std::to_string(line_no);
    if (fields.size() != header.size())
      throw UserError(where + ": " + std::to_string(fields.size()) + " fields, header has " +
                      std::to_string(header.size()));
    std::array<double, 8> v{};
    for (std::size_t c = 0; c < kColumns.size(); ++c) {
      const std::string& text = fields[column[c]];
      char* end = nullptr;
      v[c] = std::strtod(text.c_str(), &end);
      if (text.empty() || *end != '\0')
        throw UserError(where + ": column '" + kColumns[c] + "' is not a number: '" + text + "'");
    }
    EpochRow row{static_cast<int>(v[0]), v[1], v[2], v[3], v[4], v[5], v[6], v[7]};
    if (row.epoch != v[0] || row.epoch < 1) throw UserError(where + ": epoch must be a whole number >= 1");
    if (!rows.empty() && row.epoch <= rows.back().epoch)
      throw UserError(where + ": epochs must increase (epoch " + std::to_string(row.epoch) + " after " +
                      std::to_string(rows.back().epoch) + ")");
    check_fraction(row.train_acc, "train_acc", where);
    check_fraction(row.val_acc, "val_acc", where);
    rows.push_back(row);
  }
  return rows;
}

RunResult read_run(const fs::path& dir) {
  if (!fs::is_directory(dir)) throw UserError(dir.string() + ": run directory not found");
  const fs::path summary_path = dir / "summary.toml";
  if (!fs::is_regular_file(summary_path)) throw UserError(summary_path.string() + ": file not found");
  toml::table table;
  try {
    table = toml::parse_file(summary_path.string());
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    throw UserError(summary_path.string() + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) +
                    ": invalid TOML: " + std::string(e.description()));
  }

  RunResult r;
  r.dir = dir;
  const SummaryReader s(table, summary_path);
  // What the report computes with is required; what it only displays is optional.
  s.get("name", r.name, true);
  s.get("title", r.title, true);
  s.get("params", r.params, true);
  s.get("epochs", r.epochs, true);
  s.get("best_val_acc", r.best_val_acc, true);
  s.get("best_epoch", r.best_epoch, true);
  s.get("train_acc_at_best", r.train_acc_at_best, true);
  s.get("val_size", r.val_size, true);
  s.get("epoch_seconds_mean", r.epoch_seconds_mean, true);
  s.get("total_seconds", r.total_seconds, true);
  r.epochs_planned = r.epochs;
  r.complete = true;
  s.get("graph", r.graph, false);
  s.get("macs", r.macs, false);
  s.get("epochs_planned", r.epochs_planned, false);
  s.get("train_loss_at_best", r.train_loss_at_best, false);
  s.get("val_loss_at_best", r.val_loss_at_best, false);
  s.get("final_train_acc", r.final_train_acc, false);
  s.get("final_val_acc", r.final_val_acc, false);
  s.get("final_train_loss", r.final_train_loss, false);
  s.get("final_val_loss", r.final_val_loss, false);
  s.get("train_img_per_s", r.train_img_per_s, false);
  s.get("device", r.device, false);
  s.get("threads", r.threads, false);
  s.get("precision", r.precision, false);
  s.get("seed", r.seed, false);
  s.get("engine_version", r.engine_version, false);
  s.get("config_hash", r.config_hash, false);
  s.get("complete", r.complete, false);

  const std::string where = summary_path.string();
  check_fraction(r.best_val_acc, "best_val_acc", where);
  check_fraction(r.train_acc_at_best, "train_acc_at_best", where);
  if (r.val_size <= 0) throw UserError(where + ": val_size must be > 0");
  if (r.params < 0) throw UserError(where + ": params must be >= 0");

  r.history = read_metrics_csv(dir / "metrics.csv");
  if (!r.history.empty()) {
    const auto best = std::max_element(r.history.begin(), r.history.end(),
                                       [](const EpochRow& a, const EpochRow& b) { return a.val_acc < b.val_acc; });
    if (std::abs(best->val_acc - r.best_val_acc) > 1e-6)
      spdlog::warn("{}: best_val_acc {} differs from the best val_acc in metrics.csv ({})", where,
                   r.best_val_acc, best->val_acc);
  }
  return r;
}

}  // namespace engine::report
