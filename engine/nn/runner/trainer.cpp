#include "engine/nn/runner/trainer.hpp"

#include <chrono>
#include <cmath>
#include <limits>

#include "engine/nn/dist/ddp.hpp"
#include "engine/nn/runner/evaluate.hpp"
#include "engine/nn/runner/optimizer.hpp"
#include "engine/nn/runner/progress.hpp"

namespace engine {

using Clock = std::chrono::steady_clock;

namespace {
double seconds_from(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Reading a GPU value stalls its queue, so the loss is checked every few steps there; on the CPU
// reading is free and a diverged run stops at once.
int64_t check_interval(const Hardware& hw) { return hw.device.is_cuda() ? 16 : 1; }

constexpr int64_t kNoBatch = std::numeric_limits<int64_t>::max();
}  // namespace

// An epoch's figures, kept where the steps compute them and read when checked. The loss sum adds
// float(loss * n) in double, as the host loop did, so CPU figures are unchanged to the bit.
struct Trainer::Sums {
  torch::Tensor loss_sum, correct, first_bad, bad_loss;
  explicit Sums(torch::Device device) {
    auto on = torch::TensorOptions().device(device);
    loss_sum = torch::zeros({}, on.dtype(torch::kDouble));
    correct = torch::zeros({}, on.dtype(torch::kLong));
    first_bad = torch::full({}, kNoBatch, on.dtype(torch::kLong));
    bad_loss = torch::zeros({}, on.dtype(torch::kFloat));
  }
  void add(const torch::Tensor& loss, const torch::Tensor& logits, const torch::Tensor& labels, int64_t batch) {
    torch::NoGradGuard no_grad;
    torch::Tensor value = loss.detach().to(torch::kFloat);
    loss_sum.add_((value * labels.size(0)).to(torch::kDouble));
    correct.add_(logits.argmax(1).eq(labels).sum());
    torch::Tensor fresh = value.isfinite().logical_not().logical_and(first_bad.eq(kNoBatch));
    first_bad.masked_fill_(fresh, batch);
    bad_loss.copy_(torch::where(fresh, value, bad_loss));
  }
};

Trainer::Trainer(GraphModule model, torch::optim::Optimizer& optimizer, data::BatchLoader& train,
                 data::BatchLoader& val, const TrainConfig& config, const Hardware& hw, dist::ProcessGroup* group)
    : model_(std::move(model)),
      optimizer_(optimizer),
      train_(train),
      val_(val),
      config_(config),
      hw_(hw),
      group_(group) {
  if (group_) reducer_ = std::make_unique<dist::GradientReducer>(*group_, model_->parameters());
}

Trainer::~Trainer() = default;

// One optimiser step; the batch's figures go to `sums`.
void Trainer::step(const data::Batch& batch, int64_t batch_index, Sums& sums) {
  optimizer_.zero_grad();
  if (batch.labels.size(0) > 0) {  // a rank's shard of a batch smaller than the ranks can be empty
    torch::Tensor logits, loss;
    {
      Autocast autocast(hw_);
      logits = model_->forward(batch.images);
      loss = training_loss(logits, batch.labels, config_);
    }
    loss.backward();
    sums.add(loss, logits, batch.labels, batch_index);
  }
  if (reducer_) reducer_->reduce(batch.labels.size(0), batch.global_size);
  optimizer_.step();
}

// Whether to stop now (any rank asked); throws if any rank's loss has not been finite.
bool Trainer::agree_stop(bool stop, const Sums& sums, int64_t epoch) {
  int64_t first_bad = 0;
  if (group_) {  // min over ranks: the first bad batch, and -1 when any rank asks to stop
    std::vector<torch::Tensor> flags{
        torch::stack({sums.first_bad, torch::full({}, stop ? -1 : 0, sums.first_bad.options())})};
    group_->all_reduce(flags, dist::Reduce::Min, "agreeing on stop requests and divergence");
    torch::Tensor cpu = flags[0].cpu();
    first_bad = cpu[0].item<int64_t>();
    stop = cpu[1].item<int64_t>() < 0;
  } else {
    first_bad = sums.first_bad.item<int64_t>();
  }
  if (first_bad != kNoBatch) {
    std::string value = sums.first_bad.item<int64_t>() == first_bad ? std::to_string(sums.bad_loss.item<float>())
                                                                    : "not finite on another rank";
    throw UserError("training diverged: the loss is " + value + " at epoch " + std::to_string(epoch + 1) + ", batch " +
                    std::to_string(first_bad + 1) + "; lower [train].lr (now " + std::to_string(config_.lr) +
                    ") or add warm-up. best.pt and the metrics of earlier epochs are kept.");
  }
  return stop;
}

Trainer::Pass Trainer::train_epoch(int64_t epoch, const TrainerCallbacks& callbacks) {
  model_->train();
  train_.start_epoch(epoch);
  Pass s;
  Sums sums(hw_.device);
  const int64_t every = check_interval(hw_);
  int64_t batch_index = 0, images = 0, mine = 0;  // images of the global batches, of this rank's shards
  Progress progress(epoch + 1, config_.epochs, train_.num_batches());
  auto start = Clock::now();
  while (std::optional<data::Batch> batch = train_.next()) {
    if (batch_index % every == 0 && agree_stop(callbacks.stop_requested && callbacks.stop_requested(), sums, epoch)) {
      s.stopped = true;
      return s;
    }
    auto compute = Clock::now();
    step(*batch, batch_index, sums);
    if (callbacks.step_done) callbacks.step_done();
    s.compute_seconds += seconds_from(compute);
    images += batch->global_size;
    mine += batch->labels.size(0);
    progress.update(++batch_index, images);
  }
  agree_stop(false, sums, epoch);  // the steps since the last check
  std::vector<torch::Tensor> totals{torch::stack(
      {sums.loss_sum, sums.correct.to(torch::kDouble), torch::full({}, double(mine), sums.loss_sum.options())})};
  if (group_) group_->all_reduce(totals, dist::Reduce::Sum, "adding up the epoch's loss and accuracy");
  torch::Tensor t = totals[0].cpu();  // waits for the device: the epoch's time is real
  s.seconds = seconds_from(start);
  s.images = static_cast<int64_t>(t[2].item<double>());
  s.loss = t[0].item<double>() / std::max<int64_t>(s.images, 1);
  s.accuracy = t[1].item<double>() / std::max<int64_t>(s.images, 1);
  return s;
}

bool Trainer::run(CheckpointInfo& state, int64_t max_epochs, const TrainerCallbacks& callbacks) {
  for (int64_t e = state.epoch, done = 0; e < config_.epochs && !(max_epochs && done >= max_epochs); ++e, ++done) {
    double lr = lr_at(config_, e);
    set_lr(optimizer_, lr);
    // Dropout: a function of (seed, epoch, rank), so resume is exact; ranks draw their own masks.
    torch::manual_seed(config_.seed * 1000003 + e + 1 + (group_ ? 7919 * group_->rank() : 0));
    Pass tr = train_epoch(e, callbacks);
    if (tr.stopped) return false;
    if (group_) dist::broadcast_buffers(*group_, *model_);
    auto val_start = Clock::now();
    GraphModule evaluated = callbacks.evaluated ? callbacks.evaluated() : model_;
    if (group_ && evaluated.ptr() != model_.ptr()) dist::broadcast_buffers(*group_, *evaluated);
    EvalResult val = evaluate(evaluated, val_, hw_, true, group_);
    if (group_) dist::check_replicas(*group_, *model_, "after epoch " + std::to_string(e + 1));
    EpochReport report;
    report.row = {static_cast<int>(e + 1),
                  tr.loss,
                  tr.accuracy,
                  val.loss,
                  val.accuracy,
                  lr,
                  0,
                  tr.images / std::max(tr.seconds, 1e-9),
                  {},
                  {}};
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
