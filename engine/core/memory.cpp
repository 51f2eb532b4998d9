#include "engine/core/memory.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <vector>

#include "engine/core/error.hpp"

namespace engine {

double peak_rss_mb() {
  struct rusage usage {};
  if (::getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<double>(usage.ru_maxrss) / 1024;  // Linux reports KiB
}

namespace {
constexpr double kMB = 1024.0 * 1024.0;

// The first number in a file ("max" and missing files give nothing).
bool read_number(const std::string& path, uint64_t& out) {
  std::ifstream in(path);
  std::string word;
  if (!(in >> word) || word.find_first_not_of("0123456789") != std::string::npos) return false;
  out = std::strtoull(word.c_str(), nullptr, 10);
  return true;
}

uint64_t mem_available() {
  std::ifstream in("/proc/meminfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("MemAvailable:", 0) == 0) return std::strtoull(line.c_str() + 13, nullptr, 10) * 1024;
  return 0;
}

// Room left under the memory limits of this process's cgroup and its ancestors (v2 memory.max,
// v1 memory.limit_in_bytes); 0 when none is set.
uint64_t cgroup_room(std::string& source) {
  struct Hierarchy {
    std::string mount, limit, usage;
  };
  uint64_t room = 0;
  std::ifstream in("/proc/self/cgroup");
  for (std::string line; std::getline(in, line);) {  // "0::/path" (v2) or "4:memory:/path" (v1)
    const size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    const std::string path = line.substr(b + 1);
    std::vector<Hierarchy> hierarchies;
    if (line.rfind("0::", 0) == 0)
      for (const char* mount : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"})
        hierarchies.push_back({mount, "memory.max", "memory.current"});
    else if (("," + controllers + ",").find(",memory,") != std::string::npos)
      hierarchies.push_back({"/sys/fs/cgroup/memory", "memory.limit_in_bytes", "memory.usage_in_bytes"});
    for (const auto& h : hierarchies)
      for (std::string dir = path;; dir = dir.substr(0, dir.rfind('/'))) {  // up to the root
        const std::string base = h.mount + (dir == "/" ? "" : dir) + "/";
        uint64_t limit = 0, usage = 0;
        if (read_number(base + h.limit, limit) && limit < (uint64_t(1) << 60)) {  // v1 writes "unlimited" so
          read_number(base + h.usage, usage);
          const uint64_t left = limit > usage ? limit - usage : 1;
          if (!room || left < room) room = left, source = "the cgroup limit in " + base + h.limit;
        }
        if (dir.empty() || dir == "/") break;
      }
  }
  return room;
}

std::string mb(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, bytes < 10 * kMB ? "%.1f MB" : "%.0f MB", bytes / kMB);
  return buf;
}
}  // namespace

MemoryLimit available_memory() {
  if (const char* env = std::getenv("ENGINE_MEMORY_LIMIT_MB"); env && *env) {
    char* end = nullptr;
    double value = std::strtod(env, &end);
    if (*end != '\0' || !(value > 0))
      throw UserError("ENGINE_MEMORY_LIMIT_MB = '" + std::string(env) + "' is not a positive number of megabytes");
    return {static_cast<uint64_t>(value * kMB), "ENGINE_MEMORY_LIMIT_MB"};
  }
  MemoryLimit out{mem_available(), "MemAvailable in /proc/meminfo"};
  std::string cgroup_source;
  const uint64_t room = cgroup_room(cgroup_source);
  if (room && (!out.bytes || room < out.bytes)) out = {room, cgroup_source};
  return out;
}

void require_memory(uint64_t bytes, const std::string& what, const std::string& advice) {
  const MemoryLimit limit = available_memory();
  if (!limit.bytes || bytes <= limit.bytes) return;
  throw UserError(what + " need " + mb(double(bytes)) + " of memory, more than the " + mb(double(limit.bytes)) +
                  " available (" + limit.source + "); " + advice);
}

}  // namespace engine
