#pragma once
// The decoded splits on disk, so that a second run skips decoding. A file is used only when its
// key (data root, classes, image size, split settings) and its fingerprint of the data files
// match and its checksum is right; anything else is logged and the caller rebuilds it.
#include <optional>
#include <string>
#include <vector>

#include "engine/nn/dataset/data.hpp"

namespace engine::data {

struct DecodedSplits {
  Split train, val, test;
  std::vector<double> train_mean, train_std;  // per channel in [0,1]
};

// The cache file for `key` in `cache_dir`.
std::string cache_file(const std::string& cache_dir, const std::string& key);

// The cached splits, or nullopt (and a log line saying why) when the file is missing, was made
// for another key, is stale, truncated or corrupt. The key says the images' channel count.
std::optional<DecodedSplits> read_cache(const std::string& path, const std::string& key, uint64_t fingerprint,
                                        int channels);

// Writes to a temporary name, then renames, so a crash never leaves a half-written cache behind.
// Failing to write is a warning: the cache only saves time.
void write_cache(const std::string& path, const std::string& key, uint64_t fingerprint, const DecodedSplits& splits);

}  // namespace engine::data
