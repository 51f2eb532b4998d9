// `engine test`: prepare, one pass over the test split with best.pt, then test/'s files.
#ifdef ENGINE_HAVE_OPENCV
#include <opencv2/core.hpp>
#endif
#include <spdlog/spdlog.h>

#include "engine/core/eval/metrics.hpp"
#include "engine/core/eval/plots.hpp"
#include "engine/core/files.hpp"
#include "engine/core/run_lock.hpp"
#include "engine/nn/dataset/seeded.hpp"
#include "engine/nn/dist/ddp.hpp"
#include "engine/nn/runner/checkpoint.hpp"
#include "engine/nn/runner/evaluate.hpp"
#include "engine/nn/runner/flip_tta.hpp"
#include "engine/nn/runner/plan.hpp"
#include "engine/nn/runner/prepare.hpp"

namespace engine {

namespace fs = std::filesystem;

namespace {
#ifdef ENGINE_HAVE_OPENCV
cv::Mat to_rgb_mat(const torch::Tensor& chw) {
  torch::Tensor hwc = chw.permute({1, 2, 0}).contiguous();
  return cv::Mat(static_cast<int>(hwc.size(0)), static_cast<int>(hwc.size(1)), CV_8UC3, hwc.data_ptr<uint8_t>())
      .clone();
}

// samples.png: the same images for the same seed, a seeded sample without replacement.
void draw_samples(const Prepared& p, const std::vector<int64_t>& truth, const std::vector<int64_t>& predicted,
                  int samples) {
  std::mt19937_64 rng(p.train.seed);
  std::vector<int64_t> idx(truth.size());
  for (size_t k = 0; k < idx.size(); ++k) idx[k] = static_cast<int64_t>(k);
  data::seeded_shuffle(idx, rng);
  idx.resize(std::min<size_t>(idx.size(), static_cast<size_t>(samples)));
  std::vector<cv::Mat> images;
  std::vector<std::string> true_names, pred_names;
  for (int64_t k : idx) {
    images.push_back(to_rgb_mat(p.data.test.images[k]));
    true_names.push_back(p.data.names[truth[k]]);
    pred_names.push_back(p.data.names[predicted[k]]);
  }
  eval::samples_png(p.dir / run_file::samples, images, true_names, pred_names);
}
#endif

// metrics.toml, report.txt, confusion.csv and .png, samples.png.
TestOutcome write_test_files(const Prepared& p, const std::vector<int64_t>& predicted, const CheckpointInfo& info,
                             int samples, const TtaAccuracy& tta) {
  torch::Tensor labels = p.data.test.labels.to(torch::kLong).contiguous();
  std::vector<int64_t> truth(labels.data_ptr<int64_t>(), labels.data_ptr<int64_t>() + labels.numel());
  eval::ConfusionMatrix cm = eval::confusion_matrix(truth, predicted, static_cast<int>(p.data.wnids.size()));
  eval::Metrics m = eval::compute_metrics(cm);
  std::vector<eval::ClassLabel> labels_of;
  for (size_t k = 0; k < p.data.wnids.size(); ++k) labels_of.push_back({p.data.wnids[k], p.data.names[k]});

  TestOutcome out;
  out.dir = p.dir / run_file::test_dir;
  out.accuracy = m.accuracy;
  out.report = eval::classification_report(m, p.data.names);
  out.tta = tta;
  p.dir.write_test_metrics(m, labels_of, tta);
  write_file_atomic(p.dir / run_file::test_report, "Test split of " + p.graph.name + " (best.pt, epoch " +
                                                       std::to_string(info.best_epoch) + ", " +
                                                       std::to_string(truth.size()) + " images" +
                                                       (tta.used ? ", flip TTA" : "") + ")\n\n" + out.report);
  p.dir.write_confusion(cm, p.data.names);
#ifdef ENGINE_HAVE_OPENCV
  eval::confusion_png(p.dir / run_file::confusion_png, cm, p.data.names);
  draw_samples(p, truth, predicted, samples);
#else
  (void)samples;
  spdlog::warn("built without OpenCV: {} and {} are not drawn", run_file::confusion_png, run_file::samples);
#endif
  return out;
}
}  // namespace

TestOutcome test_graph(const fs::path& graph_file, const TestOptions& o) {
  Prepared p = resolve(graph_file, o);
  join_ranks(p);
  fs::path best = p.dir / run_file::best;
  if (!fs::exists(best))
    throw UserError(best.string() + ": no best checkpoint; train the graph first (engine run " + graph_file.string() +
                    ")");
  std::optional<RunLock> lock;  // no training may replace best.pt or test/ meanwhile; rank 0 holds it for all
  dist::on_root(p.group, "locking " + p.dir.path().string(), [&] { lock.emplace(p.dir.path()); });
  // "auto": evaluate in the format the run trained in, as its val figures were computed.
  adopt_recorded_plan(p.train, p.conv_kernels, p.dir);
  prepare_model(p);
  CheckpointInfo info = load_checkpoint(best, *p.model);
  prepare_data(p, o, data::TestSplit::Load);
  data::BatchLoader loader = eval_loader(p, p.data.test);
  // Each rank evaluates its shards; the predictions are gathered, and rank 0 writes the files.
  FlipEvalResult r = evaluate_with_flip(p.model, loader, p.hw, p.group);
  const bool use_tta = o.tta || p.train.test_tta;
  const TtaAccuracy tta{r.plain_accuracy, r.tta_accuracy, use_tta};
  if (p.root()) return write_test_files(p, use_tta ? r.tta : r.plain, info, o.samples, tta);
  TestOutcome out;
  out.dir = p.dir / run_file::test_dir;
  out.accuracy = use_tta ? r.tta_accuracy : r.plain_accuracy;
  out.tta = tta;
  return out;
}

}  // namespace engine
