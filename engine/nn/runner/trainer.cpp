#include "engine/nn/runner/trainer.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>

#include "engine/core/sections.hpp"
#include "engine/nn/dataset/tiny_imagenet.hpp"
#include "engine/core/draw.hpp"
#include "engine/core/info.hpp"
#include "engine/core/registry.hpp"
#include "engine/core/report/report.hpp"
#include "engine/nn/runner/checkpoint.hpp"
#include "engine/core/run_data.hpp"
#include "engine/core/run_dir.hpp"

namespace engine {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {
std::atomic<bool> g_interrupted{false};
extern "C" void on_sigint(int) { g_interrupted = true; }

// Ctrl-C sets a flag the loop reads between batches; a second one is not caught again.
class InterruptScope {
 public:
  InterruptScope() {
    g_interrupted = false;
    previous_ = std::signal(SIGINT, on_sigint);
  }
  ~InterruptScope() { std::signal(SIGINT, previous_); }

 private:
  void (*previous_)(int) = SIG_DFL;
};

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::shared_ptr<spdlog::logger> run_logger(const fs::path& log_file) {
  auto console = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_file.string(), false);
  auto log = std::make_shared<spdlog::logger>("run", spdlog::sinks_init_list{console, file});
  log->set_pattern("[%H:%M:%S] %v");
  log->flush_on(spdlog::level::info);
  return log;
}

// Learning rate of an epoch (0-based): optional linear warm-up from lr/10, then the schedule.
double lr_at(const TrainConfig& t, int64_t epoch) {
  if (epoch < t.warmup_epochs) return t.lr * (0.1 + 0.9 * static_cast<double>(epoch) / t.warmup_epochs);
  int64_t e = epoch - t.warmup_epochs, span = std::max<int64_t>(1, t.epochs - t.warmup_epochs);
  if (t.scheduler == "step") return t.lr * std::pow(t.gamma, static_cast<double>(e / t.step_size));
  if (t.scheduler == "cosine") return t.min_lr + (t.lr - t.min_lr) * 0.5 * (1 + std::cos(M_PI * e / span));
  return t.lr;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainConfig& t, std::vector<torch::Tensor> params) {
  if (t.optimizer == "sgd")
    return std::make_unique<torch::optim::SGD>(
        params, torch::optim::SGDOptions(t.lr).momentum(t.momentum).nesterov(t.nesterov).weight_decay(t.weight_decay));
  if (t.optimizer == "adamw")
    return std::make_unique<torch::optim::AdamW>(params, torch::optim::AdamWOptions(t.lr).weight_decay(t.weight_decay));
  return std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(t.lr).weight_decay(t.weight_decay));
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& group : opt.param_groups()) group.options().set_lr(lr);
}

// One line, redrawn in place, when stderr is a terminal; nothing otherwise (logs stay clean).
class Progress {
 public:
  Progress(int64_t epoch, int64_t epochs, int64_t batches)
      : on_(isatty(STDERR_FILENO)), epoch_(epoch), epochs_(epochs), batches_(batches), start_(Clock::now()) {}
  void update(int64_t done, int64_t images) {
    if (!on_) return;
    double s = seconds_since(start_), rate = images / std::max(s, 1e-9);
    int width = 24, filled = static_cast<int>(width * done / std::max<int64_t>(batches_, 1));
    std::fprintf(stderr, "\r epoch %lld/%lld [%s%s] %lld/%lld  %.0f img/s  ETA %.0fs   ",
                 static_cast<long long>(epoch_), static_cast<long long>(epochs_), std::string(filled, '#').c_str(),
                 std::string(width - filled, '.').c_str(), static_cast<long long>(done),
                 static_cast<long long>(batches_), rate, s / std::max<int64_t>(done, 1) * (batches_ - done));
  }
  ~Progress() {
    if (on_) std::fprintf(stderr, "\r%80s\r", "");
  }

 private:
  bool on_;
  int64_t epoch_, epochs_, batches_;
  Clock::time_point start_;
};

struct TrainStats {
  double loss = 0, accuracy = 0, seconds = 0, compute_seconds = 0;  // compute: forward, loss, backward, step
  int64_t images = 0;
  bool interrupted = false;
};

