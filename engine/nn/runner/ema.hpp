#pragma once
// [train].ema: an exponential moving average of the weights, updated after every optimiser step.
// Validation, the train probe and best.pt use the average; last.pt keeps it beside the trained
// weights, so a resumed run continues the same average.
#include <cstdint>
#include <memory>

#include <torch/torch.h>

#include "engine/nn/model.hpp"
#include "engine/nn/runner/hardware.hpp"

namespace engine {

struct Prepared;

class Ema {
 public:
  // A copy of `source` (same graph, device and layout) that starts as its current weights.
  Ema(const Graph& graph, GraphModule source, double decay, const Hardware& hw, const KernelSettings& kernels = {});

  // ema += w * (weights - ema) for parameters and floating-point buffers (BatchNorm's running
  // statistics are averaged like the weights, as torchvision's EMA with use_buffers does; its
  // batch counter is copied). w = (1 - decay) / (1 - decay^n) at the n-th update: the average is
  // debiased as Adam's moments are, so the initial weights carry no weight.
  void update();

  GraphModule model() const { return model_; }
  int64_t updates() const { return updates_; }
  void set_updates(int64_t n) { updates_ = n; }

 private:
  GraphModule source_, model_;
  double decay_;
  int64_t updates_ = 0;
};

// The run's EMA, or null when [train].ema is 0. Needs prepare_model.
std::unique_ptr<Ema> make_ema(const Prepared& p);

}  // namespace engine
