#pragma once
// runs/<name>/: what a run leaves behind, and the rules that keep it consistent —
// a changed config is refused (or moved aside with --fresh), metrics.csv is flushed per
// epoch and trimmed back to the last checkpoint on resume, files are replaced atomically.
#include <filesystem>
#include <string>
#include <vector>

#include "engine/core/report/run.hpp"
#include "engine/core/spec.hpp"

namespace engine {

// Writes to a temporary name, then renames: readers never see half a file.
void write_text_atomic(const std::filesystem::path& path, const std::string& text);

std::string config_hash(const std::string& text);  // 16 hex digits (FNV-1a 64)

// Keys that may change between invocations of one run without changing its results.
const std::vector<std::string>& runtime_keys();

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
  std::string prepare(const std::string& config_text, const Value& spec, bool fresh);

  void append_metrics(const report::EpochRow& row) const;
  // Drops rows after `epoch` (written after the last checkpoint) and returns the rest.
  std::vector<report::EpochRow> metrics_until(int64_t epoch) const;

 private:
  std::filesystem::path dir_;
};

}  // namespace engine
