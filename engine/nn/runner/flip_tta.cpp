#include "engine/nn/runner/flip_tta.hpp"

#include "engine/nn/dist/process_group.hpp"

namespace engine {

FlipEvalResult evaluate_with_flip(GraphModule& model, data::BatchLoader& loader, const Hardware& hw,
                                  dist::ProcessGroup* group) {
  model->eval();
  torch::NoGradGuard no_grad;
  loader.start_epoch(0);
  FlipEvalResult r;
  int64_t plain_correct = 0, tta_correct = 0;
  // In loader order; each rank fills the places of its shards, so the sum over ranks is all.
  torch::Tensor plain_all = torch::zeros({loader.num_examples()}, torch::kLong), tta_all = torch::zeros_like(plain_all);
  auto place = [](torch::Tensor& all, const torch::Tensor& pred, int64_t first) {
    all.narrow(0, first, pred.size(0)).copy_(pred.to(torch::kCPU, torch::kLong));
  };
  while (auto batch = loader.next()) {
    if (batch->labels.size(0) == 0) continue;
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
    place(plain_all, plain, batch->first);
    place(tta_all, tta, batch->first);
  }
  if (group) {
    std::vector<torch::Tensor> sums{plain_all, tta_all, torch::tensor({plain_correct, tta_correct, r.count})};
    group->all_reduce(sums, dist::Reduce::Sum, "gathering the test predictions");
    plain_correct = sums[2][0].item<int64_t>(), tta_correct = sums[2][1].item<int64_t>(),
    r.count = sums[2][2].item<int64_t>();
  }
  r.plain.assign(plain_all.data_ptr<int64_t>(), plain_all.data_ptr<int64_t>() + plain_all.numel());
  r.tta.assign(tta_all.data_ptr<int64_t>(), tta_all.data_ptr<int64_t>() + tta_all.numel());
  r.plain_accuracy = static_cast<double>(plain_correct) / std::max<int64_t>(r.count, 1);
  r.tta_accuracy = static_cast<double>(tta_correct) / std::max<int64_t>(r.count, 1);
  return r;
}

}  // namespace engine
