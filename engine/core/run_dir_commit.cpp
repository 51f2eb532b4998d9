// One finished epoch's files, all or nothing.
#include "engine/core/files.hpp"
#include "engine/core/run_dir.hpp"

namespace engine {

void RunDir::commit_epoch(const EpochRow& row, const std::vector<std::pair<std::string, std::string>>& files) const {
  try {
    append_metrics(row);
    std::vector<std::pair<std::filesystem::path, std::string>> paths;
    for (const auto& [name, text] : files) paths.emplace_back(dir_ / name, text);
    write_files_atomic(paths);
  } catch (const UserError& e) {
    try {
      metrics_until(row.epoch - 1);
    } catch (const std::exception&) {  // a rerun trims the row anyway; the first error is the one to report
    }
    const std::string kept = row.epoch > 1
                                 ? "keeps epoch " + std::to_string(row.epoch - 1) + " as its last complete one"
                                 : "holds no complete epoch yet";
    throw UserError(std::string(e.what()) + ". " + dir_.string() + " " + kept +
                    "; run the same command again to resume once this is fixed.");
  }
}

}  // namespace engine
