#include "engine/nn/runner/plan.hpp"

#include <algorithm>
#include <chrono>
#include <fstream>

#include <torch/version.h>

#include "engine/core/files.hpp"
#include "engine/nn/runner/optimizer.hpp"

namespace engine {

namespace fs = std::filesystem;

// Named, not anonymous: the unity build joins the runner's files into one translation unit.
namespace plan_detail {
constexpr int kWarmup = 2, kTimed = 4;

struct Candidate {
  std::string name;
  bool channels_last = false;
  std::vector<double> ms;  // the timed steps
  // The fastest step: other processes' load only ever adds time, so the minimum is the estimate
  // it disturbs least (on a loaded 2-core machine the medians of 4 steps crossed over).
  double best() const { return ms.empty() ? 0 : *std::min_element(ms.begin(), ms.end()); }
  double median() const {
    std::vector<double> v = ms;
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  }
};

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) {
      size_t colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(line.find_first_not_of(' ', colon + 1));
    }
  return "unknown cpu";
}

// The processor that runs the steps: the CPU's model, or the GPU's.
std::string machine_model(const Hardware& hw) { return hw.device.is_cuda() ? gpu_model() : cpu_model(); }

// What the choice depends on: the layers (with the vars they refer to) and input, the batch,
// precision and optimiser of a step, and the machine, library and engine kernels that run it.
std::string plan_key(const Prepared& p, const Hardware& hw) {
  Value model = Value::table();
  for (const char* key : {"input", "vars", "layers"})
    if (const Value* v = p.spec.find(key)) model.set(key, *v);
  std::string text = to_toml(model) + "\nclasses=" + std::to_string(p.graph.num_classes) +
                     "\nbatch=" + std::to_string(p.train.batch_size) + "\nprecision=" + p.train.precision +
                     "\noptimizer=" + p.train.optimizer + "\ncpu=" + machine_model(hw) +
                     "\nisa=" + (hw.device.is_cuda() ? std::string("cuda") : cpu_isa()) +
                     "\nthreads=" + std::to_string(hw.threads) + "\ntorch=" + TORCH_VERSION +
                     "\nkernels=" + p.train.kernels + " " + std::to_string(kKernelsVersion);
  return hex64(hash_string(text));
}

fs::path plans_file(const Prepared& p) { return p.dir.path().parent_path() / ".cache" / "plans.toml"; }

Value read_plans(const fs::path& file) {
  try {
    if (fs::exists(file)) {
      Value root = read_toml(file);
      if (const Value* plans = root.find("plans"); plans && plans->is(Value::Kind::Table)) return *plans;
    }
  } catch (const UserError& e) {  // a damaged cache only costs a measurement; it is rewritten
    spdlog::warn("{}", e.what());
  }
  return Value::table();
}

std::string cached_format(const fs::path& file, const std::string& key) {
  Value plans = read_plans(file);
  const Value* entry = plans.find(key);
  const Value* format = entry && entry->is(Value::Kind::Table) ? entry->find("memory_format") : nullptr;
  if (!format || !format->is(Value::Kind::String)) return "";
  const std::string& f = format->as_string("memory_format");
  return f == "channels_last" || f == "contiguous" ? f : "";
}

// A [conv_kernels] table (of a cached plan or a run's summary) as choices; values that are not
// strings are left out, so a damaged entry costs a measurement, not the run.
ConvChoices choices_of(const Value* table) {
  ConvChoices choices;
  if (!table || !table->is(Value::Kind::Table)) return choices;
  for (const std::string& shape : table->keys())
    if (const Value* k = table->find(shape); k->is(Value::Kind::String)) choices[shape] = k->as_string(shape);
  return choices;
}

// The convolution kernels a cached plan chose (none in plans cached before they were measured).
ConvChoices cached_kernels(const fs::path& file, const std::string& key) {
  Value plans = read_plans(file);
  const Value* entry = plans.find(key);
  return choices_of(entry && entry->is(Value::Kind::Table) ? entry->find("conv_kernels") : nullptr);
}

// Read, add, rewrite whole: two runs racing here lose at most one entry, which is measured again.
void cache_format(const fs::path& file, const std::string& key, const Value& entry) {
  Value plans = read_plans(file);
  plans.set(key, entry);
  Value root = Value::table();
  root.set("plans", plans);
  const std::string text =
      "# engine run's measured memory formats for [train].memory_format = \"auto\" (delete to measure again)\n" +
      to_toml(root);
  write_file_atomic(file, text);
}

