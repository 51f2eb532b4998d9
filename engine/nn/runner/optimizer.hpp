#pragma once
// The optimiser and the learning-rate schedule that [train] asks for.
#include <cstdint>
#include <memory>
#include <vector>

#include <torch/torch.h>

#include "engine/core/sections.hpp"

namespace engine {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainConfig& t, std::vector<torch::Tensor> params);

// Learning rate of an epoch (0-based): optional linear warm-up from lr/10, then the schedule.
double lr_at(const TrainConfig& t, int64_t epoch);

void set_lr(torch::optim::Optimizer& opt, double lr);

}  // namespace engine
