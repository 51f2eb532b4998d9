#include "engine/kernels/vector_loops.hpp"

#include <cstdlib>
#include <iostream>
#include <string>

namespace engine::vec {

namespace {
LoopIsa best_loop_isa() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx2") &&
      __builtin_cpu_supports("fma"))
    return LoopIsa::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2"))
    return LoopIsa::avx2;
#endif
  return LoopIsa::baseline;
}

LoopIsa capped(LoopIsa best) {
  const char* env = std::getenv("ENGINE_CPU_ISA");
  if (!env || !*env) return best;
  const std::string cap = env;
  LoopIsa limit;
  if (cap == "avx512")
    limit = LoopIsa::avx512;
  else if (cap == "avx2")
    limit = LoopIsa::avx2;
  else if (cap == "baseline")
    limit = LoopIsa::baseline;
  else {  // read once, deep inside a step: say so, and run as if unset
    std::cerr << "warning: ENGINE_CPU_ISA=" << cap << " is not avx512, avx2 or baseline; ignored\n";
    return best;
  }
  return limit < best ? limit : best;
}
}  // namespace

LoopIsa loop_isa() {
  static const LoopIsa isa = capped(best_loop_isa());
  return isa;
}

const char* loop_isa_name(LoopIsa isa) {
  switch (isa) {
    case LoopIsa::avx512:
      return "avx512";
    case LoopIsa::avx2:
      return "avx2";
    default:
      return "baseline";
  }
}

}  // namespace engine::vec