// Warm-up, then timed steps of each candidate in turn, so load from other processes falls on both.
void measure(const Prepared& p, Hardware hw, std::vector<Candidate>& candidates) {
  torch::manual_seed(0);  // prepare_model seeds again: the real run starts from its own seed
  std::vector<int64_t> shape{p.train.batch_size};
  shape.insert(shape.end(), p.graph.input.begin(), p.graph.input.end());
  torch::Tensor images = torch::randn(shape).to(hw.device);
  torch::Tensor labels = torch::randint(p.graph.num_classes, {p.train.batch_size}, torch::kLong).to(hw.device);
  struct Setup {
    GraphModule model{nullptr};
    std::unique_ptr<torch::optim::Optimizer> opt;
    torch::Tensor images;
    Hardware hw;
  };
  std::vector<Setup> setups;
  for (const Candidate& c : candidates) {
    Setup s;
    s.hw = hw;
    s.hw.channels_last = c.channels_last;
    s.model = build_model(p.graph, p.kernels());
    place_model(*s.model, s.hw);
    s.model->train();
    s.opt = make_optimizer(p.train, s.model->parameters());
    s.images = c.channels_last ? images.contiguous(torch::MemoryFormat::ChannelsLast) : images.contiguous();
    setups.push_back(std::move(s));
  }
  for (int it = 0; it < kWarmup + kTimed; ++it)
    for (size_t k = 0; k < setups.size(); ++k) {
      Setup& s = setups[k];
      auto start = std::chrono::steady_clock::now();
      timed_step(s.model, *s.opt, s.images, labels, p.train, s.hw);
      if (s.hw.device.is_cuda()) torch::cuda::synchronize();  // the step has run, not just been queued
      if (it >= kWarmup)
        candidates[k].ms.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
}

// The convolutions a training forward of p's graph sends to our kernels (by the rules alone).
std::vector<ConvCase> graph_conv_cases(const Prepared& p, const Hardware& hw) {
  KernelSettings listing;
  listing.record = std::make_shared<ConvCaseLog>();
  GraphModule model = build_model(p.graph, listing);
  place_model(*model, hw);
  model->train();
  std::vector<int64_t> shape{p.train.batch_size};
  shape.insert(shape.end(), p.graph.input.begin(), p.graph.input.end());
  const torch::Tensor images = torch::randn(shape).contiguous(torch::MemoryFormat::ChannelsLast);
  Autocast autocast(hw);
  model->forward(images);
  return listing.record->cases();
}

}  // namespace plan_detail

RecordedPlan recorded_plan(const RunDir& dir) {
  RecordedPlan r;
  try {
    if (!fs::exists(dir / run_file::summary)) return r;
    Value summary = read_toml(dir / run_file::summary);
    const Value* f = summary.find("memory_format");
    if (f && f->is(Value::Kind::String) &&
        (f->as_string("memory_format") == "channels_last" || f->as_string("memory_format") == "contiguous"))
      r.memory_format = f->as_string("memory_format");
    for (auto [key, into] : {std::pair{"precision", &r.precision}, std::pair{"kernels", &r.kernels}})
      if (const Value* v = summary.find(key); v && v->is(Value::Kind::String)) *into = v->as_string(key);
    r.conv_kernels = plan_detail::choices_of(summary.find("conv_kernels"));
  } catch (const UserError&) {  // unreadable: as if not recorded
  }
  return r;
}
bool choose_contiguous(double channels_last_ms, double contiguous_ms) {
  return contiguous_ms < (1 - kPlanTieMargin) * channels_last_ms;
}

bool adopt_recorded_plan(TrainConfig& t, ConvChoices& conv_kernels, const RunDir& dir) {
  const RecordedPlan recorded = recorded_plan(dir);
  conv_kernels = recorded.conv_kernels;
  if (recorded.kernels == "auto" || recorded.kernels == "aten") t.kernels = recorded.kernels;
  if (t.precision == "auto" && (recorded.precision == "bf16" || recorded.precision == "fp32"))
    t.precision = recorded.precision;
  if (t.memory_format != "auto" || recorded.memory_format.empty()) return false;
  t.memory_format = recorded.memory_format;
  return true;
}

std::vector<ConvTiming> measure_conv_kernels(const Prepared& p, const Hardware& hw) {
  if (!hw.device.is_cpu() || !hw.channels_last || !hw.bf16 || p.train.kernels != "auto") return {};
  torch::manual_seed(0);  // prepare_model seeds again: the real run starts from its own seed
  std::vector<ConvTiming> timings;
  for (const ConvCase& c : plan_detail::graph_conv_cases(p, hw))
    timings.push_back(time_conv_case(c, plan_detail::kWarmup, plan_detail::kTimed));
  return timings;
}

