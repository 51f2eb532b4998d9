#pragma once
// runs/<name>/data.toml: what a trained model needs to read new images the way it was trained —
// its classes in label order and the normalisation the run used ([data].mean/std when given,
// else the train split's statistics). Written by the runner; read by predict and export.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace engine {

struct RunData {
  std::vector<std::string> wnids;      // label order
  std::vector<std::string> names;      // short human name per class, from words.txt
  std::vector<double> mean, std;       // per RGB channel in [0, 1]
};

void write_run_data(const std::filesystem::path& run_dir, const RunData& data);

// nullopt when the run predates data.toml; a malformed file is a UserError naming it.
std::optional<RunData> read_run_data(const std::filesystem::path& run_dir);

}  // namespace engine
