#include "engine/core/eval/metrics.hpp"

#include "engine/core/spec.hpp"

#include <toml++/toml.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "engine/core/error.hpp"

namespace engine::eval {

ConfusionMatrix confusion_matrix(const std::vector<std::int64_t>& true_labels,
                                 const std::vector<std::int64_t>& pred_labels, int num_classes) {
  if (true_labels.size() != pred_labels.size())
    throw std::invalid_argument("confusion_matrix: " + std::to_string(true_labels.size()) +
                                " true labels but " + std::to_string(pred_labels.size()) +
                                " predictions");
  if (num_classes <= 0) throw std::invalid_argument("confusion_matrix: num_classes must be > 0");
  ConfusionMatrix matrix(num_classes, std::vector<std::int64_t>(num_classes, 0));
  for (std::size_t i = 0; i < true_labels.size(); ++i) {
    const auto t = true_labels[i], p = pred_labels[i];
    if (t < 0 || t >= num_classes || p < 0 || p >= num_classes)
      throw std::invalid_argument("confusion_matrix: label out of range [0, " +
                                  std::to_string(num_classes) + ") at index " + std::to_string(i));
    ++matrix[t][p];
  }
  return matrix;
}

namespace {
double ratio_or_zero(double num, double den) { return den > 0 ? num / den : 0.0; }
}  // namespace

Metrics compute_metrics(const ConfusionMatrix& matrix) {
  const std::size_t k = matrix.size();
  for (const auto& row : matrix)
    if (row.size() != k) throw std::invalid_argument("compute_metrics: matrix is not square");

  Metrics m;
  m.classes.resize(k);
  std::int64_t correct = 0;
  for (std::size_t c = 0; c < k; ++c) {
    std::int64_t support = 0, predicted = 0;
    for (std::size_t j = 0; j < k; ++j) {
      support += matrix[c][j];
      predicted += matrix[j][c];
    }
    const double tp = static_cast<double>(matrix[c][c]);
    auto& s = m.classes[c];
    s.support = support;
    s.precision = ratio_or_zero(tp, predicted);  // zero_division=0
    s.recall = ratio_or_zero(tp, support);       // zero_division=0
    s.f1 = ratio_or_zero(2 * s.precision * s.recall, s.precision + s.recall);
    correct += matrix[c][c];
    m.total += support;
  }
  m.accuracy = ratio_or_zero(correct, m.total);

  for (const auto& s : m.classes) {
    m.macro.precision += s.precision / k;
    m.macro.recall += s.recall / k;
    m.macro.f1 += s.f1 / k;
    const double w = ratio_or_zero(s.support, m.total);
    m.weighted.precision += w * s.precision;
    m.weighted.recall += w * s.recall;
    m.weighted.f1 += w * s.f1;
  }
  return m;
}

std::string classification_report(const Metrics& metrics, const std::vector<std::string>& class_names,
                                   int digits) {
  if (class_names.size() != metrics.classes.size())
    throw std::invalid_argument("classification_report: " + std::to_string(class_names.size()) +
                                " names for " + std::to_string(metrics.classes.size()) + " classes");
  // Layout copied from sklearn: names right-aligned in a column as wide as the longest name
  // (at least "weighted avg"), then four 9-wide columns separated by one space.
  int width = std::max<int>(12, digits);
  for (const auto& n : class_names) width = std::max<int>(width, static_cast<int>(n.size()));

  std::string out;
  char line[512];
  auto row = [&](const std::string& name, double p, double r, double f, std::int64_t support) {
    std::snprintf(line, sizeof line, "%*s  %9.*f %9.*f %9.*f %9lld\n", width, name.c_str(), digits, p,
                  digits, r, digits, f, static_cast<long long>(support));
    out += line;
  };
  std::snprintf(line, sizeof line, "%*s  %9s %9s %9s %9s\n\n", width, "", "precision", "recall",
                "f1-score", "support");
  out += line;
  for (std::size_t c = 0; c < class_names.size(); ++c) {
    const auto& s = metrics.classes[c];
    row(class_names[c], s.precision, s.recall, s.f1, s.support);
  }
  out += "\n";
  std::snprintf(line, sizeof line, "%*s  %9s %9s %9.*f %9lld\n", width, "accuracy", "", "", digits,
                metrics.accuracy, static_cast<long long>(metrics.total));
  out += line;
  row("macro avg", metrics.macro.precision, metrics.macro.recall, metrics.macro.f1, metrics.total);
  row("weighted avg", metrics.weighted.precision, metrics.weighted.recall, metrics.weighted.f1,
      metrics.total);
  return out;
}

double accuracy_standard_error(double p, std::int64_t n) {
  if (n <= 0) return 0.0;
  return std::sqrt(std::max(0.0, p * (1 - p)) / static_cast<double>(n));
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string out = "\"";
  for (char ch : text) {
    if (ch == '"') out += '"';
    out += ch;
  }
  return out + "\"";
}

std::string toml_string(const std::string& text) { return toml_quote(text); }

std::string toml_float(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, value);  // shortest round-trip form
  std::string out(buf, res.ptr);
  // "1" or "1e-05" would read back as an integer or be rejected: TOML wants a '.' or an exponent
  // with digits on both sides of the '.'.
  if (out.find_first_of(".e") == std::string::npos) out += ".0";
  return out;
}

