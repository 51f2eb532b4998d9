#include "engine/nn/runner/train_probe.hpp"

#include <algorithm>
#include <numeric>
#include <random>

#include "engine/nn/dataset/seeded.hpp"
#include "engine/nn/runner/evaluate.hpp"
#include "engine/nn/runner/prepare.hpp"

namespace engine {

std::vector<int64_t> train_probe_rows(int64_t train_size, int64_t n, uint64_t split_seed) {
  std::vector<int64_t> rows(static_cast<size_t>(std::max<int64_t>(train_size, 0)));
  std::iota(rows.begin(), rows.end(), int64_t(0));
  if (n >= train_size) return rows;
  std::mt19937_64 rng(mix_seed({split_seed, 0x70726f6265}));  // its own stream: not the split's
  data::seeded_shuffle(rows, rng);
  rows.resize(static_cast<size_t>(n));
  std::sort(rows.begin(), rows.end());
  return rows;
}

data::Split train_probe_split(const data::Split& train, int64_t n, uint64_t split_seed) {
  const std::vector<int64_t> rows = train_probe_rows(train.size(), n, split_seed);
  const torch::Tensor index = torch::tensor(rows, torch::kInt64);
  data::Split s;
  s.images = train.images.index_select(0, index.to(train.images.device()));
  s.labels = train.labels.index_select(0, index.to(train.labels.device()));
  for (int64_t r : rows)
    if (static_cast<size_t>(r) < train.files.size()) s.files.push_back(train.files[r]);
  return s;
}

TrainProbe::TrainProbe(const Prepared& p) : hw_(p.hw) {
  if (p.train.train_probe == 0 || p.data.train.size() == 0) return;
  split_ = train_probe_split(p.data.train, p.train.train_probe, p.dataset.split_seed);
  loader_.emplace(eval_loader(p, split_));  // the val loader's options: no augmentation
}

double TrainProbe::measure(GraphModule& model, EpochRow& row) {
  if (!loader_) return 0;
  EvalResult r = evaluate(model, *loader_, hw_);
  row.train_eval_loss = r.loss;
  row.train_eval_acc = r.accuracy;
  return r.compute_seconds;
}

}  // namespace engine
