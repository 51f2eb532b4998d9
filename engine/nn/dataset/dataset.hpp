#pragma once
// A split of the data (any format) as a torch dataset, the C++ counterpart of a PyTorch Dataset: it works with
// torch::data::make_data_loader. The engine's own training loop uses BatchLoader, which is faster.
#include <string>
#include <vector>

#include <torch/torch.h>

#include "engine/nn/dataset/data.hpp"

namespace engine::data {

enum class SplitName { train, val, test };

class TinyImageNetDataset : public torch::data::datasets::Dataset<TinyImageNetDataset> {
 public:
  // Resolves the paths, lists the images and labels, decodes them (or reads the cache) and keeps `which`.
  TinyImageNetDataset(const DataConfig& config, SplitName which);
  // Wraps a split that is already loaded (shares its tensors).
  TinyImageNetDataset(Split split, std::vector<std::string> wnids, std::vector<std::string> names);

  // Image `index`: uint8 3 x H x W RGB, and its int64 label.
  torch::data::Example<> get(size_t index) override;
  torch::optional<size_t> size() const override;
  // One gather for the whole batch instead of one get() per image.
  std::vector<torch::data::Example<>> get_batch(c10::ArrayRef<size_t> indices) override;

  const Split& split() const { return split_; }
  const std::vector<std::string>& wnids() const { return wnids_; }  ///< label -> class id
  const std::vector<std::string>& names() const { return names_; }  ///< label -> short human name

 private:
  Split split_;
  std::vector<std::string> wnids_, names_;
};

}  // namespace engine::data
