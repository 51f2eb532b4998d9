#include "engine/core/eval/paired.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace engine::eval {

Discordant discordant(const std::vector<int64_t>& labels, const std::vector<int64_t>& a,
                      const std::vector<int64_t>& b) {
  if (a.size() != labels.size() || b.size() != labels.size())
    throw std::invalid_argument("discordant: the predictions do not cover the same images");
  Discordant d;
  for (size_t k = 0; k < labels.size(); ++k) {
    bool ra = a[k] == labels[k], rb = b[k] == labels[k];
    d.a_only += ra && !rb;
    d.b_only += rb && !ra;
  }
  return d;
}

double mcnemar_exact(const Discordant& d) {
  int64_t n = d.a_only + d.b_only, k = std::min(d.a_only, d.b_only);
  if (n == 0) return 1.0;
  // P(X <= k) for X ~ Binomial(n, 1/2), summed in log space so that n in the thousands is fine.
  double tail = 0;
  for (int64_t i = 0; i <= k; ++i)
    tail += std::exp(std::lgamma(n + 1.0) - std::lgamma(i + 1.0) - std::lgamma(n - i + 1.0) - n * std::log(2.0));
  return std::min(1.0, 2 * tail);
}

MeanSd mean_sd(const std::vector<double>& values) {
  MeanSd m;
  m.n = static_cast<int>(values.size());
  if (values.empty()) return m;
  for (double v : values) m.mean += v;
  m.mean /= m.n;
  if (m.n > 1) {
    double ss = 0;
    for (double v : values) ss += (v - m.mean) * (v - m.mean);
    m.sd = std::sqrt(ss / (m.n - 1));
  }
  return m;
}

}  // namespace engine::eval