void plan_memory_format(Prepared& p, spdlog::logger& log) {
  using namespace plan_detail;
  p.conv_kernels.clear();  // the rules alone, unless this run's plan says otherwise
  if (p.train.memory_format != "auto" || p.graph.input.size() != 3) return;
  if (fs::exists(p.dir / run_file::last) && adopt_recorded_plan(p.train, p.conv_kernels, p.dir)) {
    log.info("memory format: {}, as the run being resumed recorded{}", p.train.memory_format,
             p.conv_kernels.empty() ? "" : ", and its convolution kernels");
    return;
  }
  p.conv_kernels.clear();
  // On the threads the run will have: under `engine study --jobs 2` two children timing on all
  // cores each took 30x as long per step, and cached the plan under the wrong thread count.
  apply_thread_env(p);
  Hardware hw = setup_hardware(p.train, p.graph.input.size());
  if (p.group) return;  // ranks must agree, so no timing: channels_last

  const fs::path file = plans_file(p);
  const std::string key = plan_key(p, hw);
  if (std::string cached = cached_format(file, key); !cached.empty()) {
    p.train.memory_format = cached;
    p.conv_kernels = cached_kernels(file, key);
    log.info("memory format: {}, as measured before (plan {} in {})", cached, key, file.string());
    return;
  }

  auto start = std::chrono::steady_clock::now();
  const std::vector<ConvTiming> convs = measure_conv_kernels(p, hw);  // "auto" is channels_last in hw
  p.conv_kernels = conv_choices_of(convs);                            // the formats' steps below run with it
  if (!convs.empty()) {
    log.info("convolution kernels: {} warm-up + {} timed passes of batch {} per kernel ({:.1f} s)", kWarmup, kTimed,
             p.train.batch_size, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    for (const std::string& line : conv_timing_lines(convs)) log.info("{}", line);
  }

  std::vector<Candidate> candidates{{"channels_last", true, {}}, {"contiguous", false, {}}};
  start = std::chrono::steady_clock::now();
  measure(p, hw, candidates);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const bool contiguous = choose_contiguous(candidates[0].best(), candidates[1].best());
  const Candidate& best = candidates[contiguous ? 1 : 0];
  log.info("memory format: measured {} warm-up + {} timed steps of batch {} ({}) per candidate ({:.1f} s)", kWarmup,
           kTimed, p.train.batch_size, p.train.precision, seconds);
  log.info("  {:<13}  {:>8}  {:>8}  {:>8}  (ms per step)", "candidate", "min", "median", "max");
  const std::string mark =
      !contiguous && candidates[1].best() < candidates[0].best()
          ? fmt::format("  * chosen (contiguous is faster by under {:.0f}%: a tie)", 100 * kPlanTieMargin)
          : "  * chosen";
  for (const Candidate& c : candidates)
    log.info("  {:<13}  {:8.1f}  {:8.1f}  {:8.1f}{}", c.name, c.best(), c.median(),
             *std::max_element(c.ms.begin(), c.ms.end()), &c == &best ? mark : "");
  for (const Candidate& c : candidates)
    if (*std::max_element(c.ms.begin(), c.ms.end()) > 1.5 * c.best()) {
      log.warn(
          "memory format: the step times vary by more than 1.5x (other processes on the CPU?), so the choice may be "
          "wrong; set [train].memory_format, or delete the plan from {} to measure again",
          file.string());
      break;
    }
  p.train.memory_format = best.name;

  Value entry = Value::table();
  entry.set("memory_format", Value::of_string(best.name));
  entry.set("graph", Value::of_string(p.graph.name));
  entry.set("batch_size", Value::of_int(p.train.batch_size));
  entry.set("precision", Value::of_string(p.train.precision));
  entry.set(hw.device.is_cuda() ? "gpu" : "cpu", Value::of_string(machine_model(hw)));
  entry.set("threads", Value::of_int(hw.threads));
  entry.set("torch", Value::of_string(TORCH_VERSION));
  for (const Candidate& c : candidates) entry.set(c.name + "_ms", Value::of_float(c.best()));
  Value kernels = Value::table();
  for (const auto& [shape, kernel] : p.conv_kernels) kernels.set(shape, Value::of_string(kernel));
  entry.set("conv_kernels", kernels);
  try {
    cache_format(file, key, entry);
  } catch (const UserError& e) {  // an unwritable cache costs a measurement next time, not the run
    log.warn("plan not cached: {}", e.what());
  }
}

}  // namespace engine