namespace {

void write_text_file(const std::filesystem::path& path, const std::string& text) {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  std::ofstream file(path, std::ios::binary);
  file << text;
  file.close();
  if (!file) throw UserError("cannot write " + path.string());
}

}  // namespace

void write_metrics_toml(const std::filesystem::path& path, const Metrics& metrics,
                        const std::vector<ClassLabel>& labels) {
  if (labels.size() != metrics.classes.size())
    throw std::invalid_argument("write_metrics_toml: " + std::to_string(labels.size()) +
                                " labels for " + std::to_string(metrics.classes.size()) + " classes");
  std::ostringstream out;
  auto averages = [&](const char* table, const AverageScores& a) {
    out << "\n[" << table << "]\nprecision = " << toml_float(a.precision)
        << "\nrecall = " << toml_float(a.recall) << "\nf1 = " << toml_float(a.f1) << "\n";
  };
  out << "# Test-set metrics (scikit-learn semantics, zero_division=0).\n"
      << "accuracy = " << toml_float(metrics.accuracy) << "\n"
      << "total = " << metrics.total << "\n";
  averages("macro", metrics.macro);
  averages("weighted", metrics.weighted);
  for (std::size_t c = 0; c < labels.size(); ++c) {
    const auto& s = metrics.classes[c];
    out << "\n[[classes]]\nindex = " << c << "\nwnid = " << toml_string(labels[c].wnid)
        << "\nname = " << toml_string(labels[c].name) << "\nprecision = " << toml_float(s.precision)
        << "\nrecall = " << toml_float(s.recall) << "\nf1 = " << toml_float(s.f1)
        << "\nsupport = " << s.support << "\n";
  }
  write_text_file(path, out.str());
}

namespace {

// Reads one key of a TOML table; a missing key or one of the wrong type names the file.
template <typename T>
T required(const toml::table& table, const std::string& key, const std::filesystem::path& path,
           const std::string& where = "") {
  const auto node = table[key];
  if (!node) throw UserError(path.string() + ": missing key '" + where + key + "'");
  if constexpr (std::is_same_v<T, double>) {
    if (node.is_integer()) return static_cast<double>(*node.template value<std::int64_t>());
  }
  auto value = node.template value_exact<T>();
  if (!value) throw UserError(path.string() + ": key '" + where + key + "' has the wrong type");
  return *value;
}

toml::table parse_toml_file(const std::filesystem::path& path) {
  if (!std::filesystem::is_regular_file(path)) throw UserError(path.string() + ": file not found");
  try {
    return toml::parse_file(path.string());
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    throw UserError(path.string() + ":" + std::to_string(at.line) + ":" +
                    std::to_string(at.column) + ": invalid TOML: " + std::string(e.description()));
  }
}

}  // namespace

