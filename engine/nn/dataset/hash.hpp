#pragma once
// Fast non-cryptographic hashing: file-list fingerprints and cache checksums.
#include <cstdint>
#include <cstring>
#include <string_view>

#include "engine/nn/dataset/seeded.hpp"

namespace engine::data {

// 64-bit hash of a byte range. Four independent lanes of the xxHash64 round keep it memory-bound,
// so checksumming a cache costs little next to reading it.
inline uint64_t hash_bytes(const void* data, size_t size, uint64_t seed = 0) {
  constexpr uint64_t p1 = 0x9E3779B185EBCA87ull, p2 = 0xC2B2AE3D27D4EB4Full;
  auto rotl = [](uint64_t x, int r) { return (x << r) | (x >> (64 - r)); };
  auto round = [&](uint64_t acc, uint64_t word) { return rotl(acc + word * p2, 31) * p1; };
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t lane[4] = {seed + p1 + p2, seed + p2, seed, seed - p1};
  size_t left = size;
  for (; left >= 32; left -= 32, p += 32) {
    for (int k = 0; k < 4; ++k) {
      uint64_t word;
      std::memcpy(&word, p + 8 * k, 8);
      lane[k] = round(lane[k], word);
    }
  }
  uint64_t h = rotl(lane[0], 1) + rotl(lane[1], 7) + rotl(lane[2], 12) + rotl(lane[3], 18);
  for (; left > 0; --left, ++p) h = (h ^ *p) * p1;
  return mix_seed({h, size});
}

inline uint64_t hash_string(std::string_view text, uint64_t seed = 0) { return hash_bytes(text.data(), text.size(), seed); }

}  // namespace engine::data
