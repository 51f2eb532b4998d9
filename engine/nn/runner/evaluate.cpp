#include "engine/nn/runner/evaluate.hpp"

#include <chrono>

namespace engine {

EvalResult evaluate(GraphModule& model, data::BatchLoader& loader, const Hardware& hw, bool keep_predictions) {
  model->eval();
  torch::NoGradGuard no_grad;
  loader.start_epoch(0);
  EvalResult r;
  double loss_sum = 0;
  int64_t correct = 0;
  auto sum_loss = torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum);
  while (auto batch = loader.next()) {
    auto compute = std::chrono::steady_clock::now();
    torch::Tensor logits;
    {
      Autocast autocast(hw);
      logits = model->forward(batch->images);
    }
    logits = logits.to(torch::kFloat);
    r.compute_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - compute).count();
    loss_sum += torch::nn::functional::cross_entropy(logits, batch->labels, sum_loss).item<double>();
    torch::Tensor pred = logits.argmax(1);
    correct += pred.eq(batch->labels).sum().item<int64_t>();
    r.count += batch->labels.size(0);
    if (keep_predictions) {
      torch::Tensor cpu = pred.to(torch::kCPU).to(torch::kLong).contiguous();
      r.predictions.insert(r.predictions.end(), cpu.data_ptr<int64_t>(), cpu.data_ptr<int64_t>() + cpu.numel());
    }
  }
  r.loss = loss_sum / std::max<int64_t>(r.count, 1);
  r.accuracy = static_cast<double>(correct) / std::max<int64_t>(r.count, 1);
  return r;
}

}  // namespace engine
