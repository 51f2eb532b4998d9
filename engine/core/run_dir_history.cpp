// metrics.csv: one row per epoch, appended and flushed as each epoch ends.
#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "engine/core/files.hpp"
#include "engine/core/run_dir.hpp"

namespace engine {

namespace fs = std::filesystem;

void run_dir_detail::check_fraction(double value, const std::string& what, const std::string& where) {
  if (!(value >= 0.0 && value <= 1.0))
    throw UserError(where + ": " + what + " = " + std::to_string(value) +
                    " is not a fraction in [0, 1] (accuracies are stored as fractions, not %)");
}

namespace {
using run_dir_detail::check_fraction;
const std::array<const char*, 8> kColumns = {"epoch",   "train_loss", "train_acc", "val_loss",
                                             "val_acc", "lr",         "seconds",   "img_per_s"};

std::string header_line() {
  std::string line;
  for (const char* c : kColumns) line += (line.empty() ? "" : ",") + std::string(c);
  return line;
}

// Where each of kColumns is in the header.
std::array<size_t, 8> column_positions(const std::vector<std::string>& header, const fs::path& path) {
  std::array<size_t, 8> column{};
  for (size_t c = 0; c < kColumns.size(); ++c) {
    const auto it = std::find(header.begin(), header.end(), kColumns[c]);
    if (it == header.end())
      throw UserError(path.string() + ": header has no column '" + kColumns[c] +
                      "' (expected " + header_line() + ")");
    column[c] = static_cast<size_t>(it - header.begin());
  }
  return column;
}

EpochRow parse_row(const std::vector<std::string>& fields, const std::array<size_t, 8>& column,
                   const std::string& where) {
  std::array<double, 8> v{};
  for (size_t c = 0; c < kColumns.size(); ++c) {
    const std::string& text = fields[column[c]];
    char* end = nullptr;
    v[c] = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0')
      throw UserError(where + ": column '" + kColumns[c] + "' is not a number: '" + text + "'");
  }
  EpochRow row{static_cast<int>(v[0]), v[1], v[2], v[3], v[4], v[5], v[6], v[7]};
  if (row.epoch != v[0] || row.epoch < 1) throw UserError(where + ": epoch must be a whole number >= 1");
  return row;
}
}  // namespace

void RunDir::append_metrics(const EpochRow& r) const {
  fs::path path = dir_ / run_file::metrics;
  bool header = !fs::exists(path) || fs::file_size(path) == 0;
  std::ofstream out(path, std::ios::app);
  if (header) out << header_line() << "\n";
  char line[256];
  std::snprintf(line, sizeof line, "%d,%.6f,%.6f,%.6f,%.6f,%.6g,%.3f,%.1f\n", r.epoch, r.train_loss, r.train_acc,
                r.val_loss, r.val_acc, r.lr, r.seconds, r.img_per_s);
  out << line;
  out.flush();
}

std::vector<EpochRow> RunDir::read_metrics() const {
  const fs::path path = dir_ / run_file::metrics;
  std::ifstream file(path);
  if (!file) throw UserError(path.string() + ": file not found");
  std::string line;
  if (!std::getline(file, line)) throw UserError(path.string() + ": empty file (expected a header row)");
  const auto header = split_csv(line);
  const auto column = column_positions(header, path);
  std::vector<EpochRow> rows;
  for (int line_no = 2; std::getline(file, line); ++line_no) {
    if (line.empty() || line == "\r") continue;
    const auto fields = split_csv(line);
    const std::string where = path.string() + ":" + std::to_string(line_no);
    if (fields.size() != header.size())
      throw UserError(where + ": " + std::to_string(fields.size()) + " fields, header has " +
                      std::to_string(header.size()));
    EpochRow row = parse_row(fields, column, where);
    if (!rows.empty() && row.epoch <= rows.back().epoch)
      throw UserError(where + ": epochs must increase (epoch " + std::to_string(row.epoch) + " after " +
                      std::to_string(rows.back().epoch) + ")");
    check_fraction(row.train_acc, "train_acc", where);
    check_fraction(row.val_acc, "val_acc", where);
    rows.push_back(row);
  }
  return rows;
}

std::vector<EpochRow> RunDir::metrics_until(int64_t epoch) const {
  if (!fs::exists(dir_ / run_file::metrics)) return {};
  std::vector<EpochRow> rows = read_metrics(), kept;
  for (const auto& r : rows)
    if (r.epoch <= epoch) kept.push_back(r);
  if (kept.size() != rows.size()) {
    fs::remove(dir_ / run_file::metrics);
    for (const auto& r : kept) append_metrics(r);
  }
  return kept;
}

}  // namespace engine
