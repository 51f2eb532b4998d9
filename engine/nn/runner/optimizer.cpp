#include "engine/nn/runner/optimizer.hpp"

#include <cmath>

namespace engine {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainConfig& t, std::vector<torch::Tensor> params) {
  if (t.optimizer == "sgd")
    return std::make_unique<torch::optim::SGD>(
        params, torch::optim::SGDOptions(t.lr).momentum(t.momentum).nesterov(t.nesterov).weight_decay(t.weight_decay));
  if (t.optimizer == "adamw")
    return std::make_unique<torch::optim::AdamW>(params, torch::optim::AdamWOptions(t.lr).weight_decay(t.weight_decay));
  return std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(t.lr).weight_decay(t.weight_decay));
}

double lr_at(const TrainConfig& t, int64_t epoch) {
  if (epoch < t.warmup_epochs) return t.lr * (0.1 + 0.9 * static_cast<double>(epoch) / t.warmup_epochs);
  int64_t e = epoch - t.warmup_epochs, span = std::max<int64_t>(1, t.epochs - t.warmup_epochs);
  if (t.scheduler == "step") return t.lr * std::pow(t.gamma, static_cast<double>(e / t.step_size));
  if (t.scheduler == "cosine") return t.min_lr + (t.lr - t.min_lr) * 0.5 * (1 + std::cos(M_PI * e / span));
  return t.lr;
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& group : opt.param_groups()) group.options().set_lr(lr);
}

torch::Tensor training_loss(const torch::Tensor& logits, const torch::Tensor& labels, const TrainConfig& t) {
  return torch::nn::functional::cross_entropy(
      logits, labels, torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(t.label_smoothing));
}

void timed_step(GraphModule& model, torch::optim::Optimizer& opt, const torch::Tensor& images,
                const torch::Tensor& labels, const TrainConfig& t, const Hardware& hw) {
  opt.zero_grad();
  torch::Tensor loss;
  {
    Autocast autocast(hw);
    loss = training_loss(model->forward(images), labels, t);
  }
  loss.backward();
  opt.step();
}

}  // namespace engine
