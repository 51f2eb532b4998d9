#include "engine/core/eval/bootstrap.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <stdexcept>

namespace engine::eval {

std::vector<int8_t> image_differences(const std::vector<int64_t>& labels, const std::vector<int64_t>& a,
                                      const std::vector<int64_t>& b) {
  if (a.size() != labels.size() || b.size() != labels.size())
    throw std::invalid_argument("image_differences: the predictions do not cover the same images");
  std::vector<int8_t> d(labels.size());
  for (size_t k = 0; k < labels.size(); ++k) d[k] = static_cast<int8_t>((a[k] == labels[k]) - (b[k] == labels[k]));
  return d;
}

namespace {
// Uniform in [0, n) from mt19937_64, whose output the standard fixes; std::uniform_int_distribution
// is not fixed, so a report made elsewhere would differ.
uint64_t below(std::mt19937_64& rng, uint64_t n) {
  const uint64_t threshold = (0 - n) % n;  // 2^64 mod n: the draws that would bias the remainder
  for (;;)
    if (uint64_t r = rng(); r >= threshold) return r % n;
}
}  // namespace

Bootstrap hierarchical_bootstrap(const std::vector<SeedDifference>& seeds, const BootstrapOptions& options) {
  if (seeds.empty()) throw std::invalid_argument("hierarchical_bootstrap: no seeds");
  if (options.replicates < 1) throw std::invalid_argument("hierarchical_bootstrap: replicates must be >= 1");
  const size_t n_seeds = seeds.size(), n_images = seeds[0].images.size();
  for (const auto& s : seeds)
    if (s.images.size() != n_images)
      throw std::invalid_argument("hierarchical_bootstrap: the seeds were validated on different numbers of images");
  // Per image, the seeds' differences side by side, and each seed's mean over all images.
  std::vector<int8_t> by_image(n_images * n_seeds);
  std::vector<double> image_mean(n_seeds, 0);
  Bootstrap b;
  for (size_t s = 0; s < n_seeds; ++s) {
    for (size_t i = 0; i < n_images; ++i) {
      by_image[i * n_seeds + s] = seeds[s].images[i];
      image_mean[s] += seeds[s].images[i];
    }
    if (n_images) image_mean[s] /= static_cast<double>(n_images);
    b.estimate += seeds[s].statistic / static_cast<double>(n_seeds);
  }
  std::mt19937_64 rng(options.seed);
  std::vector<int64_t> sums(n_seeds);
  b.samples.reserve(static_cast<size_t>(options.replicates));
  for (int64_t r = 0; r < options.replicates; ++r) {
    std::fill(sums.begin(), sums.end(), 0);
    for (size_t k = 0; k < n_images; ++k) {
      const int8_t* row = &by_image[below(rng, n_images) * n_seeds];
      for (size_t s = 0; s < n_seeds; ++s) sums[s] += row[s];
    }
    double value = 0;
    for (size_t k = 0; k < n_seeds; ++k) {
      const size_t s = below(rng, n_seeds);
      const double shift = n_images ? static_cast<double>(sums[s]) / static_cast<double>(n_images) - image_mean[s] : 0;
      value += seeds[s].statistic + shift;
    }
    b.samples.push_back(value / static_cast<double>(n_seeds));
  }
  std::sort(b.samples.begin(), b.samples.end());
  return b;
}

Bootstrap::Interval Bootstrap::interval(double level) const {
  if (samples.empty()) return {};
  const auto n = static_cast<double>(samples.size());
  // A tolerance so that B (1 - level) / 2 computed as 249.99999 still counts as 250.
  auto k = static_cast<size_t>(std::max(1.0, std::ceil(n * (1 - level) / 2 - 1e-9)));
  k = std::min(k, samples.size());
  return {samples[k - 1], samples[samples.size() - k]};
}

double Bootstrap::p_value() const {
  if (samples.empty()) return 1;
  // Sorted: replicates <= 0 are a prefix, replicates >= 0 a suffix.
  const auto at_most = std::upper_bound(samples.begin(), samples.end(), 0.0) - samples.begin();
  const auto at_least = samples.end() - std::lower_bound(samples.begin(), samples.end(), 0.0);
  return std::min(1.0, 2.0 * static_cast<double>(std::min(at_most, at_least)) / static_cast<double>(samples.size()));
}

namespace {
std::vector<size_t> ascending(const std::vector<double>& p) {
  std::vector<size_t> order(p.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
  return order;
}
}  // namespace

std::vector<double> holm_adjust(const std::vector<double>& p) {
  const auto order = ascending(p);
  std::vector<double> adjusted(p.size());
  double running = 0;
  for (size_t j = 0; j < order.size(); ++j) {
    running = std::max(running, std::min(1.0, static_cast<double>(p.size() - j) * p[order[j]]));
    adjusted[order[j]] = running;
  }
  return adjusted;
}

std::vector<double> holm_levels(const std::vector<double>& p, double alpha) {
  const auto order = ascending(p);
  std::vector<double> levels(p.size());
  for (size_t j = 0; j < order.size(); ++j) levels[order[j]] = 1 - alpha / static_cast<double>(p.size() - j);
  return levels;
}

std::vector<bool> holm_significant(const std::vector<Bootstrap>& comparisons, double alpha) {
  std::vector<double> p;
  for (const auto& c : comparisons) p.push_back(c.p_value());
  const auto order = ascending(p);
  const auto levels = holm_levels(p, alpha);
  std::vector<bool> significant(p.size(), false);
  for (size_t k : order) {
    const auto ci = comparisons[k].interval(levels[k]);
    if (ci.lo <= 0 && ci.hi >= 0) break;  // Holm stops at the first comparison it cannot reject
    significant[k] = true;
  }
  return significant;
}

}  // namespace engine::eval
