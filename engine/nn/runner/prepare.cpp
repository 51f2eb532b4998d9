#include "engine/nn/runner/prepare.hpp"

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <thread>

#include "engine/nn/dist/ddp.hpp"
#include "engine/nn/dist/world.hpp"
#include "engine/nn/runner/plan.hpp"

namespace engine {

namespace fs = std::filesystem;

fs::path run_dir_of(const std::string& name, const RunInputs& in) {
  return in.out.empty() ? fs::path(in.runs) / name : fs::path(in.out);
}

Prepared resolve(const fs::path& graph_file, const RunInputs& in) {
  Prepared p;
  p.graph_file = graph_file;
  LoadedGraph loaded = load_graph(graph_file, in.sets, in.bases);
  check_head(loaded);
  p.spec = std::move(loaded.spec);
  p.graph = std::move(loaded.graph);
  p.train = train_config(p.spec);
  p.dir = RunDir(run_dir_of(p.graph.name, in));
  return p;
}

bool Prepared::root() const { return !group || group->root(); }

KernelSettings Prepared::kernels() const {
  KernelSettings k;
  k.ours = train.kernels != "aten";
  k.conv = conv_kernels;
  return k;
}

void resolve_run_settings(Prepared& p, bool fresh) {
  const bool resuming = !fresh && fs::exists(p.dir / run_file::last);
  const RecordedPlan recorded = resuming ? recorded_plan(p.dir) : RecordedPlan{};
  std::string precision = p.train.precision;
  if (precision == "auto" && (recorded.precision == "bf16" || recorded.precision == "fp32")) {
    precision = recorded.precision;
    spdlog::info("precision: {}, as the run being resumed trained", precision);
  }
  p.train.precision = resolve_precision(precision, p.train.device);

  try {
    p.train.kernels = effective_kernels(p.train.kernels);
  } catch (const std::invalid_argument& e) {
    throw UserError(e.what());
  }
  const std::string& ran = recorded.kernels;
  if ((ran == "auto" || ran == "aten") && ran != p.train.kernels) {
    spdlog::warn("kernels: {}, as the run being resumed trained (not {}): a resume stays exact", ran, p.train.kernels);
    p.train.kernels = ran;
  }
}

void join_ranks(Prepared& p) { p.group = dist::group_from_env(p.train.device != "cpu" && torch::cuda::is_available()); }

namespace {
// Threads from the environment: set by whoever starts this process beside others on the same
// cores. Not a --set, so config.toml (and with it the resume check) stays what the graph says.
std::optional<int64_t> threads_from_env(const char* name) {
  const char* text = std::getenv(name);
  if (!text) return std::nullopt;
  char* end = nullptr;
  long long n = std::strtoll(text, &end, 10);
  if (end == text || *end != '\0' || n < 1 || n > 4096)
    throw UserError(std::string(name) + "=" + text + ": expected a number of threads from 1 to 4096");
  return n;
}
}  // namespace

void apply_thread_env(Prepared& p) {
  // `engine study --jobs` starts each run on its share of the cores.
  if (auto n = threads_from_env(kThreadsEnv)) p.train.threads = *n;
  // `--nproc` starts each rank on one thread unless its command line sets train.threads.
  if (p.group && std::getenv("ENGINE_RANK_THREADS")) p.train.threads = std::atoi(std::getenv("ENGINE_RANK_THREADS"));
  // Started by torchrun, srun or sbatch: the launcher's share of the cores, unless [train].threads is set.
  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  if (p.train.threads == 0)
    if (auto n = dist::launcher_threads(cores)) p.train.threads = *n;
}

void prepare_model(Prepared& p) {
  apply_thread_env(p);
  p.hw = setup_hardware(p.train, p.graph.input.size());
  if (p.group && p.hw.device.is_cuda())  // one GPU per rank of a host
    p.hw.device =
        torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(p.group->local_rank() % torch::cuda::device_count()));
  torch::manual_seed(p.train.seed);  // initial weights
  p.model = build_model(p.graph, p.kernels());
  place_model(*p.model, p.hw);
  if (!p.group) return;
  dist::broadcast_state(*p.group, *p.model);
  p.hw.name = std::to_string(p.group->size()) + " ranks x " + p.hw.name;
}

namespace {
void prepare_data_on_this_rank(Prepared& p, const RunInputs& in, data::TestSplit test) {
  // The decoded-image cache is shared by the runs beside this one.
  fs::path cache = p.dir.path().parent_path() / ".cache";
  p.dataset = data_config(p.spec, in.data_root, p.graph.input, cache.string());
  p.data = data::load_data(p.dataset, test);
  if (p.graph.num_classes != static_cast<int64_t>(p.data.wnids.size()))
    throw UserError(p.graph_file.string() + ": the graph's head has " + std::to_string(p.graph.num_classes) +
                    " classes but the data has " + std::to_string(p.data.wnids.size()));
}
}  // namespace

// Rank 0 first: it decodes the images into the cache the other ranks then read.
void prepare_data(Prepared& p, const RunInputs& in, data::TestSplit test) {
  dist::root_first(
      p.group, "loading the data", [&] { prepare_data_on_this_rank(p, in, test); }, std::chrono::hours(2));
}

namespace {
data::LoaderOptions loader_options(const Prepared& p) {
  data::LoaderOptions o;
  o.seed = p.train.seed;
  o.mean = p.data.mean;
  o.std = p.data.std;
  o.channels_last = p.hw.channels_last;
  o.device = p.hw.device;
  if (p.group) o.shard = p.group->rank(), o.shards = p.group->size();
  return o;
}
}  // namespace

data::BatchLoader train_loader(const Prepared& p) {
  data::LoaderOptions o = loader_options(p);
  o.batch_size = p.train.batch_size;
  o.shuffle = true;
  o.augment = p.dataset.augment;
  return data::BatchLoader(p.data.train, o);
}

data::BatchLoader eval_loader(const Prepared& p, const data::Split& split) {
  data::LoaderOptions o = loader_options(p);
  o.batch_size = p.train.eval_batch_size;
  return data::BatchLoader(split, o);
}

}  // namespace engine
