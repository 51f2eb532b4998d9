#include "engine/nn/use/predict.hpp"

#include <algorithm>
#include <chrono>

#include "engine/core/sections.hpp"
#include "engine/nn/dataset/batch_loader.hpp"
#include "engine/nn/dataset/decode.hpp"
#include "engine/nn/model.hpp"
#include "engine/nn/runner/checkpoint.hpp"
#include "engine/nn/runner/hardware.hpp"
#include "engine/nn/runner/plan.hpp"

namespace engine {

namespace fs = std::filesystem;

namespace {
bool has_image_extension(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpeg" || ext == ".jpg" || ext == ".png" || ext == ".bmp";
}

// Logits of one normalised batch, as evaluate() computes them (the run's precision), in float.
torch::Tensor logits_of(GraphModule& model, const torch::Tensor& images, const Hardware& hw, bool tta) {
  Autocast autocast(hw);
  torch::Tensor logits = model->forward(images).to(torch::kFloat);
  if (tta) logits = (logits + model->forward(images.flip({3})).to(torch::kFloat)) / 2;
  return logits;
}
}  // namespace

std::vector<std::string> image_inputs(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  for (const auto& p : paths) {
    if (!fs::is_directory(p)) {
      files.push_back(p);
      continue;
    }
    std::vector<std::string> found;
    for (const auto& entry : fs::recursive_directory_iterator(p, fs::directory_options::follow_directory_symlink))
      if (entry.is_regular_file() && has_image_extension(entry.path())) found.push_back(entry.path().string());
    std::sort(found.begin(), found.end());
    if (found.empty()) found.push_back(p);  // reported: a directory without images
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

PredictSummary predict_images(const std::string& run_or_graph, const std::vector<std::string>& paths,
                              const PredictOptions& o, const std::function<void(const ImagePrediction&)>& each) {
  TrainedRun run = open_trained_run(run_or_graph, o.source);
  const Shape& input = run.graph.input;
  if (input.size() != 3 || (input[0] != 3 && input[0] != 1))
    throw UserError("engine predict feeds RGB or grey images, but " + run.graph.name + " takes " + shape_str(input));
  TrainConfig t = train_config(run.spec);
  // "auto" predicts in the format the run measured and trained with, as `engine test` evaluates.
  ConvChoices conv_kernels;
  adopt_recorded_plan(t, conv_kernels, RunDir(run.dir));
  Hardware hw = setup_hardware(t, input.size());
  GraphModule model = build_model(run.graph, KernelSettings{t.kernels != "aten", conv_kernels, nullptr});
  place_model(*model, hw);
  CheckpointInfo info = load_checkpoint(run.dir / "best.pt", *model);
  model->eval();
  torch::NoGradGuard no_grad;

  PredictSummary summary;
  summary.device = hw.name;
  summary.run = run.dir;
  summary.best_epoch = info.best_epoch;
  summary.note = run.note;
  const int64_t k = std::clamp<int64_t>(o.top, 1, static_cast<int64_t>(run.data.wnids.size()));
  const std::vector<std::string> files = image_inputs(paths);
  const size_t chunk = static_cast<size_t>(std::max<int64_t>(o.chunk, 1));
  auto start = std::chrono::steady_clock::now();

  for (size_t begin = 0; begin < files.size(); begin += chunk) {
    const size_t count = std::min(chunk, files.size() - begin);
    std::vector<ImagePrediction> results(count);
    std::vector<std::string> readable;
    std::vector<size_t> slot;  // readable[i] is results[slot[i]]
    for (size_t i = 0; i < count; ++i) {
      const std::string& f = files[begin + i];
      results[i].file = f;
      std::error_code ec;
      if (!fs::exists(f, ec))
        results[i].error = "no such file or directory";
      else if (fs::is_directory(f, ec))
        results[i].error = "a directory without .jpg, .jpeg, .png or .bmp files";
      else
        readable.push_back(f), slot.push_back(i);
    }

    if (!readable.empty()) {
      data::DecodedImages decoded = data::decode_images(readable, static_cast<int>(input[0]),
                                                        static_cast<int>(input[1]), static_cast<int>(input[2]), true);
      std::vector<int64_t> good;
      for (size_t i = 0, c = 0; i < readable.size(); ++i) {
        if (c < decoded.corrupt.size() && decoded.corrupt[c] == i) {
          results[slot[i]].error = "cannot be read as an image (unreadable, corrupt, truncated, or not JPEG/PNG/BMP)";
          ++c;
        } else {
          good.push_back(static_cast<int64_t>(i));
        }
      }
      if (!good.empty()) {
        // The eval loader itself normalises, exactly as for the val and test splits.
        data::Split split;
        split.images = static_cast<int64_t>(good.size()) == decoded.images.size(0)
                           ? decoded.images
                           : decoded.images.index_select(0, torch::tensor(good, torch::kInt64));
        split.labels = torch::zeros({static_cast<int64_t>(good.size())}, torch::kInt64);
        data::LoaderOptions lo;
        lo.batch_size = t.eval_batch_size;
        lo.mean = run.data.mean;
        lo.std = run.data.std;
        lo.channels_last = hw.channels_last;
        lo.device = hw.device;
        data::BatchLoader loader(split, lo);
        size_t row = 0;
        while (auto batch = loader.next()) {
          torch::Tensor probs = torch::softmax(logits_of(model, batch->images, hw, o.tta), 1);
          auto [p, label] = probs.topk(k, 1);
          p = p.to(torch::kCPU).to(torch::kDouble).contiguous();
          label = label.to(torch::kCPU).to(torch::kLong).contiguous();
          auto pa = p.accessor<double, 2>();
          auto la = label.accessor<int64_t, 2>();
          for (int64_t b = 0; b < p.size(0); ++b, ++row) {
            ImagePrediction& r = results[slot[static_cast<size_t>(good[row])]];
            for (int64_t j = 0; j < k; ++j) {
              int64_t l = la[b][j];
              r.top.push_back({l, run.data.wnids[l], run.data.names[l], pa[b][j]});
            }
          }
        }
      }
    }
    for (const auto& r : results) {
      (r.error.empty() ? summary.predicted : summary.failed) += 1;
      each(r);
    }
  }
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace engine
