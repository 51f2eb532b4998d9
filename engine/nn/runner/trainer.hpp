#pragma once
// The training loop and nothing else: epochs of steps, each followed by a val pass. What
// becomes of the results (metrics, checkpoints, logs) is up to the callbacks; the loop knows
// no files.
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <torch/torch.h>

#include "engine/core/run_dir.hpp"  // EpochRow, CheckpointInfo
#include "engine/core/sections.hpp"
#include "engine/nn/dataset/batch_loader.hpp"
#include "engine/nn/model.hpp"
#include "engine/nn/runner/hardware.hpp"

namespace engine {

namespace dist {
class ProcessGroup;
class GradientReducer;
}  // namespace dist

struct EpochReport {
  EpochRow row;                          // the epoch's figures
  bool best = false;                     // its val accuracy beat every earlier epoch's
  double overhead = 0;                   // fraction of its time outside forward, backward and step
  std::vector<int64_t> val_predictions;  // of the evaluated model, in val-split order
};

struct TrainerCallbacks {
  // After each epoch, with the state a checkpoint of it records.
  std::function<void(const EpochReport&, const CheckpointInfo&)> epoch_done;
  // Asked between batches; true drops the current epoch and ends the loop.
  std::function<bool()> stop_requested;
  // After each optimiser step (the EMA's update).
  std::function<void()> step_done;
  // The model validation evaluates when not the trained one (the EMA's average).
  std::function<GraphModule()> evaluated;
  // After validation, within the epoch's time: more columns of the evaluated model (the train
  // probe). Returns its seconds in forward passes.
  std::function<double(GraphModule&, EpochRow&)> measure;
};

// With a process group, each rank steps on its shard of every batch (the loaders' shards),
// gradients are averaged over the global batch, stop requests and divergence are agreed, and every
// rank reports the figures of the whole epoch (see engine/nn/dist/ddp.hpp).
class Trainer {
 public:
  Trainer(GraphModule model, torch::optim::Optimizer& optimizer, data::BatchLoader& train, data::BatchLoader& val,
          const TrainConfig& config, const Hardware& hw, dist::ProcessGroup* group = nullptr);
  ~Trainer();

  // Trains from state.epoch towards config.epochs, at most `max_epochs` of them (0: no limit),
  // updating `state` after each. Returns false when stopped inside an epoch.
  bool run(CheckpointInfo& state, int64_t max_epochs, const TrainerCallbacks& callbacks);

 private:
  struct Pass {
    double loss = 0, accuracy = 0, seconds = 0, compute_seconds = 0;  // compute: forward, loss, backward, step
    int64_t images = 0;
    bool stopped = false;
  };
  struct Sums;  // the epoch's loss, correct count and first non-finite loss, on the device
  Pass train_epoch(int64_t epoch, const TrainerCallbacks& callbacks);
  void step(const data::Batch& batch, int64_t batch_index, Sums& sums);
  bool agree_stop(bool stop, const Sums& sums, int64_t epoch);

  GraphModule model_;
  torch::optim::Optimizer& optimizer_;
  data::BatchLoader &train_, &val_;
  const TrainConfig& config_;
  const Hardware& hw_;
  dist::ProcessGroup* group_;
  std::unique_ptr<dist::GradientReducer> reducer_;
};

}  // namespace engine
