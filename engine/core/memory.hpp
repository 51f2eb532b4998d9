#pragma once
// Memory: what a run peaked at (summary.toml's peak_rss_mb), and whether a dataset fits before
// it is decoded, so that a too-large one is refused with the figures instead of dying half-way.
#include <cstdint>
#include <string>

namespace engine {

double peak_rss_mb();  // of this process so far (getrusage ru_maxrss)

struct MemoryLimit {
  uint64_t bytes = 0;  // 0: unknown, no limit applied
  std::string source;  // where the figure came from, for messages
};

// ENGINE_MEMORY_LIMIT_MB when set (megabytes, fractions allowed), else the smaller of
// MemAvailable in /proc/meminfo and the room left under this process's cgroup limit.
MemoryLimit available_memory();

// Throws UserError when `bytes` exceed available_memory(): "<what> need X MB, ...".
void require_memory(uint64_t bytes, const std::string& what, const std::string& advice);

}  // namespace engine
