#include "engine/nn/runner/flip_tta.hpp"

namespace engine {

FlipEvalResult evaluate_with_flip(GraphModule& model, data::BatchLoader& loader, const Hardware& hw) {
  model->eval();
  torch::NoGradGuard no_grad;
  loader.start_epoch(0);
  FlipEvalResult r;
  int64_t plain_correct = 0, tta_correct = 0;
  auto append = [](std::vector<int64_t>& to, const torch::Tensor& pred) {
    torch::Tensor cpu = pred.to(torch::kCPU, torch::kLong).contiguous();
    to.insert(to.end(), cpu.data_ptr<int64_t>(), cpu.data_ptr<int64_t>() + cpu.numel());
  };
  while (auto batch = loader.next()) {
    torch::Tensor logits, mirrored;
    {
      Autocast autocast(hw);
      logits = model->forward(batch->images).to(torch::kFloat);
      // Width is dim 3; the mirror keeps the batch's memory layout, so both go the same kernel path.
      torch::Tensor flipped = batch->images.flip({3}).contiguous(batch->images.suggest_memory_format());
      mirrored = model->forward(flipped).to(torch::kFloat);
    }
    torch::Tensor plain = logits.argmax(1), tta = ((logits + mirrored) / 2).argmax(1);
    plain_correct += plain.eq(batch->labels).sum().item<int64_t>();
    tta_correct += tta.eq(batch->labels).sum().item<int64_t>();
    r.count += batch->labels.size(0);
    append(r.plain, plain);
    append(r.tta, tta);
  }
  r.plain_accuracy = static_cast<double>(plain_correct) / std::max<int64_t>(r.count, 1);
  r.tta_accuracy = static_cast<double>(tta_correct) / std::max<int64_t>(r.count, 1);
  return r;
}

}  // namespace engine
