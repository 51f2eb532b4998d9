#pragma once
// Classification metrics with scikit-learn semantics (their files: engine/core/run_dir.hpp).
// Torch-free: labels come in as plain integer vectors.
#include <cstdint>
#include <string>
#include <vector>

namespace engine::eval {

// K x K counts, rows = true class, columns = predicted class.
using ConfusionMatrix = std::vector<std::vector<std::int64_t>>;

struct ClassScores {
  double precision = 0, recall = 0, f1 = 0;
  std::int64_t support = 0;  // number of true examples of the class
};

struct AverageScores {
  double precision = 0, recall = 0, f1 = 0;
};

struct Metrics {
  double accuracy = 0;
  std::int64_t total = 0;            // examples counted
  std::vector<ClassScores> classes;  // one per class index
  AverageScores macro;               // unweighted mean over all K classes
  AverageScores weighted;            // mean weighted by support
};

// How a class index is named: ImageNet wnid (e.g. "n01443537") and readable name ("goldfish").
struct ClassLabel {
  std::string wnid;
  std::string name;
};

// Labels must lie in [0, num_classes) and both vectors have the same length
// (std::invalid_argument otherwise: a caller bug, not a user error).
ConfusionMatrix confusion_matrix(const std::vector<std::int64_t>& true_labels,
                                 const std::vector<std::int64_t>& pred_labels, int num_classes);

// scikit-learn semantics with zero_division=0: a class never predicted has precision 0, a class
// with no support has recall 0, F1 is 0 when precision + recall is 0. Every class of the matrix
// counts in the macro average (as sklearn does when given explicit labels), even one with no
// support; the weighted average gives it weight 0.
Metrics compute_metrics(const ConfusionMatrix& matrix);

// The text table of sklearn.metrics.classification_report (same column widths and rounding).
std::string classification_report(const Metrics& metrics, const std::vector<std::string>& class_names, int digits = 2);

// One standard error of an accuracy p measured on n examples: sqrt(p(1-p)/n); 0 when n <= 0.
double accuracy_standard_error(double p, std::int64_t n);

}  // namespace engine::eval
