#include "engine/core/eval/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace engine::eval {

ConfusionMatrix confusion_matrix(const std::vector<std::int64_t>& true_labels,
                                 const std::vector<std::int64_t>& pred_labels, int num_classes) {
  if (true_labels.size() != pred_labels.size())
    throw std::invalid_argument("confusion_matrix: " + std::to_string(true_labels.size()) + " true labels but " +
                                std::to_string(pred_labels.size()) + " predictions");
  if (num_classes <= 0) throw std::invalid_argument("confusion_matrix: num_classes must be > 0");
  ConfusionMatrix matrix(num_classes, std::vector<std::int64_t>(num_classes, 0));
  for (std::size_t i = 0; i < true_labels.size(); ++i) {
    const auto t = true_labels[i], p = pred_labels[i];
    if (t < 0 || t >= num_classes || p < 0 || p >= num_classes)
      throw std::invalid_argument("confusion_matrix: label out of range [0, " + std::to_string(num_classes) +
                                  ") at index " + std::to_string(i));
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

std::string classification_report(const Metrics& metrics, const std::vector<std::string>& class_names, int digits) {
  if (class_names.size() != metrics.classes.size())
    throw std::invalid_argument("classification_report: " + std::to_string(class_names.size()) + " names for " +
                                std::to_string(metrics.classes.size()) + " classes");
  // Layout copied from sklearn: names right-aligned in a column as wide as the longest name
  // (at least "weighted avg"), then four 9-wide columns separated by one space.
  int width = std::max<int>(12, digits);
  for (const auto& n : class_names) width = std::max<int>(width, static_cast<int>(n.size()));

  std::string out;
  char line[512];
  auto row = [&](const std::string& name, double p, double r, double f, std::int64_t support) {
    std::snprintf(line, sizeof line, "%*s  %9.*f %9.*f %9.*f %9lld\n", width, name.c_str(), digits, p, digits, r,
                  digits, f, static_cast<long long>(support));
    out += line;
  };
  std::snprintf(line, sizeof line, "%*s  %9s %9s %9s %9s\n\n", width, "", "precision", "recall", "f1-score", "support");
  out += line;
  for (std::size_t c = 0; c < class_names.size(); ++c) {
    const auto& s = metrics.classes[c];
    row(class_names[c], s.precision, s.recall, s.f1, s.support);
  }
  out += "\n";
  std::snprintf(line, sizeof line, "%*s  %9s %9s %9.*f %9lld\n", width, "accuracy", "", "", digits, metrics.accuracy,
                static_cast<long long>(metrics.total));
  out += line;
  row("macro avg", metrics.macro.precision, metrics.macro.recall, metrics.macro.f1, metrics.total);
  row("weighted avg", metrics.weighted.precision, metrics.weighted.recall, metrics.weighted.f1, metrics.total);
  return out;
}

double accuracy_standard_error(double p, std::int64_t n) {
  if (n <= 0) return 0.0;
  return std::sqrt(std::max(0.0, p * (1 - p)) / static_cast<double>(n));
}

}  // namespace engine::eval
