#include "engine/nn/runner/evaluate.hpp"

#include <chrono>

#include "engine/nn/dist/process_group.hpp"

namespace engine {

EvalResult evaluate(GraphModule& model, data::BatchLoader& loader, const Hardware& hw, bool keep_predictions,
                    dist::ProcessGroup* group) {
  model->eval();
  torch::NoGradGuard no_grad;
  loader.start_epoch(0);
  EvalResult r;
  // Sums stay on the device until the end (no wait per batch); the loss adds each batch's float
  // sum in double, as the host loop did.
  auto on = torch::TensorOptions().device(hw.device);
  torch::Tensor loss_sum = torch::zeros({}, on.dtype(torch::kDouble)),
                correct = torch::zeros({}, on.dtype(torch::kLong));
  torch::Tensor predictions;  // in loader order; each rank fills its shards, so the sum over ranks is all of them
  if (keep_predictions) predictions = torch::zeros({loader.num_examples()}, torch::kLong);
  auto sum_loss = torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum);
  while (auto batch = loader.next()) {
    const int64_t n = batch->labels.size(0);
    if (n == 0) continue;
    auto compute = std::chrono::steady_clock::now();
    torch::Tensor logits;
    {
      Autocast autocast(hw);
      logits = model->forward(batch->images);
    }
    logits = logits.to(torch::kFloat);
    r.compute_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - compute).count();
    loss_sum.add_(torch::nn::functional::cross_entropy(logits, batch->labels, sum_loss).to(torch::kDouble));
    torch::Tensor pred = logits.argmax(1);
    correct.add_(pred.eq(batch->labels).sum());
    r.count += n;
    if (keep_predictions) predictions.narrow(0, batch->first, n).copy_(pred.to(torch::kCPU).to(torch::kLong));
  }
  std::vector<torch::Tensor> totals{
      torch::stack({loss_sum, correct.to(torch::kDouble), torch::full({}, double(r.count), loss_sum.options())})};
  if (group) {
    group->all_reduce(totals, dist::Reduce::Sum, "adding up the evaluation's loss and accuracy");
    if (keep_predictions) {
      std::vector<torch::Tensor> all{predictions};
      group->all_reduce(all, dist::Reduce::Sum, "gathering the predictions");
    }
  }
  torch::Tensor t = totals[0].cpu();
  r.count = static_cast<int64_t>(t[2].item<double>());
  r.loss = t[0].item<double>() / std::max<int64_t>(r.count, 1);
  r.accuracy = t[1].item<double>() / std::max<int64_t>(r.count, 1);
  if (keep_predictions)
    r.predictions.assign(predictions.data_ptr<int64_t>(), predictions.data_ptr<int64_t>() + predictions.numel());
  return r;
}

}  // namespace engine
