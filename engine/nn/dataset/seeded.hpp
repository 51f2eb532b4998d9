#pragma once
// Seeded randomness that gives the same numbers on every platform and library version:
// std::mt19937_64 is fully specified by the C++ standard, std::shuffle and the std
// distributions are not, so the little we need on top of it is written here.
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "engine/core/files.hpp"  // mix_seed, hash_string

namespace engine::data {

// Uniform integer in [0, n) (multiply-shift; the bias is below n / 2^64).
inline uint64_t uniform_below(std::mt19937_64& rng, uint64_t n) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(rng()) * n) >> 64);
}

// Uniform double in [0, 1).
inline double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

// Uniform double in [lo, hi).
inline double uniform(std::mt19937_64& rng, double lo, double hi) { return lo + (hi - lo) * uniform01(rng); }

// Fisher-Yates shuffle.
template <class T>
void seeded_shuffle(std::vector<T>& items, std::mt19937_64& rng) {
  for (size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[uniform_below(rng, i)]);
}

}  // namespace engine::data
