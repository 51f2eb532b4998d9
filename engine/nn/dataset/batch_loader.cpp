#include "engine/nn/dataset/batch_loader.hpp"

#include <algorithm>
#include <mutex>
#include <numeric>
#include <tuple>

#include <malloc.h>

#include "engine/core/error.hpp"
#include "engine/nn/dataset/augment.hpp"
#include "engine/nn/dataset/seeded.hpp"

namespace engine::data {

BatchLoader::BatchLoader(const Split& split, LoaderOptions options)
    : images_(split.images.cpu()), labels_(split.labels.cpu()), options_(std::move(options)) {
  keep_freed_memory_for_reuse();
  if (options_.batch_size < 1)
    throw UserError("batch size must be at least 1, not " + std::to_string(options_.batch_size));
  check_augment(options_.augment);
  const int64_t channels = images_.dim() == 4 ? images_.size(1) : 3;
  for (const auto* values : {&options_.mean, &options_.std})
    if (!values->empty() && int64_t(values->size()) != channels)
      throw UserError("mean and std need one value per image channel (" + std::to_string(channels) + "), not " +
                      std::to_string(values->size()));
  if (options_.shards < 1 || options_.shard < 0 || options_.shard >= options_.shards)
    throw UserError("shard " + std::to_string(options_.shard) + " of " + std::to_string(options_.shards));
  if (!options_.device.is_cpu())
    std::tie(scale_, shift_) = normalisation_factors(options_.mean, options_.std, channels, options_.device);
  start_epoch(0);
}

void BatchLoader::start_epoch(int64_t epoch) {
  epoch_ = epoch;
  next_batch_ = 0;
  order_.resize(size_t(num_examples()));
  std::iota(order_.begin(), order_.end(), int64_t(0));
  if (options_.shuffle) {
    std::mt19937_64 rng(mix_seed({options_.seed, uint64_t(epoch), 0x5ca1ab1e}));
    seeded_shuffle(order_, rng);
  }
}

int64_t BatchLoader::num_batches() const {
  const int64_t size = options_.batch_size;
  return options_.drop_last ? num_examples() / size : (num_examples() + size - 1) / size;
}

std::optional<Batch> BatchLoader::next() {
  if (next_batch_ >= num_batches()) return std::nullopt;
  return batch(next_batch_++);
}

Batch BatchLoader::batch(int64_t index) const {
  const int64_t start = index * options_.batch_size;
  const int64_t count = std::min(options_.batch_size, num_examples() - start);
  TORCH_CHECK(index >= 0 && count > 0, "BatchLoader::batch: no batch ", index, " in an epoch of ", num_batches());

  const std::vector<int64_t> rows(order_.begin() + start, order_.begin() + start + count);
  const std::pair<int64_t, int64_t> keep{count * options_.shard / options_.shards,
                                         count * (options_.shard + 1) / options_.shards};
  std::mt19937_64 rng(mix_seed({options_.seed, uint64_t(epoch_), uint64_t(index)}));
  const std::vector<int64_t> mine(rows.begin() + keep.first, rows.begin() + keep.second);
  torch::Tensor labels = labels_.index_select(0, torch::tensor(mine, torch::kInt64));
  torch::Tensor images;
  if (options_.device.is_cpu()) {  // gather, augment and normalise in one pass
    images = augment_batch(images_, rows, options_.augment, options_.mean, options_.std, rng, torch::kFloat32, keep);
  } else {  // move uint8 (a quarter of the bytes) from pinned memory without waiting, make it float there
    images = augment_batch(images_, rows, options_.augment, options_.mean, options_.std, rng, torch::kUInt8, keep);
    images = normalise(images.pin_memory().to(options_.device, /*non_blocking=*/true), scale_, shift_);
    labels = labels.pin_memory().to(options_.device, /*non_blocking=*/true);
  }
  if (options_.channels_last) images = images.contiguous(torch::MemoryFormat::ChannelsLast);
  return {images, labels, count, start + keep.first};
}

void keep_freed_memory_for_reuse() {
  static std::once_flag once;
  std::call_once(once, [] {
  // glibc hands large blocks straight back to the kernel when they are freed, so every batch
  // (and every activation of a training step) faults its pages in again, which can cost more
  // than the batch's own work (notably in VMs). Keep blocks up to 32 MiB (glibc's upper limit
  // for this setting) in the heap and trim it only past 512 MiB of free memory.
#ifdef M_MMAP_THRESHOLD
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
#endif
  });
}

}  // namespace engine::data
