#pragma once
// One training run as the runner leaves it on disk (runs/<name>/summary.toml + metrics.csv),
// read back for the comparison report and the study's choice of winner.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace engine::report {

// One row of metrics.csv. Accuracies are fractions in [0, 1].
struct EpochRow {
  int epoch = 0;  // from 1
  double train_loss = 0, train_acc = 0, val_loss = 0, val_acc = 0;
  double lr = 0, seconds = 0, img_per_s = 0;
};

// summary.toml (all keys of the run directory contract) plus the per-epoch history.
struct RunResult {
  std::filesystem::path dir;
  std::string name, title, graph;
  std::int64_t params = 0, macs = 0;
  int epochs = 0, epochs_planned = 0;
  double best_val_acc = 0;
  int best_epoch = 0;
  double train_acc_at_best = 0, train_loss_at_best = 0, val_loss_at_best = 0;
  double final_train_acc = 0, final_val_acc = 0, final_train_loss = 0, final_val_loss = 0;
  std::int64_t val_size = 0;
  double epoch_seconds_mean = 0, total_seconds = 0, train_img_per_s = 0;
  std::string device, precision, engine_version, config_hash;
  int threads = 0;
  std::int64_t seed = 0;
  bool complete = false;
  std::vector<EpochRow> history;  // metrics.csv, in epoch order
};

// Reads <dir>/summary.toml and <dir>/metrics.csv. A missing or malformed file, a missing key the
// report relies on, or an accuracy outside [0, 1] is an engine::UserError naming the file.
// Keys the report only displays (device, seed, ...) may be absent and keep their defaults.
RunResult read_run(const std::filesystem::path& dir);

// metrics.csv alone (columns found by header name; all eight are required).
std::vector<EpochRow> read_metrics_csv(const std::filesystem::path& path);

}  // namespace engine::report
