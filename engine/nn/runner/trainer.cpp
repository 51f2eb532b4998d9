#include "engine/nn/runner/trainer.hpp"

#include <chrono>
#include <cmath>

#include "engine/nn/runner/evaluate.hpp"
#include "engine/nn/runner/optimizer.hpp"
#include "engine/nn/runner/progress.hpp"

namespace engine {

using Clock = std::chrono::steady_clock;

namespace {
double seconds_from(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
}  // namespace

Trainer::Trainer(GraphModule model, torch::optim::Optimizer& optimizer, data::BatchLoader& train,
                 data::BatchLoader& val, const TrainConfig& config, const Hardware& hw)
    : model_(std::move(model)), optimizer_(optimizer), train_(train), val_(val), config_(config), hw_(hw) {}

// One optimiser step; returns the batch's loss, and its logits.
float Trainer::step(const data::Batch& batch, int64_t epoch, int64_t batch_index, torch::Tensor& logits) {
  torch::Tensor loss;
  {
    Autocast autocast(hw_);
    logits = model_->forward(batch.images);
    loss = torch::nn::functional::cross_entropy(
        logits, batch.labels, torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(config_.label_smoothing));
  }
  float value = loss.item<float>();
  if (!std::isfinite(value))
    throw UserError("training diverged: the loss is " + std::to_string(value) + " at epoch " +
                    std::to_string(epoch + 1) + ", batch " + std::to_string(batch_index + 1) +
                    "; lower [train].lr (now " + std::to_string(config_.lr) + ") or add warm-up. best.pt and the "
                    "metrics of earlier epochs are kept.");
  optimizer_.zero_grad();
  loss.backward();
  optimizer_.step();
  return value;
}

Trainer::Pass Trainer::train_epoch(int64_t epoch, const TrainerCallbacks& callbacks) {
  model_->train();
  train_.start_epoch(epoch);
  Pass s;
  double loss_sum = 0;
  int64_t correct = 0, batch_index = 0;
  Progress progress(epoch + 1, config_.epochs, train_.num_batches());
  auto start = Clock::now();
  while (std::optional<data::Batch> batch = train_.next()) {
    if (callbacks.stop_requested && callbacks.stop_requested()) {
      s.stopped = true;
      return s;
    }
    auto compute = Clock::now();
    torch::Tensor logits;
    float loss = step(*batch, epoch, batch_index, logits);
    if (callbacks.step_done) callbacks.step_done();
    s.compute_seconds += seconds_from(compute);
    int64_t n = batch->labels.size(0);
    loss_sum += loss * n;
    correct += logits.argmax(1).eq(batch->labels).sum().item<int64_t>();
    s.images += n;
    progress.update(++batch_index, s.images);
  }
  s.seconds = seconds_from(start);
  s.loss = loss_sum / std::max<int64_t>(s.images, 1);
  s.accuracy = static_cast<double>(correct) / std::max<int64_t>(s.images, 1);
  return s;
}

bool Trainer::run(CheckpointInfo& state, int64_t max_epochs, const TrainerCallbacks& callbacks) {
  for (int64_t e = state.epoch, done = 0; e < config_.epochs && !(max_epochs && done >= max_epochs); ++e, ++done) {
    double lr = lr_at(config_, e);
    set_lr(optimizer_, lr);
    torch::manual_seed(config_.seed * 1000003 + e + 1);  // dropout: a function of (seed, epoch), so resume is exact
    Pass tr = train_epoch(e, callbacks);
    if (tr.stopped) return false;
    auto val_start = Clock::now();
    GraphModule evaluated = callbacks.evaluated ? callbacks.evaluated() : model_;
    EvalResult val = evaluate(evaluated, val_, hw_, true);
    EpochReport report;
    report.row = {static_cast<int>(e + 1), tr.loss, tr.accuracy, val.loss, val.accuracy, lr, 0,
                  tr.images / std::max(tr.seconds, 1e-9), {}, {}};
    double measured = callbacks.measure ? callbacks.measure(evaluated, report.row) : 0;
    double seconds = report.row.seconds = tr.seconds + seconds_from(val_start);
    report.val_predictions = std::move(val.predictions);
    report.best = val.accuracy > state.best_val_acc;
    report.overhead = 1 - (tr.compute_seconds + val.compute_seconds + measured) / std::max(seconds, 1e-9);
    if (report.best) state.best_val_acc = val.accuracy, state.best_epoch = e + 1;
    state.epoch = e + 1;
    if (callbacks.epoch_done) callbacks.epoch_done(report, state);
  }
  return true;
}

}  // namespace engine
