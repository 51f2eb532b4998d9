#include "engine/nn/runner/ema.hpp"

#include <cmath>

#include "engine/core/error.hpp"
#include "engine/nn/runner/prepare.hpp"

namespace engine {

namespace {
void copy_ema_state(torch::nn::Module& from, torch::nn::Module& to) {
  torch::NoGradGuard no_grad;
  auto a = from.parameters(), b = to.parameters();
  for (size_t k = 0; k < a.size(); ++k) b[k].copy_(a[k]);
  auto x = from.buffers(), y = to.buffers();
  for (size_t k = 0; k < x.size(); ++k) y[k].copy_(x[k]);
}
}  // namespace

Ema::Ema(const Graph& graph, GraphModule source, double decay, const Hardware& hw, const KernelSettings& kernels)
    : source_(std::move(source)), model_(build_model(graph, kernels)), decay_(decay) {
  place_model(*model_, hw);
  for (auto& p : model_->parameters()) p.set_requires_grad(false);
  copy_ema_state(*source_, *model_);
  model_->eval();
}

void Ema::update() {
  torch::NoGradGuard no_grad;
  ++updates_;
  const double weight = (1 - decay_) / (1 - std::pow(decay_, static_cast<double>(updates_)));
  auto a = source_->parameters(), b = model_->parameters();
  for (size_t k = 0; k < a.size(); ++k) b[k].lerp_(a[k], weight);
  auto x = source_->buffers(), y = model_->buffers();
  for (size_t k = 0; k < x.size(); ++k) {
    if (y[k].is_floating_point())
      y[k].lerp_(x[k], weight);
    else
      y[k].copy_(x[k]);
  }
}

std::unique_ptr<Ema> make_ema(const Prepared& p) {
  const double decay = p.train.ema;
  if (decay == 0) return nullptr;
  if (!(decay > 0 && decay < 1))
    throw UserError("[train].ema = " + std::to_string(decay) +
                    ": the decay must be in (0, 1), e.g. 0.99 (0 turns the moving average off)");
  return std::make_unique<Ema>(p.graph, p.model, decay, p.hw, p.kernels());
}

}  // namespace engine
