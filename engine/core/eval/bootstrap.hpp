#pragma once
// A hierarchical, paired bootstrap of the difference between two variants trained on the same
// seeds and validated on the same images: each replicate resamples the seeds and, once for all
// of them, the val images (the val set is shared, so an image that is hard for one seed is hard
// for the others). Its percentile interval and two-sided p-value are duals: the interval at
// level 1 - a excludes 0 exactly when p < a, which is how Holm's step-down is read on intervals.
#include <cstdint>
#include <vector>

namespace engine::eval {

// One seed of a paired comparison of A and B.
struct SeedDifference {
  // The decision statistic of A minus that of B on this seed (e.g. the mean val accuracy of the
  // last 5 epochs); the replicate moves it by the image resampling's effect on `images`.
  double statistic = 0;
  // Per val image, in val-split order: +1 only A right, -1 only B right, 0 otherwise, at the
  // epoch whose predictions the run kept. Every seed covers the same images.
  std::vector<int8_t> images;
};

// +1 / -1 / 0 per image from the labels and the two predictions.
std::vector<int8_t> image_differences(const std::vector<int64_t>& labels, const std::vector<int64_t>& a,
                                      const std::vector<int64_t>& b);

struct BootstrapOptions {
  int64_t replicates = 10000;
  uint64_t seed = 0;  // the same seed gives the same replicates, on every platform
};

struct Bootstrap {
  double estimate = 0;          // mean over seeds of `statistic`
  std::vector<double> samples;  // the replicates, sorted
  // Percentile interval at `level` (0.95): the k-th smallest and k-th largest replicate, k =
  // max(1, ceil(B (1 - level) / 2)).
  struct Interval {
    double lo = 0, hi = 0;
  };
  Interval interval(double level) const;
  // 2 min(#replicates <= 0, #replicates >= 0) / B, at most 1: interval(1 - a) excludes 0 iff p < a.
  double p_value() const;
};

// Replicate r: draw seeds s*_1..s*_S with replacement, and val images i*_1..i*_N with
// replacement (one draw shared by the seeds); its value is the mean over s* of
// statistic(s) + mean_{i*} images(s, i) - mean_i images(s, i).
// With one seed only the images vary: the interval speaks for that trained model alone.
Bootstrap hierarchical_bootstrap(const std::vector<SeedDifference>& seeds, const BootstrapOptions& options);

// Holm's step-down adjusted p-values, in the input order: sorted ascending, the j-th (from 0) is
// max over i <= j of min(1, (m - i) p_(i)). A comparison is significant at alpha when its adjusted
// p < alpha, i.e. when its own and every smaller p pass Holm's thresholds alpha / (m - i).
std::vector<double> holm_adjust(const std::vector<double>& p);

// The confidence level Holm tests each comparison at (1 - alpha / (m - rank)), in the input order.
std::vector<double> holm_levels(const std::vector<double>& p, double alpha);

// Holm's step-down on the intervals themselves: in ascending order of p, a comparison is
// significant when its interval at its Holm level excludes 0 and so was every one before it.
// By the duality this is holm_adjust(p) < alpha; deciding on the intervals makes the report's
// interval and its verdict agree even at the boundary.
std::vector<bool> holm_significant(const std::vector<Bootstrap>& comparisons, double alpha);

}  // namespace engine::eval
