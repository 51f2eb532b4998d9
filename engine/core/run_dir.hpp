#pragma once
// runs/<name>/: every file a run leaves behind, written and read here only, and the rules that
// keep it consistent: a changed config is refused (or moved aside with --fresh), metrics.csv
// is flushed per epoch and trimmed back to the last checkpoint on resume, files are replaced
// atomically.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/core/eval/metrics.hpp"
#include "engine/core/spec.hpp"

namespace engine {

// The files of a run directory, named here only.
namespace run_file {
inline constexpr const char* config = "config.toml";
inline constexpr const char* metrics = "metrics.csv";
inline constexpr const char* summary = "summary.toml";
inline constexpr const char* best = "best.pt";
inline constexpr const char* last = "last.pt";
inline constexpr const char* model = "model.txt";
inline constexpr const char* drawing = "architecture.svg";
inline constexpr const char* log = "train.log";
inline constexpr const char* data = "data.toml";
inline constexpr const char* val_predictions = "val_predictions.csv";
inline constexpr const char* test_dir = "test";
inline constexpr const char* test_metrics = "test/metrics.toml";
inline constexpr const char* test_report = "test/report.txt";
inline constexpr const char* confusion_csv = "test/confusion.csv";
inline constexpr const char* confusion_png = "test/confusion.png";
inline constexpr const char* samples = "test/samples.png";
}  // namespace run_file

// One row of metrics.csv. Accuracies are fractions in [0, 1].
struct EpochRow {
  int epoch = 0;                                                    // from 1
  double train_loss = 0, train_acc = 0, val_loss = 0, val_acc = 0;  // train_*: running, on augmented batches
  double lr = 0, seconds = 0, img_per_s = 0;
  // The train probe, evaluated like val (eval mode, no augmentation); absent when [train].train_probe
  // is 0 and in files written before it existed.
  std::optional<double> train_eval_loss, train_eval_acc;
};

// What best.pt and last.pt hold besides tensors. The torch layer stores each field under the
// key for_each_checkpoint_key gives it.
struct CheckpointInfo {
  int64_t epoch = 0;  // epochs completed when it was written
  double best_val_acc = -1;
  int64_t best_epoch = 0;
};

template <class Info, class F>  // Info: CheckpointInfo or const CheckpointInfo
void for_each_checkpoint_key(Info& info, F&& f) {
  f("epoch", info.epoch);
  f("best_val_acc", info.best_val_acc);
  f("best_epoch", info.best_epoch);
}

// summary.toml (one key per field, listed in run_dir_summary.cpp) plus metrics.csv as history.
struct RunResult {
  std::filesystem::path dir;  // where it was read from
  std::string name, title, graph;
  int64_t params = 0, macs = 0;
  int epochs = 0, epochs_planned = 0;
  double best_val_acc = 0;
  int best_epoch = 0;
  double train_acc_at_best = 0, train_loss_at_best = 0, val_loss_at_best = 0;
  double final_train_acc = 0, final_val_acc = 0, final_train_loss = 0, final_val_loss = 0;
  std::optional<double> train_eval_acc_at_best, final_train_eval_acc;  // absent without a train probe
  int64_t val_size = 0;
  double epoch_seconds_mean = 0, total_seconds = 0, train_img_per_s = 0;
  double overhead_fraction_last_epoch = 0;  // time outside forward/backward/step
  double peak_rss_mb = 0;                   // peak resident memory of the processes that trained it (0: not recorded)
  std::string device;
  int threads = 0;
  std::string precision, memory_format;
  std::string kernels;   // [train].kernels as run: "auto" (ours where chosen) or "aten"
  std::string cpu_isa;   // oneDNN's instruction set as the run used it ("avx512_core_bf16"; empty on CUDA)
  std::string loop_isa;  // the build of our kernels' loops it ran ("avx512", "avx2", "baseline"; empty on CUDA)
  // Convolution shape -> the kernel the plan measured fastest for it ([conv_kernels]; empty:
  // the engine's rules alone), so a resume, `engine test` and `engine predict` take the same.
  std::map<std::string, std::string> conv_kernels;
  int64_t seed = 0;
  std::string engine_version, config_hash;
  bool complete = false;
  std::vector<EpochRow> history;  // metrics.csv, in epoch order
};

// Sets the figures that follow from r.history and the best checkpoint: epochs, best_*, *_at_best,
// final_*, times, complete (against r.epochs_planned).
void update_from_history(RunResult& r, const CheckpointInfo& best);
// The text of summary.toml (RunDir::write_summary writes it), for writing it with other files.
std::string summary_toml(const RunResult& r);

// Flip test-time augmentation (the mean of the logits of each image and its mirror image): the
// accuracy with and without it, from one pass, and whether `used` for TestMetrics::metrics.
struct TtaAccuracy {
  double without_tta = 0, with_tta = 0;
  bool used = false;
};

// test/metrics.toml: the test split's metrics and the label of each class.
struct TestMetrics {
  eval::Metrics metrics;  // of the predictions the report uses (with TTA when tta->used)
  std::vector<eval::ClassLabel> labels;
  std::optional<TtaAccuracy> tta;  // absent in files written before flip TTA was measured
};

// val_predictions.csv: the best epoch's prediction for each val image, in val-split order, so
// two runs on the same val split can be compared image by image (McNemar's test).
struct ValPredictions {
  std::vector<int64_t> labels, predictions;  // index k: the val split's k-th image
};
// The text of val_predictions.csv, for writing it with other files.
std::string val_predictions_csv(const ValPredictions& v);

// test/confusion.csv: the matrix and the class names of its rows and columns.
struct ConfusionFile {
  eval::ConfusionMatrix matrix;
  std::vector<std::string> class_names;
};

std::string config_hash(const std::string& text);  // 16 hex digits (hash_string)

// Keys that may change between invocations of one run without changing its results.
const std::vector<std::string>& runtime_keys();

namespace run_dir_detail {
// An accuracy read from a run file must be a fraction; `where` names the file (and line).
void check_fraction(double value, const std::string& what, const std::string& where);
}  // namespace run_dir_detail

// Readers throw a UserError naming the file for anything missing or malformed.

// Whether a run may continue under `new_spec` although its config.toml differs: only
// train.epochs changed, and it grew. `schedule_independent` says whether the learning rate of
// the epochs already trained is the same for the new total (scheduler none or step; cosine
// spreads its decay over train.epochs, so its earlier epochs would not match).
struct EpochsExtension {
  bool only_epochs_grew = false;
  bool schedule_independent = false;
  int64_t from = 0, to = 0;
  std::string scheduler;
};
EpochsExtension epochs_extension(const Value& old_spec, const Value& new_spec);

// data.toml: what a trained model needs to read new images the way it was trained — its
// classes in label order and the normalisation the run used ([data].mean/std when given, else
// the train split's statistics). Written by the runner; read by predict and export.
struct RunData {
  std::vector<std::string> wnids;  // label order
  std::vector<std::string> names;  // short human name per class, from words.txt
  std::vector<double> mean, std;   // per RGB channel in [0, 1]
};

void write_run_data(const std::filesystem::path& run_dir, const RunData& data);

// nullopt when the run predates data.toml; a malformed file is a UserError naming it.
std::optional<RunData> read_run_data(const std::filesystem::path& run_dir);

class RunDir {
 public:
  explicit RunDir(std::filesystem::path dir) : dir_(std::move(dir)) {}
  const std::filesystem::path& path() const { return dir_; }
  std::filesystem::path operator/(const std::string& name) const { return dir_ / name; }

