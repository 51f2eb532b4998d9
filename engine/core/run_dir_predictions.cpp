// val_predictions.csv: index,label,prediction per val image.
#include <fstream>

#include "engine/core/files.hpp"
#include "engine/core/run_dir.hpp"

namespace engine {

void RunDir::write_val_predictions(const ValPredictions& p) const {
  std::string text = "index,label,prediction\n";
  for (size_t k = 0; k < p.labels.size(); ++k)
    text += std::to_string(k) + "," + std::to_string(p.labels[k]) + "," + std::to_string(p.predictions[k]) + "\n";
  write_file_atomic(dir_ / run_file::val_predictions, text);
}

std::optional<ValPredictions> RunDir::read_val_predictions() const {
  std::filesystem::path file = dir_ / run_file::val_predictions;
  std::ifstream in(file);
  if (!in) return std::nullopt;
  ValPredictions p;
  std::string line;
  std::getline(in, line);
  if (line != "index,label,prediction") throw UserError(file.string() + ": not a val_predictions.csv (header)");
  for (int row = 2; std::getline(in, line); ++row) {
    std::vector<std::string> f = split_csv(line);
    try {
      if (f.size() != 3 || std::stoll(f[0]) != row - 2) throw std::invalid_argument("row");
      p.labels.push_back(std::stoll(f[1]));
      p.predictions.push_back(std::stoll(f[2]));
    } catch (const std::exception&) {
      throw UserError(file.string() + ":" + std::to_string(row) + ": expected index,label,prediction");
    }
  }
  return p;
}

}  // namespace engine
