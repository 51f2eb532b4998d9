#pragma once
// Batches from a split held in memory: seeded shuffling, augmentation and normalisation on
// tensors, output on any device.
//
// Exact resume: the order and the augmentation of epoch e depend only on (seed, e), and those of
// batch b within it only on (seed, e, b). A run resumed at epoch e calls start_epoch(e) and gets
// the batches an uninterrupted run would have had.
#include <cstdint>
#include <optional>
#include <vector>

#include <torch/torch.h>

#include "engine/core/data_config.hpp"
#include "engine/nn/dataset/data.hpp"

namespace engine::data {

struct LoaderOptions {
  int64_t batch_size = 128;            ///< images per batch; the last one may be smaller
  bool shuffle = false;                ///< a new seeded order every epoch (train); false = split order (eval)
  bool drop_last = false;              ///< drop a last batch smaller than batch_size
  uint64_t seed = 0;                   ///< with the epoch, decides the order and the augmentation
  AugmentConfig augment;               ///< all off by default, as eval wants it
  std::vector<double> mean, std;       ///< per RGB channel in [0,1]; empty = 0 and 1 (images in [0,1])
  bool channels_last = false;          ///< images in channels-last memory format
  torch::Device device = torch::kCPU;  ///< where batches are made
  int shard = 0, shards = 1;           ///< data parallel: this rank's slice of every batch (see Batch)
};

// With shards > 1, batch b is still the b-th global batch of the epoch's one order (and its
// augmentation draws), and a shard holds images [n s / S, n (s + 1) / S) of its n.
struct Batch {
  torch::Tensor images;     ///< float32 N x 3 x H x W, normalised, on the loader's device
  torch::Tensor labels;     ///< int64 N, on the loader's device
  int64_t global_size = 0;  ///< images in the whole batch, over all shards
  int64_t first = 0;        ///< position of images[0] in the epoch's order
};

// Batches are made on the CPU (augmentation works on uint8 there), then moved to options.device.
class BatchLoader {
 public:
  // Keeps a reference to the split's tensors (no copy when they are on the CPU, as loaded).
  BatchLoader(const Split& split, LoaderOptions options);

  // Starts epoch `epoch` (0-based) from its first batch. Epoch 0 is started by the constructor.
  void start_epoch(int64_t epoch);
  // The current epoch's next batch; nullopt once it is exhausted.
  std::optional<Batch> next();
  // Batch `index` of the current epoch, whatever next() has returned so far.
  Batch batch(int64_t index) const;

  int64_t num_batches() const;  ///< batches per epoch
  int64_t num_examples() const { return images_.size(0); }
  int64_t epoch() const { return epoch_; }
  const LoaderOptions& options() const { return options_; }

 private:
  torch::Tensor images_, labels_;  // uint8 N x 3 x H x W and int64 N, where the split keeps them
  LoaderOptions options_;
  int64_t epoch_ = 0, next_batch_ = 0;
  std::vector<int64_t> order_;   // this epoch's order of examples
  torch::Tensor scale_, shift_;  // normalisation on a non-CPU device, uploaded once
};

// Makes glibc keep freed blocks of up to 32 MiB for reuse instead of returning them to the kernel
// (process-wide, once). BatchLoader calls it; a training loop that allocates large activations every
// step gains from it as well.
void keep_freed_memory_for_reuse();

}  // namespace engine::data
