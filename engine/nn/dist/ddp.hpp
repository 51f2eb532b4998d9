#pragma once
// Data parallelism over a ProcessGroup: what torch.nn.parallel.DistributedDataParallel does and
// LibTorch's C++ API lacks. Every rank holds the whole model and takes a slice of each global
// batch (BatchLoader's shards), so [train].batch_size is the global batch and lr means what it
// means on one process.
//  - Initial weights and buffers come from rank 0 (broadcast_state).
//  - After backward, gradients become those of the mean loss over the global batch: each rank's
//    weighted by its share of the batch, summed in buckets (GradientReducer).
//  - BatchNorm normalises each rank's slice with that slice's statistics (no SyncBatchNorm), so
//    with BN a 2 x 32 run is not a 1 x 64 run. Its running statistics are rank 0's, broadcast
//    before every evaluation (as DDP's broadcast_buffers), so every rank evaluates, and rank 0
//    saves, the same model.
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "engine/nn/dist/process_group.hpp"

namespace engine::dist {

// Parameters and buffers of `m` on every rank := rank 0's.
void broadcast_state(ProcessGroup& g, torch::nn::Module& m);
void broadcast_buffers(ProcessGroup& g, torch::nn::Module& m);

// A DistError unless every rank holds bit-identical parameters and buffers (one 64-bit hash
// each, compared with one collective): a cheap guard that the replicas never drift apart.
void check_replicas(ProcessGroup& g, const torch::nn::Module& m, const std::string& when);

class GradientReducer {
 public:
  // Buckets of at most `bucket_bytes`, in reverse order of `params` (the order backward
  // produces gradients in).
  GradientReducer(ProcessGroup& g, const std::vector<torch::Tensor>& params, int64_t bucket_bytes = 4 << 20);

  // Gradients (of this rank's mean loss over its `local` images) := gradients of the mean loss
  // over the `global` images of the batch. A missing gradient counts as zeros.
  void reduce(int64_t local, int64_t global);

 private:
  struct Bucket {
    std::vector<torch::Tensor> params;
    std::vector<int64_t> offsets;
    torch::Tensor flat;
  };
  ProcessGroup& group_;
  std::vector<Bucket> buckets_;
};

// Runs `f` on rank 0 only (always, without a group), then every rank learns whether it failed:
// rank 0 rethrows, the others throw an error that points at rank 0's message, so none of them
// waits in a later collective. `timeout` 0: the group's.
void on_root(ProcessGroup* g, const std::string& what, const std::function<void()>& f,
             std::chrono::milliseconds timeout = std::chrono::milliseconds(0));

// Runs `f` on every rank, rank 0 first (it fills caches the others then read); failures agreed
// as in on_root.
void root_first(ProcessGroup* g, const std::string& what, const std::function<void()>& f,
                std::chrono::milliseconds timeout = std::chrono::milliseconds(0));

// A UserError unless every rank passes the same value, e.g. the epoch each read from last.pt.
void check_same(ProcessGroup* g, int64_t value, const std::string& what, const std::string& hint);

}  // namespace engine::dist
