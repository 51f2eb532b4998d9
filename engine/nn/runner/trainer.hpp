#pragma once
// `engine run`: one runner for every graph. What [train] says is what happens.
#include <filesystem>
#include <string>
#include <vector>

#include "engine/nn/dataset/batch_loader.hpp"
#include "engine/nn/model.hpp"
#include "engine/nn/runner/hardware.hpp"
#include "engine/nn/runner/run.hpp"

namespace engine {

struct EvalResult {
  double loss = 0, accuracy = 0;
  double compute_seconds = 0;  // in forward passes
  int64_t count = 0;
  std::vector<int64_t> predictions;  // when asked for, in loader order
};

// Mean loss and accuracy over one pass of `loader` in eval mode, without gradients.
EvalResult evaluate(GraphModule& model, data::BatchLoader& loader, const Hardware& hw, bool keep_predictions = false);

}  // namespace engine
