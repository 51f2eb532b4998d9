#pragma once
// Statistics for comparing runs on the same images: the exact McNemar test on paired
// predictions, and mean/sd over seeds. A difference the test cannot tell from chance at 5 %
// is a tie.
#include <cstdint>
#include <vector>

namespace engine::eval {

// Discordant pairs of two classifiers on the same images: b = only A right, c = only B right.
struct Discordant {
  int64_t a_only = 0, b_only = 0;
};

// Counts the discordant pairs; the three vectors are per image, in the same order.
Discordant discordant(const std::vector<int64_t>& labels, const std::vector<int64_t>& a, const std::vector<int64_t>& b);

// Two-sided exact McNemar p-value: P(a result at least as lopsided as b vs c) under
// Binomial(b + c, 1/2). 1 when there are no discordant pairs.
double mcnemar_exact(const Discordant& d);

struct MeanSd {
  double mean = 0, sd = 0;  // sd: sample standard deviation (n - 1); 0 for one value
  int n = 0;
};
MeanSd mean_sd(const std::vector<double>& values);

}  // namespace engine::eval
