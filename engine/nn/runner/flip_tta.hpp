#pragma once
// Flip test-time augmentation for `engine test`: one pass gives the predictions of each image
// and those of the mean of its logits and its mirror image's, so both accuracies come from the
// same weights and batches.
#include <cstdint>
#include <vector>

#include "engine/nn/dataset/batch_loader.hpp"
#include "engine/nn/model.hpp"
#include "engine/nn/runner/hardware.hpp"

namespace engine {

namespace dist {
class ProcessGroup;
}

struct FlipEvalResult {
  std::vector<int64_t> plain, tta;  // predictions in loader order
  double plain_accuracy = 0, tta_accuracy = 0;
  int64_t count = 0;
};

// One pass of `loader` in eval mode, as evaluate() computes logits (the run's precision). With a
// group, the loader holds this rank's shards and the result is that of every rank together.
FlipEvalResult evaluate_with_flip(GraphModule& model, data::BatchLoader& loader, const Hardware& hw,
                                  dist::ProcessGroup* group = nullptr);

}  // namespace engine
