#pragma once
// One pass of a model over a loader without gradients: the val pass of every epoch and the
// test split's predictions.
#include <cstdint>
#include <vector>

#include "engine/nn/dataset/batch_loader.hpp"
#include "engine/nn/model.hpp"
#include "engine/nn/runner/hardware.hpp"

namespace engine {

namespace dist {
class ProcessGroup;
}

struct EvalResult {
  double loss = 0, accuracy = 0;
  double compute_seconds = 0;  // in forward passes
  int64_t count = 0;
  std::vector<int64_t> predictions;  // when asked for, in loader order
};

// Mean loss and accuracy over one pass of `loader` in eval mode. With a group, the loader holds
// this rank's shards and the figures (and predictions) are those of every rank together.
EvalResult evaluate(GraphModule& model, data::BatchLoader& loader, const Hardware& hw, bool keep_predictions = false,
                    dist::ProcessGroup* group = nullptr);

}  // namespace engine
