#pragma once
// [train].train_probe: train accuracy as validation measures it. The running train accuracy is
// taken on augmented batches while the weights move (and with dropout on), so it is not
// comparable with val accuracy; the probe evaluates a fixed sample of train images at the end
// of each epoch exactly like the val split (eval mode, no augmentation, same normalisation).
#include <cstdint>
#include <optional>
#include <vector>

#include "engine/core/run_dir.hpp"
#include "engine/nn/dataset/batch_loader.hpp"
#include "engine/nn/model.hpp"
#include "engine/nn/runner/hardware.hpp"

namespace engine {

struct Prepared;

// Rows of a train split of `train_size` images in the probe: `n` of them (all when n >=
// train_size), in split order. Chosen by data.split_seed alone, not train.seed, so the seeds of
// one data config are measured on the same images.
std::vector<int64_t> train_probe_rows(int64_t train_size, int64_t n, uint64_t split_seed);

// Those images of `train` (shares no storage with it).
data::Split train_probe_split(const data::Split& train, int64_t n, uint64_t split_seed);

class TrainProbe {
 public:
  explicit TrainProbe(const Prepared& p);  // needs prepare_data; off when [train].train_probe is 0
  bool on() const { return loader_.has_value(); }
  int64_t size() const { return split_.size(); }
  // Sets row.train_eval_loss and train_eval_acc from `model`; returns its seconds in forward passes.
  double measure(GraphModule& model, EpochRow& row);

 private:
  data::Split split_;
  std::optional<data::BatchLoader> loader_;
  Hardware hw_;
};

}  // namespace engine
