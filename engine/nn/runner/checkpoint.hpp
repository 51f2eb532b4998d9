#pragma once
// Checkpoints: best.pt (weights of the best epoch by val accuracy) and last.pt (weights,
// optimiser, epoch, best so far). Written to a temporary name and renamed, so a crash never
// leaves a torn file.
#include <filesystem>
#include <optional>
#include <string>

#include <torch/torch.h>

#include "engine/core/run_dir.hpp"  // CheckpointInfo: what a checkpoint holds besides tensors

namespace engine {

class Ema;

// With `ema`, the moving average and its update count are stored too (last.pt), so a resumed run
// continues the same average.
void save_checkpoint(const std::filesystem::path& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                     const CheckpointInfo& info, const Ema* ema = nullptr);
// What save_checkpoint writes, for writing it together with other files.
std::string checkpoint_bytes(torch::nn::Module& model, torch::optim::Optimizer* optimizer, const CheckpointInfo& info,
                             const Ema* ema = nullptr);

// Loads weights (and the optimiser's state when given). A parameter the checkpoint lacks or
// holds with another shape is a UserError naming the parameter and both shapes. With `ema`, the
// checkpoint must hold the moving average. A truncated or corrupt file is a UserError naming the
// file and how to go on without it.
CheckpointInfo load_checkpoint(const std::filesystem::path& path, torch::nn::Module& model,
                               torch::optim::Optimizer* optimizer = nullptr, Ema* ema = nullptr);

}  // namespace engine