  // Creates the directory and config.toml for a new run. An existing run must have the same
  // config (else UserError listing the keys that differ); with `fresh` it is moved aside to
  // <dir>.prev-N instead and the new run starts empty. Returns where an old run went, or "".
  // A run whose config differs only by a larger train.epochs is extended (config.toml gets the
  // new total) when its schedule does not depend on the total; else the refusal says why.
  std::string prepare(const std::string& config_text, const Value& spec, bool fresh) const;
  Value read_config() const;

  void append_metrics(const EpochRow& row) const;
  // Columns found by header name: the first eight required, train_eval_* optional (old files).
  std::vector<EpochRow> read_metrics() const;
  // Drops rows after `epoch` (written after the last checkpoint) and returns the rest.
  std::vector<EpochRow> metrics_until(int64_t epoch) const;

  void write_summary(const RunResult& r) const;
  // summary.toml and metrics.csv. Keys the report computes with are required; keys it only
  // displays (device, seed, ...) may be absent and keep their defaults.
  RunResult read_result() const;

  void write_test_metrics(const eval::Metrics& m, const std::vector<eval::ClassLabel>& labels,
                          const std::optional<TtaAccuracy>& tta = std::nullopt) const;
  bool has_test_metrics() const;
  TestMetrics read_test_metrics() const;
  // Names are quoted when they hold a comma.
  void write_confusion(const eval::ConfusionMatrix& m, const std::vector<std::string>& class_names) const;
  bool has_confusion() const;
  ConfusionFile read_confusion() const;

  // Replaced (atomically) each time an epoch becomes the best, so it always matches best.pt.
  void write_val_predictions(const ValPredictions& v) const;

  // The files of one finished epoch, all or nothing: `row` is appended to metrics.csv, then
  // `files` (run_file names and their contents; last.pt last, the commit point a rerun resumes
  // from) are replaced together. When a write fails (disk full, file too large, read-only) the
  // row is cut off again and every file stays as the previous epoch left it; the UserError
  // names the file, the cause and the epoch the directory keeps.
  void commit_epoch(const EpochRow& row, const std::vector<std::pair<std::string, std::string>>& files) const;
  bool has_val_predictions() const;
  ValPredictions read_val_predictions() const;

 private:
  std::filesystem::path dir_;
};

}  // namespace engine
