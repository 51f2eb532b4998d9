#pragma once
// `engine predict`: a trained run's best checkpoint applied to image files. Images of any
// size and colour mode go through the dataset's decoder (grey → 3 equal channels, resized
// with cv::INTER_AREA) and the eval loader's normalisation with the run's mean/std, so a
// file of the test split gets the prediction `engine test` made for it. Torch-free header.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/nn/use/trained_run.hpp"

namespace engine {

struct PredictOptions {
  RunSource source;
  int64_t top = 5;       // classes per image (at most the number of classes)
  bool tta = false;      // average the logits of the image and of its horizontal flip
  int64_t chunk = 1024;  // images decoded at once (memory: chunk x 3 x H x W bytes)
};

struct ClassScore {
  int64_t label = 0;
  std::string wnid, name;
  double probability = 0;
};

struct ImagePrediction {
  std::string file;
  std::string error;            // why the file got no prediction; empty when it did
  std::vector<ClassScore> top;  // most probable first
};

struct PredictSummary {
  int64_t predicted = 0, failed = 0;
  double seconds = 0;  // decoding and inference, after the model is loaded
  std::string device;
  std::filesystem::path run;
  int64_t best_epoch = 0;
  std::string note;  // TrainedRun::note
};

// The files to predict, in order: a file as given (even when it is no image: it is then
// reported), a directory walked recursively for .jpg/.jpeg/.png/.bmp files (any case), sorted.
std::vector<std::string> image_inputs(const std::vector<std::string>& paths);

// Predicts every input in batches and calls `each` once per input, in input order; files that
// cannot be read get an error and the others still their predictions.
PredictSummary predict_images(const std::string& run_or_graph, const std::vector<std::string>& paths,
                              const PredictOptions& options, const std::function<void(const ImagePrediction&)>& each);

}  // namespace engine
