// test/: what `engine test` leaves for the report: metrics.toml and confusion.csv.
#include <charconv>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "engine/core/files.hpp"
#include "engine/core/run_dir.hpp"

namespace engine {

namespace fs = std::filesystem;

void RunDir::write_test_metrics(const eval::Metrics& m, const std::vector<eval::ClassLabel>& labels,
                                const std::optional<TtaAccuracy>& tta) const {
  if (labels.size() != m.classes.size())
    throw std::invalid_argument("write_test_metrics: " + std::to_string(labels.size()) + " labels for " +
                                std::to_string(m.classes.size()) + " classes");
  std::ostringstream out;
  auto averages = [&](const char* table, const eval::AverageScores& a) {
    out << "\n[" << table << "]\nprecision = " << toml_float(a.precision) << "\nrecall = " << toml_float(a.recall)
        << "\nf1 = " << toml_float(a.f1) << "\n";
  };
  out << "# Test-set metrics (scikit-learn semantics, zero_division=0).\n"
      << "accuracy = " << toml_float(m.accuracy) << "\n"
      << "total = " << m.total << "\n";
  if (tta)
    out << "\n# Flip TTA (mean logits of each image and its mirror image), measured in the same pass;\n"
        << "# `used`: whether accuracy and every table here are of the TTA predictions.\n[tta]\nused = "
        << (tta->used ? "true" : "false") << "\naccuracy_without_tta = " << toml_float(tta->without_tta)
        << "\naccuracy_with_tta = " << toml_float(tta->with_tta) << "\n";
  averages("macro", m.macro);
  averages("weighted", m.weighted);
  for (size_t c = 0; c < labels.size(); ++c) {
    const auto& s = m.classes[c];
    out << "\n[[classes]]\nindex = " << c << "\nwnid = " << toml_quote(labels[c].wnid)
        << "\nname = " << toml_quote(labels[c].name) << "\nprecision = " << toml_float(s.precision)
        << "\nrecall = " << toml_float(s.recall) << "\nf1 = " << toml_float(s.f1) << "\nsupport = " << s.support
        << "\n";
  }
  write_file_atomic(dir_ / run_file::test_metrics, out.str());
}

bool RunDir::has_test_metrics() const { return fs::is_regular_file(dir_ / run_file::test_metrics); }

namespace {
// One [[classes]] entry: its scores and its label.
void read_class(const Value& t, size_t index, const fs::path& path, TestMetrics& out) {
  const std::string where = "classes[" + std::to_string(index) + "].";
  if (!t.is(Value::Kind::Table)) throw UserError(path.string() + ": " + where + " is not a table");
  auto key = [&](const char* k) -> const Value& { return toml_key(t, k, path, where); };
  if (key("index").as_int(where + "index") != static_cast<int64_t>(index))
    throw UserError(path.string() + ": [[classes]] must be listed by index 0, 1, 2, ...");
  eval::ClassScores s;
  s.precision = key("precision").as_float(where + "precision");
  s.recall = key("recall").as_float(where + "recall");
  s.f1 = key("f1").as_float(where + "f1");
  s.support = key("support").as_int(where + "support");
  out.metrics.classes.push_back(s);
  out.labels.push_back({key("wnid").as_string(where + "wnid"), key("name").as_string(where + "name")});
}
}  // namespace

TestMetrics RunDir::read_test_metrics() const {
  const fs::path path = dir_ / run_file::test_metrics;
  const Value root = read_toml(path);
  TestMetrics out;
  auto& m = out.metrics;
  m.accuracy = toml_key(root, "accuracy", path).as_float("accuracy");
  m.total = toml_key(root, "total", path).as_int("total");
  for (auto [name, avg] : {std::pair{"macro", &m.macro}, std::pair{"weighted", &m.weighted}}) {
    const Value* table = root.find(name);
    if (!table || !table->is(Value::Kind::Table)) throw UserError(path.string() + ": missing table [" + name + "]");
    const std::string where = std::string(name) + ".";
    avg->precision = toml_key(*table, "precision", path, where).as_float(where + "precision");
    avg->recall = toml_key(*table, "recall", path, where).as_float(where + "recall");
    avg->f1 = toml_key(*table, "f1", path, where).as_float(where + "f1");
  }
  if (const Value* t = root.find("tta")) {
    if (!t->is(Value::Kind::Table)) throw UserError(path.string() + ": [tta] is not a table");
    TtaAccuracy tta;
    tta.used = toml_key(*t, "used", path, "tta.").as_bool("tta.used");
    tta.without_tta = toml_key(*t, "accuracy_without_tta", path, "tta.").as_float("tta.accuracy_without_tta");
    tta.with_tta = toml_key(*t, "accuracy_with_tta", path, "tta.").as_float("tta.accuracy_with_tta");
    out.tta = tta;
  }
  const Value* classes = root.find("classes");
  if (!classes || !classes->is(Value::Kind::Array)) throw UserError(path.string() + ": missing [[classes]]");
  for (size_t i = 0; i < classes->items.size(); ++i) read_class(classes->items[i], i, path, out);
  return out;
}

void RunDir::write_confusion(const eval::ConfusionMatrix& matrix, const std::vector<std::string>& class_names) const {
  if (class_names.size() != matrix.size())
    throw std::invalid_argument("write_confusion: " + std::to_string(class_names.size()) + " names for a " +
                                std::to_string(matrix.size()) + "-class matrix");
  std::string out = "true\\predicted";
  for (const auto& name : class_names) out += "," + csv_field(name);
  out += "\n";
  for (size_t r = 0; r < matrix.size(); ++r) {
    out += csv_field(class_names[r]);
    for (auto count : matrix[r]) out += "," + std::to_string(count);
    out += "\n";
  }
  write_file_atomic(dir_ / run_file::confusion_csv, out);
}

bool RunDir::has_confusion() const { return fs::is_regular_file(dir_ / run_file::confusion_csv); }

namespace {
std::vector<int64_t> parse_counts(const std::vector<std::string>& fields, const std::string& where) {
  std::vector<int64_t> row;
  for (size_t j = 1; j < fields.size(); ++j) {
    int64_t count = 0;
    const auto* end = fields[j].data() + fields[j].size();
    const auto res = std::from_chars(fields[j].data(), end, count);
    if (fields[j].empty() || res.ptr != end || res.ec != std::errc() || count < 0)
      throw UserError(where + ": '" + fields[j] + "' is not a count");
    row.push_back(count);
  }
  return row;
}
}  // namespace

ConfusionFile RunDir::read_confusion() const {
  const fs::path path = dir_ / run_file::confusion_csv;
  std::ifstream file(path);
  if (!file) throw UserError(path.string() + ": file not found");
  std::string line;
  if (!std::getline(file, line)) throw UserError(path.string() + ": empty file");
  ConfusionFile out;
  auto header = split_csv(line);
  out.class_names.assign(header.begin() + 1, header.end());
  const size_t k = out.class_names.size();
  for (int line_no = 2; std::getline(file, line); ++line_no) {
    if (line.empty() || line == "\r") continue;
    const auto fields = split_csv(line);
    const std::string where = path.string() + ":" + std::to_string(line_no);
    if (fields.size() != k + 1)
      throw UserError(where + ": " + std::to_string(fields.size()) + " fields, expected " + std::to_string(k + 1));
    out.matrix.push_back(parse_counts(fields, where));
  }
  if (out.matrix.size() != k)
    throw UserError(path.string() + ": " + std::to_string(out.matrix.size()) + " rows for " + std::to_string(k) +
                    " classes");
  return out;
}

}  // namespace engine
