#include "engine/nn/runner/test_split.hpp"

#include <opencv2/core.hpp>

#include <random>

#include "engine/core/sections.hpp"
#include "engine/nn/dataset/tiny_imagenet.hpp"
#include "engine/core/eval/metrics.hpp"
#include "engine/core/eval/plots.hpp"
#include "engine/core/registry.hpp"
#include "engine/nn/runner/checkpoint.hpp"
#include "engine/core/run_dir.hpp"
#include "engine/nn/runner/trainer.hpp"

namespace engine {

namespace fs = std::filesystem;

namespace {
cv::Mat to_rgb_mat(const torch::Tensor& chw) {
  torch::Tensor hwc = chw.permute({1, 2, 0}).contiguous();
  return cv::Mat(static_cast<int>(hwc.size(0)), static_cast<int>(hwc.size(1)), CV_8UC3, hwc.data_ptr<uint8_t>()).clone();
}
}  // namespace

TestOutcome test_graph(const fs::path& graph_file, const TestOptions& o) {
  Value spec = load_spec(graph_file, o.sets, o.bases);
  complete_sections(spec);
  Graph g = build_graph(spec, default_registry());
  TrainConfig t = train_config(spec);
  fs::path run = o.out.empty() ? fs::path("runs") / g.name : fs::path(o.out);
  fs::path best = run / "best.pt";
  if (!fs::exists(best))
    throw UserError(best.string() + ": no best checkpoint; train the graph first (engine run " + graph_file.string() + ")");

  Hardware hw = setup_hardware(t, g.input.size());
  GraphModule model = build_model(g);
  place_model(*model, hw);
  CheckpointInfo info = load_checkpoint(best, *model);

  data::DataConfig dc = data_config(spec, o.data_root, g.input, (run.parent_path() / ".cache").string());
  data::TinyImageNet data = data::load_tiny_imagenet(dc, data::TestSplit::Load);
  data::LoaderOptions lo;
  lo.batch_size = t.eval_batch_size;
  lo.mean = data.mean;
  lo.std = data.std;
  lo.channels_last = hw.channels_last;
  lo.device = hw.device;
  data::BatchLoader loader(data.test, lo);
  EvalResult r = evaluate(model, loader, hw, true);

  torch::Tensor labels = data.test.labels.to(torch::kLong).contiguous();
  std::vector<int64_t> truth(labels.data_ptr<int64_t>(), labels.data_ptr<int64_t>() + labels.numel());
  int classes = static_cast<int>(data.wnids.size());
  eval::ConfusionMatrix cm = eval::confusion_matrix(truth, r.predictions, classes);
  eval::Metrics m = eval::compute_metrics(cm);
  std::vector<eval::ClassLabel> labels_of;
  for (size_t k = 0; k < data.wnids.size(); ++k) labels_of.push_back({data.wnids[k], data.names[k]});

  TestOutcome out;
  out.dir = run / "test";
  fs::create_directories(out.dir);
  out.accuracy = m.accuracy;
  out.report = eval::classification_report(m, data.names);
  eval::write_metrics_toml(out.dir / "metrics.toml", m, labels_of);
  write_text_atomic(out.dir / "report.txt", "Test split of " + g.name + " (best.pt, epoch " + std::to_string(info.best_epoch) +
                                                ", " + std::to_string(truth.size()) + " images)\n\n" + out.report);
  eval::write_confusion_csv(out.dir / "confusion.csv", cm, data.names);
  eval::confusion_png(out.dir / "confusion.png", cm, data.names);

  // The same images for the same seed: a seeded sample without replacement.
  std::mt19937_64 rng(t.seed);
  std::vector<int64_t> idx(truth.size());
  for (size_t k = 0; k < idx.size(); ++k) idx[k] = static_cast<int64_t>(k);
  std::shuffle(idx.begin(), idx.end(), rng);
  idx.resize(std::min<size_t>(idx.size(), static_cast<size_t>(o.samples)));
  std::vector<cv::Mat> images;
  std::vector<std::string> true_names, pred_names;
  for (int64_t k : idx) {
    images.push_back(to_rgb_mat(data.test.images[k]));
    true_names.push_back(data.names[truth[k]]);
    pred_names.push_back(data.names[r.predictions[k]]);
  }
  eval::samples_png(out.dir / "samples.png", images, true_names, pred_names);
  return out;
}

}  // namespace engine
