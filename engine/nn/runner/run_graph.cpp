// `engine run`: prepare, then the loop with callbacks that record each epoch, then artifacts.
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <optional>

#include "engine/core/info.hpp"
#include "engine/core/memory.hpp"
#include "engine/core/run_lock.hpp"
#include "engine/nn/dist/ddp.hpp"
#include "engine/nn/dist/ranks.hpp"
#include "engine/nn/runner/artifacts.hpp"
#include "engine/nn/runner/checkpoint.hpp"
#include "engine/nn/runner/ema.hpp"
#include "engine/nn/runner/interrupt.hpp"
#include "engine/nn/runner/optimizer.hpp"
#include "engine/nn/runner/plan.hpp"
#include "engine/nn/runner/prepare.hpp"
#include "engine/nn/runner/train_probe.hpp"
#include "engine/nn/runner/trainer.hpp"

namespace engine {

namespace fs = std::filesystem;

namespace {
// stdout and train.log; also the default logger, so the data pipeline's messages go there too.
std::shared_ptr<spdlog::logger> start_log(const RunDir& dir) {
  auto console = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>((dir / run_file::log).string(), false);
  auto log = std::make_shared<spdlog::logger>("run", spdlog::sinks_init_list{console, file});
  log->set_pattern("[%H:%M:%S] %v");
  log->flush_on(spdlog::level::info);
  spdlog::set_default_logger(log);
  return log;
}

// Before the run directory is touched, so that bad data (a folder, a corrupt image) leaves nothing behind.
double load_data(Prepared& p, const RunOptions& o) {
  auto start = std::chrono::steady_clock::now();
  prepare_data(p, o, data::TestSplit::Skip);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void log_data(Prepared& p, double seconds, spdlog::logger& log) {
  log.info("data: {} classes, {} train / {} val images from {} ({:.2f} s{})", p.data.wnids.size(), p.data.train.size(),
           p.data.val.size(), p.dataset.root, seconds, p.data.from_cache ? ", cached" : "");
  // What engine predict and export need to read new images as this run read its own.
  if (p.root()) write_run_data(p.dir.path(), {p.data.wnids, p.data.names, p.data.mean, p.data.std});
}

void log_epoch(spdlog::logger& log, const EpochReport& e, int64_t epochs) {
  const EpochRow& r = e.row;
  const std::string probe = r.train_eval_acc ? fmt::format("  train(eval) acc {:5.2f}%", 100 * *r.train_eval_acc) : "";
  log.info(
      "epoch {:>2}/{}  train loss {:.4f} acc {:5.2f}%  val loss {:.4f} acc {:5.2f}%{}  lr {:.2e}  {:.1f} s  "
      "{:.0f} img/s  overhead {:.1f}%{}",
      r.epoch, epochs, r.train_loss, 100 * r.train_acc, r.val_loss, 100 * r.val_acc, probe, r.lr, r.seconds,
      r.img_per_s, 100 * e.overhead, e.best ? "  * best" : "");
}

// After each epoch: its metrics row and files, committed together (best.pt and val_predictions.csv
// are of the evaluated model: the EMA when on), then the log line.
TrainerCallbacks recorder(Prepared& p, torch::optim::Optimizer& opt, RunResult& summary, spdlog::logger& log, Ema* ema,
                          TrainProbe& probe) {
  TrainerCallbacks cb;
  cb.stop_requested = [] { return InterruptScope::requested(); };
  if (ema) {
    cb.step_done = [ema] { ema->update(); };
    cb.evaluated = [ema] { return ema->model(); };
  }
  if (probe.on()) cb.measure = [&probe](GraphModule& m, EpochRow& row) { return probe.measure(m, row); };
  if (!p.root()) return cb;  // rank 0 alone writes the run directory
  torch::Tensor labels = p.data.val.labels.to(torch::kCPU, torch::kLong).contiguous();
  std::vector<int64_t> val_labels(labels.data_ptr<int64_t>(), labels.data_ptr<int64_t>() + labels.numel());
  cb.epoch_done = [&p, &opt, &summary, &log, ema, val_labels](const EpochReport& e, const CheckpointInfo& state) {
    summary.history.push_back(e.row);
    summary.overhead_fraction_last_epoch = e.overhead;
    summary.peak_rss_mb = std::max(summary.peak_rss_mb, peak_rss_mb());
    update_from_history(summary, state);
    std::vector<std::pair<std::string, std::string>> files;
    if (e.best) {
      files.emplace_back(run_file::val_predictions, val_predictions_csv({val_labels, e.val_predictions}));
      files.emplace_back(run_file::best, checkpoint_bytes(ema ? *ema->model() : *p.model, nullptr, state));
    }
    files.emplace_back(run_file::summary, summary_toml(summary));
    files.emplace_back(run_file::last, checkpoint_bytes(*p.model, &opt, state, ema));
    p.dir.commit_epoch(e.row, files);
    log_epoch(log, e, p.train.epochs);
  };
  return cb;
}

// The loop over the epochs still to run; false when Ctrl-C stopped it.
bool train(Prepared& p, torch::optim::Optimizer& opt, Ema* ema, CheckpointInfo& state, RunResult& summary,
           const RunOptions& o, spdlog::logger& log) {
  data::BatchLoader train_batches = train_loader(p), val_batches = eval_loader(p, p.data.val);
  const TrainConfig& t = p.train;
  log.info("{}: {} params, {} on {}, {}, {} epochs{}", p.graph.name, commas(p.graph.params), t.optimizer, p.hw.name,
           t.precision + (p.hw.channels_last ? " channels_last" : "") + (t.kernels == "aten" ? ", kernels aten" : ""),
           t.epochs, state.epoch ? " (resuming after epoch " + std::to_string(state.epoch) + ")" : "");
  if (p.group) log.info("{}", dist::batch_line(*p.group, t));
  InterruptScope interrupts;
  Trainer trainer(p.model, opt, train_batches, val_batches, t, p.hw, p.group);
  TrainProbe probe(p);
  if (trainer.run(state, o.stop_after, recorder(p, opt, summary, log, ema, probe))) return true;
  log.warn("interrupted during epoch {}: it is dropped; run the same command to resume from epoch {}", state.epoch + 1,
           state.epoch + 1);
  return false;
}

RunOutcome outcome_of(const Prepared& p, const CheckpointInfo& state) {
  RunOutcome out;
  out.dir = p.dir.path();
  out.epochs_planned = p.train.epochs;
  out.epochs_done = state.epoch;
  out.best_val_acc = state.best_val_acc;
  out.complete = state.epoch >= p.train.epochs;
  return out;
}
}  // namespace

RunOutcome run_graph(const fs::path& graph_file, const RunOptions& o) {
  Prepared p = resolve(graph_file, o);
  join_ranks(p);
  const double data_seconds = load_data(p, o);
  std::optional<RunLock> lock;  // rank 0 holds it for every rank
  std::string config_text = to_toml(p.spec);
  std::string moved;  // the other ranks wait for rank 0 here, so they read last.pt after --fresh moved it
  dist::on_root(p.group, "preparing " + p.dir.path().string(), [&] {
    lock.emplace(p.dir.path());  // before anything in the directory is read, moved or written
    moved = p.dir.prepare(config_text, p.spec, o.fresh);
    if (!moved.empty()) lock->relock();  // the lock file went along with the old run
  });
  auto log = p.root() ? start_log(p.dir) : dist::rank_logger(*p.group);
  if (!moved.empty()) log->info("--fresh: the previous run was moved to {}", moved);

  resolve_run_settings(p, o.fresh);  // precision and kernels, logged
  plan_memory_format(p, *log);       // "auto": the recorded, cached or measured format
  prepare_model(p);
  auto opt = make_optimizer(p.train, p.model->parameters());
  std::unique_ptr<Ema> ema = make_ema(p);  // null when [train].ema is 0
  CheckpointInfo state;                    // resume point: last.pt says how many epochs are done
  if (fs::exists(p.dir / run_file::last))
    state = load_checkpoint(p.dir / run_file::last, *p.model, opt.get(), ema.get());
  dist::check_same(p.group, state.epoch, "the epoch last.pt resumes from",
                   "every rank must see the run directory on a shared filesystem");
  RunResult summary = summary_start(p, config_text);
  summary.history = p.dir.metrics_until(state.epoch);  // rows after the checkpoint are dropped
  RunOutcome outcome = outcome_of(p, state);
  if (outcome.complete) {
    log->info("{}: already complete ({} epochs, best val acc {:.2f}% at epoch {})", p.dir.path().string(), state.epoch,
              100 * state.best_val_acc, state.best_epoch);
    outcome.was_complete = true;
    return outcome;
  }

  log_data(p, data_seconds, *log);
  if (p.root()) write_model_files(p);
  summary.val_size = p.data.val.size();
  bool finished = train(p, *opt, ema.get(), state, summary, o, *log);
  // A barrier too: a study on every rank reads the summary rank 0 has just written.
  dist::on_root(p.group, "writing the charts", [&] { write_charts(p.dir, summary); });
  outcome = outcome_of(p, state);
  outcome.interrupted = !finished;
  if (outcome.complete)
    log->info("{}: done, best val acc {:.2f}% at epoch {}; peak memory {:.0f} MB; results in {}", p.graph.name,
              100 * state.best_val_acc, state.best_epoch, peak_rss_mb(), p.dir.path().string());
  return outcome;
}

}  // namespace engine
