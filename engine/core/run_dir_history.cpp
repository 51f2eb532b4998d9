// metrics.csv: one row per epoch, appended and flushed as each epoch ends.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>

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
// The first kRequired are in every metrics.csv; later ones were appended since (an old file
// lacks them) and may be empty (not measured).
const std::array<const char*, 10> kColumns = {"epoch", "train_loss", "train_acc", "val_loss",        "val_acc",
                                              "lr",    "seconds",    "img_per_s", "train_eval_loss", "train_eval_acc"};
constexpr size_t kRequired = 8;
constexpr size_t kAbsent = SIZE_MAX;

std::string header_line() {
  std::string line;
  for (const char* c : kColumns) line += (line.empty() ? "" : ",") + std::string(c);
  return line;
}

using Columns = std::array<size_t, kColumns.size()>;

// Where each of kColumns is in the header (kAbsent: an optional column the file lacks).
Columns column_positions(const std::vector<std::string>& header, const fs::path& path) {
  Columns column{};
  for (size_t c = 0; c < kColumns.size(); ++c) {
    const auto it = std::find(header.begin(), header.end(), kColumns[c]);
    if (it == header.end() && c < kRequired)
      throw UserError(path.string() + ": header has no column '" + kColumns[c] + "' (expected " + header_line() + ")");
    column[c] = it == header.end() ? kAbsent : static_cast<size_t>(it - header.begin());
  }
  return column;
}

EpochRow parse_row(const std::vector<std::string>& fields, const Columns& column, const std::string& where) {
  std::array<std::optional<double>, kColumns.size()> v{};
  for (size_t c = 0; c < kColumns.size(); ++c) {
    if (column[c] == kAbsent) continue;
    const std::string& text = fields[column[c]];
    if (text.empty() && c >= kRequired) continue;
    char* end = nullptr;
    v[c] = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0')
      throw UserError(where + ": column '" + kColumns[c] + "' is not a number: '" + text + "'");
  }
  EpochRow row;
  row.epoch = static_cast<int>(*v[0]);
  double* into[] = {&row.train_loss, &row.train_acc, &row.val_loss, &row.val_acc,
                    &row.lr,         &row.seconds,   &row.img_per_s};
  for (size_t c = 1; c < kRequired; ++c) *into[c - 1] = *v[c];
  row.train_eval_loss = v[8];
  row.train_eval_acc = v[9];
  if (row.epoch != *v[0] || row.epoch < 1) throw UserError(where + ": epoch must be a whole number >= 1");
  return row;
}

std::string row_line(const EpochRow& r) {
  char line[320];
  std::snprintf(line, sizeof line, "%d,%.6f,%.6f,%.6f,%.6f,%.6g,%.3f,%.1f,", r.epoch, r.train_loss, r.train_acc,
                r.val_loss, r.val_acc, r.lr, r.seconds, r.img_per_s);
  auto optional = [](const std::optional<double>& v) {
    char text[32] = "";  // empty: not measured
    if (v) std::snprintf(text, sizeof text, "%.6f", *v);
    return std::string(text);
  };
  return line + optional(r.train_eval_loss) + "," + optional(r.train_eval_acc) + "\n";
}
}  // namespace

void RunDir::append_metrics(const EpochRow& r) const {
  fs::path path = dir_ / run_file::metrics;
  bool header = !fs::exists(path) || fs::file_size(path) == 0;
  if (!header) {
    std::string first;
    std::ifstream in(path);
    std::getline(in, first);
    if (first != header_line()) {  // written before the later columns: rewrite it with them, then append
      std::string text = header_line() + "\n";
      for (const auto& row : read_metrics()) text += row_line(row);
      write_file_atomic(path, text + row_line(r));
      return;
    }
  }
  append_file(path, (header ? header_line() + "\n" : std::string()) + row_line(r));
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
    if (row.train_eval_acc) check_fraction(*row.train_eval_acc, "train_eval_acc", where);
    rows.push_back(row);
  }
  return rows;
}

std::vector<EpochRow> RunDir::metrics_until(int64_t epoch) const {
  const fs::path path = dir_ / run_file::metrics;
  if (!fs::exists(path)) return {};
  std::vector<EpochRow> rows = read_metrics(), kept;
  for (const auto& r : rows)
    if (r.epoch <= epoch) kept.push_back(r);
  if (kept.size() != rows.size()) {
    // Rows are in epoch order, so the kept ones are the header and the lines after it: cut the
    // file after them. A truncation needs no free space and never leaves half a row.
    std::ifstream in(path, std::ios::binary);
    std::string line;
    size_t lines = 0, end = 0;
    while (lines < kept.size() + 1 && std::getline(in, line)) {
      end += line.size() + 1;
      if (!line.empty() && line != "\r") ++lines;
    }
    std::error_code ec;
    fs::resize_file(path, end, ec);
    if (ec)
      throw UserError("cannot cut " + path.string() + " back to epoch " + std::to_string(epoch) + ": " + ec.message());
  }
  return kept;
}

}  // namespace engine
