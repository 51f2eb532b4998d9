#include "engine/nn/dataset/dataset.hpp"

#include <stdexcept>

namespace engine::data {
namespace {

LoadedData load_for(const DataConfig& config, SplitName which) {
  return load_data(config, which == SplitName::test ? TestSplit::Load : TestSplit::Skip);
}

TinyImageNetDataset from_loaded(LoadedData data, SplitName which) {
  Split& split = which == SplitName::train ? data.train : which == SplitName::val ? data.val : data.test;
  return TinyImageNetDataset(std::move(split), std::move(data.wnids), std::move(data.names));
}

}  // namespace

TinyImageNetDataset::TinyImageNetDataset(const DataConfig& config, SplitName which)
    : TinyImageNetDataset(from_loaded(load_for(config, which), which)) {}

TinyImageNetDataset::TinyImageNetDataset(Split split, std::vector<std::string> wnids, std::vector<std::string> names)
    : split_(std::move(split)), wnids_(std::move(wnids)), names_(std::move(names)) {}

torch::data::Example<> TinyImageNetDataset::get(size_t index) {
  if (index >= size_t(split_.size()))
    throw std::out_of_range("TinyImageNetDataset::get: index " + std::to_string(index) + " of " +
                            std::to_string(split_.size()));
  return {split_.images[int64_t(index)], split_.labels[int64_t(index)]};
}

torch::optional<size_t> TinyImageNetDataset::size() const { return size_t(split_.size()); }

std::vector<torch::data::Example<>> TinyImageNetDataset::get_batch(c10::ArrayRef<size_t> indices) {
  std::vector<int64_t> rows(indices.begin(), indices.end());
  for (int64_t row : rows)
    if (row < 0 || row >= split_.size())
      throw std::out_of_range("TinyImageNetDataset::get_batch: index " + std::to_string(row) + " of " +
                              std::to_string(split_.size()));
  const auto index = torch::tensor(rows, torch::kInt64);
  const torch::Tensor images = split_.images.index_select(0, index);
  const torch::Tensor labels = split_.labels.index_select(0, index);
  std::vector<torch::data::Example<>> batch;
  batch.reserve(rows.size());
  for (int64_t i = 0; i < int64_t(rows.size()); ++i) batch.emplace_back(images[i], labels[i]);
  return batch;
}

}  // namespace engine::data
