#include "engine/nn/dist/world.hpp"

#include <algorithm>
#include <cstdlib>

#include "engine/core/error.hpp"

namespace engine::dist {

namespace {
const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

int env_int(const char* name, int low, int high) {
  const char* v = env(name);
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  if (*end || n < low || n > high)
    throw UserError(std::string(name) + "='" + v + "' must be an integer in [" + std::to_string(low) + ", " +
                    std::to_string(high) + "]");
  return static_cast<int>(n);
}
}  // namespace

std::string first_slurm_host(const std::string& nodelist) {
  // Up to the first comma outside brackets, then the first number of the bracket's first range.
  size_t end = 0;
  for (int depth = 0; end < nodelist.size(); ++end) {
    if (nodelist[end] == '[') ++depth;
    if (nodelist[end] == ']') --depth;
    if (nodelist[end] == ',' && depth == 0) break;
  }
  std::string first = nodelist.substr(0, end);
  size_t open = first.find('[');
  if (open == std::string::npos) return first;
  size_t stop = first.find_first_of(",-]", open + 1);
  return first.substr(0, open) + first.substr(open + 1, stop - open - 1);
}

WorldInfo world_from_env() {
  WorldInfo w;
  constexpr int kMaxRanks = 1 << 20;
  if (env("RANK") || env("WORLD_SIZE")) {
    for (const char* name : {"RANK", "WORLD_SIZE"})
      if (!env(name))
        throw UserError(std::string("RANK and WORLD_SIZE go together, but ") + name +
                        " is not set (the launcher contract: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT)");
    w.source = "RANK/WORLD_SIZE";
    w.size = env_int("WORLD_SIZE", 1, kMaxRanks);
    w.rank = env_int("RANK", 0, w.size - 1);
    w.local_rank = env("LOCAL_RANK") ? env_int("LOCAL_RANK", 0, kMaxRanks) : w.rank;
    if (env("MASTER_ADDR")) w.master_addr = env("MASTER_ADDR");
    if (env("MASTER_PORT")) w.master_port = env_int("MASTER_PORT", 1, 65535);
    return w;
  }
  if (env("SLURM_PROCID") && env("SLURM_NTASKS")) {
    w.source = "Slurm";
    w.size = env_int("SLURM_NTASKS", 1, kMaxRanks);
    w.rank = env_int("SLURM_PROCID", 0, w.size - 1);
    w.local_rank = env("SLURM_LOCALID") ? env_int("SLURM_LOCALID", 0, kMaxRanks) : 0;
    if (env("MASTER_ADDR"))
      w.master_addr = env("MASTER_ADDR");
    else if (env("SLURM_JOB_NODELIST"))
      w.master_addr = first_slurm_host(env("SLURM_JOB_NODELIST"));
    if (env("MASTER_PORT"))
      w.master_port = env_int("MASTER_PORT", 1, 65535);
    else if (env("SLURM_JOB_ID"))
      w.master_port = 29500 + static_cast<int>(std::strtoul(env("SLURM_JOB_ID"), nullptr, 10) % 10000);
  }
  return w;
}

std::optional<int> launcher_threads(int cores) {
  // OMP_NUM_THREADS may list one count per nesting level ("4,2"): the first is ours.
  auto leading_count = [](const char* name) -> std::optional<int> {
    const char* v = env(name);
    if (!v) return std::nullopt;
    char* end = nullptr;
    long n = std::strtol(v, &end, 10);
    if (end == v || (*end && *end != ',' && *end != '(') || n < 1 || n > 4096)
      throw UserError(std::string(name) + "='" + v + "': expected a number of threads from 1 to 4096");
    return static_cast<int>(n);
  };
  if (auto n = leading_count("OMP_NUM_THREADS")) return n;
  if (auto n = leading_count("SLURM_CPUS_PER_TASK")) return n;
  // The CPUs Slurm gave this job on this node, when it says.
  if (auto n = leading_count("SLURM_CPUS_ON_NODE")) cores = *n;
  const WorldInfo w = world_from_env();
  if (!w.distributed()) return env("SLURM_CPUS_ON_NODE") ? std::optional<int>(cores) : std::nullopt;
  std::optional<int> local = leading_count("LOCAL_WORLD_SIZE");
  if (!local) local = leading_count("SLURM_NTASKS_PER_NODE");
  if (!local) local = leading_count("SLURM_TASKS_PER_NODE");  // "2(x3),1": 2 on this job's first nodes
  return std::max(1, cores / std::max(1, local.value_or(w.size)));
}

std::chrono::milliseconds collective_timeout() {
  if (!env("ENGINE_DIST_TIMEOUT")) return std::chrono::seconds(60);
  return std::chrono::seconds(env_int("ENGINE_DIST_TIMEOUT", 1, 86400));
}

std::string rank_prefix() {
  try {
    WorldInfo w = world_from_env();
    return w.rank > 0 ? "[rank " + std::to_string(w.rank) + "] " : "";
  } catch (const UserError&) {
    return "";
  }
}

bool root_process() { return rank_prefix().empty(); }

}  // namespace engine::dist