TrainStats train_epoch(GraphModule& model, torch::optim::Optimizer& opt, data::BatchLoader& loader,
                       const Hardware& hw, const TrainConfig& t, int64_t epoch) {
  model->train();
  loader.start_epoch(epoch);
  auto loss_options = torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(t.label_smoothing);
  TrainStats s;
  double loss_sum = 0;
  int64_t correct = 0, batch_index = 0;
  Progress progress(epoch + 1, t.epochs, loader.num_batches());
  auto start = Clock::now();
  for (;;) {
    std::optional<data::Batch> batch = loader.next();
    if (!batch) break;
    if (g_interrupted) {
      s.interrupted = true;
      return s;
    }
    auto compute = Clock::now();
    torch::Tensor logits, loss;
    {
      Autocast autocast(hw);
      logits = model->forward(batch->images);
      loss = torch::nn::functional::cross_entropy(logits, batch->labels, loss_options);
    }
    float value = loss.item<float>();
    if (!std::isfinite(value))
      throw UserError("training diverged: the loss is " + std::to_string(value) + " at epoch " +
                      std::to_string(epoch + 1) + ", batch " + std::to_string(batch_index + 1) +
                      "; lower [train].lr (now " + std::to_string(t.lr) + ") or add warm-up. best.pt and the "
                      "metrics of earlier epochs are kept.");
    opt.zero_grad();
    loss.backward();
    opt.step();
    s.compute_seconds += seconds_since(compute);
    int64_t n = batch->labels.size(0);
    loss_sum += value * n;
    correct += logits.argmax(1).eq(batch->labels).sum().item<int64_t>();
    s.images += n;
    progress.update(++batch_index, s.images);
  }
  s.seconds = seconds_since(start);
  s.loss = loss_sum / std::max<int64_t>(s.images, 1);
  s.accuracy = static_cast<double>(correct) / std::max<int64_t>(s.images, 1);
  return s;
}

Value summary_of(const Graph& g, const TrainConfig& t, const Hardware& hw, const std::vector<report::EpochRow>& rows,
                 const CheckpointInfo& best, int64_t val_size, double overhead, const std::string& hash,
                 const std::string& graph_file) {
  Value s = Value::table();
  auto put_s = [&](const char* k, const std::string& v) { s.set(k, Value::of_string(v)); };
  auto put_i = [&](const char* k, int64_t v) { s.set(k, Value::of_int(v)); };
  auto put_f = [&](const char* k, double v) { s.set(k, Value::of_float(v)); };
  put_s("name", g.name);
  put_s("title", g.title);
  put_s("graph", graph_file);
  put_i("params", g.params);
  put_i("macs", g.macs);
  put_i("epochs", static_cast<int64_t>(rows.size()));
  put_i("epochs_planned", t.epochs);
  const report::EpochRow* at_best = nullptr;
  for (const auto& r : rows)
    if (r.epoch == best.best_epoch) at_best = &r;
  put_f("best_val_acc", at_best ? at_best->val_acc : 0);
  put_i("best_epoch", best.best_epoch);
  put_f("train_acc_at_best", at_best ? at_best->train_acc : 0);
  put_f("train_loss_at_best", at_best ? at_best->train_loss : 0);
  put_f("val_loss_at_best", at_best ? at_best->val_loss : 0);
  const report::EpochRow* last = rows.empty() ? nullptr : &rows.back();
  put_f("final_train_acc", last ? last->train_acc : 0);
  put_f("final_val_acc", last ? last->val_acc : 0);
  put_f("final_train_loss", last ? last->train_loss : 0);
  put_f("final_val_loss", last ? last->val_loss : 0);
  put_i("val_size", val_size);
  double total = 0, rate = 0;
  for (const auto& r : rows) total += r.seconds, rate += r.img_per_s;
  put_f("epoch_seconds_mean", rows.empty() ? 0 : total / rows.size());
  put_f("total_seconds", total);
  put_f("train_img_per_s", rows.empty() ? 0 : rate / rows.size());
  put_f("overhead_fraction_last_epoch", overhead);  // time outside forward/backward/step
  put_s("device", hw.name);
  put_i("threads", hw.threads);
  put_s("precision", t.precision);
  put_s("memory_format", hw.channels_last ? "channels_last" : "contiguous");
  put_i("seed", static_cast<int64_t>(t.seed));
  put_s("engine_version", ENGINE_VERSION);
  put_s("config_hash", hash);
  s.set("complete", Value::of_bool(static_cast<int64_t>(rows.size()) >= t.epochs));
  return s;
}
}  // namespace