MetricsFile read_metrics_toml(const std::filesystem::path& path) {
  const toml::table root = parse_toml_file(path);
  MetricsFile file;
  auto& m = file.metrics;
  m.accuracy = required<double>(root, "accuracy", path);
  m.total = required<std::int64_t>(root, "total", path);
  for (auto [name, avg] : {std::pair{"macro", &m.macro}, std::pair{"weighted", &m.weighted}}) {
    const auto* table = root[name].as_table();
    if (!table) throw UserError(path.string() + ": missing table [" + name + "]");
    const std::string where = std::string(name) + ".";
    avg->precision = required<double>(*table, "precision", path, where);
    avg->recall = required<double>(*table, "recall", path, where);
    avg->f1 = required<double>(*table, "f1", path, where);
  }
  const auto* classes = root["classes"].as_array();
  if (!classes) throw UserError(path.string() + ": missing [[classes]]");
  for (std::size_t i = 0; i < classes->size(); ++i) {
    const auto* table = classes->get(i)->as_table();
    const std::string where = "classes[" + std::to_string(i) + "].";
    if (!table) throw UserError(path.string() + ": " + where + " is not a table");
    if (required<std::int64_t>(*table, "index", path, where) != static_cast<std::int64_t>(i))
      throw UserError(path.string() + ": [[classes]] must be listed by index 0, 1, 2, ...");
    ClassScores s;
    s.precision = required<double>(*table, "precision", path, where);
    s.recall = required<double>(*table, "recall", path, where);
    s.f1 = required<double>(*table, "f1", path, where);
    s.support = required<std::int64_t>(*table, "support", path, where);
    m.classes.push_back(s);
    file.labels.push_back({required<std::string>(*table, "wnid", path, where),
                           required<std::string>(*table, "name", path, where)});
  }
  return file;
}

void write_confusion_csv(const std::filesystem::path& path, const ConfusionMatrix& matrix,
                         const std::vector<std::string>& class_names) {
  if (class_names.size() != matrix.size())
    throw std::invalid_argument("write_confusion_csv: " + std::to_string(class_names.size()) +
                                " names for a " + std::to_string(matrix.size()) + "-class matrix");
  std::string out = "true\\predicted";
  for (const auto& name : class_names) out += "," + csv_field(name);
  out += "\n";
  for (std::size_t r = 0; r < matrix.size(); ++r) {
    out += csv_field(class_names[r]);
    for (auto count : matrix[r]) out += "," + std::to_string(count);
    out += "\n";
  }
  write_text_file(path, out);
}

namespace {

// One CSV record with RFC 4180 quoting (names may hold commas); no embedded newlines needed here.
std::vector<std::string> parse_csv_record(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char ch = line[i];
    if (quoted) {
      if (ch == '"' && i + 1 < line.size() && line[i + 1] == '"') fields.back() += '"', ++i;
      else if (ch == '"') quoted = false;
      else fields.back() += ch;
    } else if (ch == '"') {
      quoted = true;
    } else if (ch == ',') {
      fields.emplace_back();
    } else if (ch != '\r') {
      fields.back() += ch;
    }
  }
  return fields;
}

}  // namespace

ConfusionFile read_confusion_csv(const std::filesystem::path& path) {
  std::ifstream file(path);
  if (!file) throw UserError(path.string() + ": file not found");
  std::string line;
  if (!std::getline(file, line)) throw UserError(path.string() + ": empty file");
  ConfusionFile out;
  auto header = parse_csv_record(line);
  out.class_names.assign(header.begin() + 1, header.end());
  const std::size_t k = out.class_names.size();
  for (int line_no = 2; std::getline(file, line); ++line_no) {
    if (line.empty() || line == "\r") continue;
    const auto fields = parse_csv_record(line);
    const std::string where = path.string() + ":" + std::to_string(line_no);
    if (fields.size() != k + 1)
      throw UserError(where + ": " + std::to_string(fields.size()) + " fields, expected " + std::to_string(k + 1));
    std::vector<std::int64_t> row;
    for (std::size_t j = 1; j < fields.size(); ++j) {
      std::int64_t count = 0;
      const auto* end = fields[j].data() + fields[j].size();
      const auto res = std::from_chars(fields[j].data(), end, count);
      if (fields[j].empty() || res.ptr != end || res.ec != std::errc() || count < 0)
        throw UserError(where + ": '" + fields[j] + "' is not a count");
      row.push_back(count);
    }
    out.matrix.push_back(std::move(row));
  }
  if (out.matrix.size() != k)
    throw UserError(path.string() + ": " + std::to_string(out.matrix.size()) + " rows for " + std::to_string(k) +
                    " classes");
  return out;
}

}  // namespace engine::eval
