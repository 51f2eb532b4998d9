#pragma once
// The optimiser, the learning-rate schedule and the loss that [train] asks for.
#include <cstdint>
#include <memory>
#include <vector>

#include <torch/torch.h>

#include "engine/core/sections.hpp"
#include "engine/nn/model.hpp"
#include "engine/nn/runner/hardware.hpp"

namespace engine {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainConfig& t, std::vector<torch::Tensor> params);

// Learning rate of an epoch (0-based): optional linear warm-up from lr/10, then the schedule.
double lr_at(const TrainConfig& t, int64_t epoch);

void set_lr(torch::optim::Optimizer& opt, double lr);

// What a training step minimises: cross-entropy with [train].label_smoothing.
torch::Tensor training_loss(const torch::Tensor& logits, const torch::Tensor& labels, const TrainConfig& t);

// One plain training step (zero_grad, forward and loss under autocast, backward, step), for the
// steps that are only timed (engine time, the memory-format plan); the trainer's own step adds
// its running sums and the ranks' gradient reduction.
void timed_step(GraphModule& model, torch::optim::Optimizer& opt, const torch::Tensor& images,
                const torch::Tensor& labels, const TrainConfig& t, const Hardware& hw);

}  // namespace engine
