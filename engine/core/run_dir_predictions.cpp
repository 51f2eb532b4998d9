// val_predictions.csv: index,label,prediction per val image at the best epoch.
#include <charconv>
#include <fstream>
#include <stdexcept>

#include "engine/core/files.hpp"
#include "engine/core/run_dir.hpp"

namespace engine {

namespace fs = std::filesystem;

std::string val_predictions_csv(const ValPredictions& v) {
  if (v.labels.size() != v.predictions.size())
    throw std::invalid_argument("write_val_predictions: " + std::to_string(v.labels.size()) + " labels, " +
                                std::to_string(v.predictions.size()) + " predictions");
  std::string out = "index,label,prediction\n";
  for (size_t k = 0; k < v.labels.size(); ++k)
    out += std::to_string(k) + "," + std::to_string(v.labels[k]) + "," + std::to_string(v.predictions[k]) + "\n";
  return out;
}

void RunDir::write_val_predictions(const ValPredictions& v) const {
  write_file_atomic(dir_ / run_file::val_predictions, val_predictions_csv(v));
}

bool RunDir::has_val_predictions() const { return fs::is_regular_file(dir_ / run_file::val_predictions); }

ValPredictions RunDir::read_val_predictions() const {
  const fs::path path = dir_ / run_file::val_predictions;
  std::ifstream file(path);
  if (!file) throw UserError(path.string() + ": file not found");
  std::string line;
  if (!std::getline(file, line) || split_csv(line) != std::vector<std::string>{"index", "label", "prediction"})
    throw UserError(path.string() + ": expected the header index,label,prediction");
  ValPredictions v;
  for (int line_no = 2; std::getline(file, line); ++line_no) {
    if (line.empty() || line == "\r") continue;
    const auto fields = split_csv(line);
    const std::string where = path.string() + ":" + std::to_string(line_no);
    int64_t n[3] = {};
    for (size_t c = 0; c < 3 && fields.size() == 3; ++c) {
      const char* end = fields[c].data() + fields[c].size();
      const auto res = std::from_chars(fields[c].data(), end, n[c]);
      if (fields[c].empty() || res.ptr != end || res.ec != std::errc() || n[c] < 0)
        throw UserError(where + ": '" + fields[c] + "' is not a whole number >= 0");
    }
    if (fields.size() != 3) throw UserError(where + ": expected 3 fields (index,label,prediction)");
    if (n[0] != static_cast<int64_t>(v.labels.size()))
      throw UserError(where + ": index " + std::to_string(n[0]) + " out of order (rows are in val-split order)");
    v.labels.push_back(n[1]);
    v.predictions.push_back(n[2]);
  }
  return v;
}

}  // namespace engine