EvalResult evaluate(GraphModule& model, data::BatchLoader& loader, const Hardware& hw, bool keep_predictions) {
  model->eval();
  torch::NoGradGuard no_grad;
  loader.start_epoch(0);
  EvalResult r;
  double loss_sum = 0;
  int64_t correct = 0;
  while (auto batch = loader.next()) {
    auto compute = Clock::now();
    torch::Tensor logits;
    {
      Autocast autocast(hw);
      logits = model->forward(batch->images);
    }
    logits = logits.to(torch::kFloat);
    r.compute_seconds += seconds_since(compute);
    loss_sum += torch::nn::functional::cross_entropy(
                    logits, batch->labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                    .item<double>();
    torch::Tensor pred = logits.argmax(1);
    correct += pred.eq(batch->labels).sum().item<int64_t>();
    r.count += batch->labels.size(0);
    if (keep_predictions) {
      torch::Tensor cpu = pred.to(torch::kCPU).to(torch::kLong).contiguous();
      r.predictions.insert(r.predictions.end(), cpu.data_ptr<int64_t>(), cpu.data_ptr<int64_t>() + cpu.numel());
    }
  }
  r.loss = loss_sum / std::max<int64_t>(r.count, 1);
  r.accuracy = static_cast<double>(correct) / std::max<int64_t>(r.count, 1);
  return r;
}

RunOutcome run_graph(const fs::path& graph_file, const RunOptions& o) {
  Value spec = load_spec(graph_file, o.sets, o.bases);
  complete_sections(spec);
  Graph g = build_graph(spec, default_registry());
  TrainConfig t = train_config(spec);
  std::string config_text = to_toml(spec);

  RunOutcome outcome;
  outcome.dir = o.out.empty() ? fs::path("runs") / g.name : fs::path(o.out);
  outcome.epochs_planned = t.epochs;
  RunDir dir(outcome.dir);
  std::string moved = dir.prepare(config_text, spec, o.fresh);
  auto log = run_logger(dir / "train.log");
  spdlog::set_default_logger(log);  // the data pipeline's messages belong in train.log too
  if (!moved.empty()) log->info("--fresh: the previous run was moved to {}", moved);
  std::string hash = config_hash(config_text);

  // Resume point: last.pt says how many epochs are done; later metrics rows are dropped.
  fs::path last_pt = dir / "last.pt", best_pt = dir / "best.pt";
  Hardware hw = setup_hardware(t, g.input.size());
  torch::manual_seed(t.seed);  // initial weights
  GraphModule model = build_model(g);
  place_model(*model, hw);
  auto opt = make_optimizer(t, model->parameters());
  CheckpointInfo state;
  if (fs::exists(last_pt)) state = load_checkpoint(last_pt, *model, opt.get());
  std::vector<report::EpochRow> rows = dir.metrics_until(state.epoch);
  if (state.epoch >= t.epochs) {
    log->info("{}: already complete ({} epochs, best val acc {:.2f}% at epoch {})", dir.path().string(), state.epoch,
              100 * state.best_val_acc, state.best_epoch);
    outcome.epochs_done = state.epoch;
    outcome.best_val_acc = state.best_val_acc;
    outcome.complete = outcome.was_complete = true;
    return outcome;
  }

  data::DataConfig dc = data_config(spec, o.data_root, g.input, (outcome.dir.parent_path() / ".cache").string());
  auto load_start = Clock::now();
  data::TinyImageNet data = data::load_tiny_imagenet(dc, data::TestSplit::Skip);
  log->info("data: {} classes, {} train / {} val images from {} ({:.2f} s{})", data.wnids.size(), data.train.size(),
            data.val.size(), dc.root, seconds_since(load_start), data.from_cache ? ", cached" : "");
  if (g.num_classes != static_cast<int64_t>(data.wnids.size()))
    throw UserError(graph_file.string() + ": the graph's head has " + std::to_string(g.num_classes) +
                    " classes but the data has " + std::to_string(data.wnids.size()));
  write_run_data(dir.path(), {data.wnids, data.names, data.mean, data.std});  // for engine predict and export

  if (!fs::exists(dir / "model.txt")) write_text_atomic(dir / "model.txt", layer_table(g) + "\n" + model_text(*model) + "\n");
  if (!fs::exists(dir / "architecture.svg")) {
    try {
      draw_graph(g, dir / "architecture.svg", false);
    } catch (const std::exception& e) {
      log->warn("architecture.svg not drawn: {}", e.what());
    }
  }

  data::LoaderOptions train_opts;
  train_opts.batch_size = t.batch_size;
  train_opts.shuffle = true;
  train_opts.seed = t.seed;
  train_opts.augment = dc.augment;
  train_opts.mean = data.mean;
  train_opts.std = data.std;
  train_opts.channels_last = hw.channels_last;
  train_opts.device = hw.device;
  data::LoaderOptions eval_opts = train_opts;
  eval_opts.batch_size = t.eval_batch_size;
  eval_opts.shuffle = false;
  eval_opts.augment = {};
  data::BatchLoader train_loader(data.train, train_opts), val_loader(data.val, eval_opts);

  log->info("{}: {} params, {} on {}, {}, {} epochs{}", g.name, commas(g.params), t.optimizer, hw.name,
            t.precision + (hw.channels_last ? " channels_last" : ""), t.epochs,
            state.epoch ? " (resuming after epoch " + std::to_string(state.epoch) + ")" : "");

  InterruptScope interrupts;
  double overhead = 0;
  int64_t run_now = 0;
  for (int64_t e = state.epoch; e < t.epochs; ++e) {
    if (o.stop_after && run_now >= o.stop_after) break;
    double lr = lr_at(t, e);
    set_lr(*opt, lr);
    torch::manual_seed(t.seed * 1000003 + e + 1);  // dropout: a function of (seed, epoch), so resume is exact
    TrainStats tr = train_epoch(model, *opt, train_loader, hw, t, e);
    if (tr.interrupted) {
      log->warn("interrupted during epoch {}: it is dropped; run the same command to resume from epoch {}", e + 1, e + 1);
      outcome.interrupted = true;
      break;
    }
    auto val_start = Clock::now();
    EvalResult val = evaluate(model, val_loader, hw);
    double seconds = tr.seconds + seconds_since(val_start);
    report::EpochRow row{static_cast<int>(e + 1), tr.loss, tr.accuracy, val.loss, val.accuracy, lr, seconds,
                         tr.images / std::max(tr.seconds, 1e-9)};
    bool best = val.accuracy > state.best_val_acc;
    if (best) {
      state.best_val_acc = val.accuracy;
      state.best_epoch = e + 1;
    }
    state.epoch = e + 1;
    dir.append_metrics(row);
    rows.push_back(row);
    if (best) save_checkpoint(best_pt, *model, nullptr, state);
    save_checkpoint(last_pt, *model, opt.get(), state);
    overhead = 1 - (tr.compute_seconds + val.compute_seconds) / std::max(seconds, 1e-9);
    log->info("epoch {:>2}/{}  train loss {:.4f} acc {:5.2f}%  val loss {:.4f} acc {:5.2f}%  lr {:.2e}  {:.1f} s  "
              "{:.0f} img/s  overhead {:.1f}%{}",
              e + 1, t.epochs, tr.loss, 100 * tr.accuracy, val.loss, 100 * val.accuracy, lr, seconds, row.img_per_s,
              100 * overhead, best ? "  * best" : "");
    write_text_atomic(dir / "summary.toml", to_toml(summary_of(g, t, hw, rows, state, data.val.size(), overhead,
                                                               hash, graph_file.string())));
    ++run_now;
  }

  if (!rows.empty()) {
    try {
      report::training_curves(dir.path(), rows, g.name);
    } catch (const std::exception& e) {
      log->warn("charts not drawn: {}", e.what());
    }
  }
  outcome.epochs_done = state.epoch;
  outcome.best_val_acc = state.best_val_acc;
  outcome.complete = state.epoch >= t.epochs;
  if (outcome.complete)
    log->info("{}: done, best val acc {:.2f}% at epoch {}; results in {}", g.name, 100 * state.best_val_acc,
              state.best_epoch, dir.path().string());
  return outcome;
}

}  // namespace engine
