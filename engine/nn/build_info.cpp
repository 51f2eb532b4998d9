#include "engine/nn/build_info.hpp"

#include <ATen/Version.h>
#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>

#include "engine/nn/runner/hardware.hpp"

namespace engine {

namespace {
// oneDNN's ISA names, weakest first, each with the cpuinfo flags it needs.
struct Isa {
  const char* name;
  std::vector<const char*> flags;
};
const std::vector<Isa>& isas() {
  static const std::vector<Isa> list{
      {"sse41", {"sse4_1"}},
      {"avx", {"avx"}},
      {"avx2", {"avx2"}},
      {"avx2_vnni", {"avx2", "avx_vnni"}},
      {"avx512_core", {"avx512f", "avx512bw", "avx512vl", "avx512dq"}},
      {"avx512_core_vnni", {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni"}},
      {"avx512_core_bf16", {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16"}},
      {"avx512_core_amx",
       {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16",
        "amx_int8"}},
  };
  return list;
}

std::string cpuinfo_flags() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("flags", 0) == 0) return line.substr(line.find(':') + 1);
  return "";
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}
}  // namespace

std::string onednn_isa(const std::string& cpu_flags, const std::string& max_isa) {
  std::istringstream words(cpu_flags);
  std::vector<std::string> have{std::istream_iterator<std::string>(words), {}};
  auto has = [&](const char* f) { return std::find(have.begin(), have.end(), f) != have.end(); };
  const auto& list = isas();
  int best = -1;
  for (int k = 0; k < static_cast<int>(list.size()); ++k)
    if (std::all_of(list[k].flags.begin(), list[k].flags.end(), has)) best = k;
  if (best < 0) return cpu_flags.empty() ? "unknown (no flags in /proc/cpuinfo)" : "none of oneDNN's x86 ISAs";
  std::string isa = list[best].name;
  if (max_isa.empty()) return isa;
  for (int k = 0; k < best; ++k)  // the cap lowers the choice, never raises it
    if (lower(max_isa) == list[k].name) return std::string(list[k].name) + " (capped; the CPU offers " + isa + ")";
  return isa;
}

std::vector<std::pair<std::string, std::string>> build_info() {
  std::string cuda = "no (LibTorch built without it)";
  if (torch::cuda::is_available())
    cuda = "yes, " + std::to_string(torch::cuda::device_count()) + " device(s), " + gpu_model();
  else if (at::hasCUDA())
    cuda = "built in, no device visible";
  const char* cap = std::getenv("ONEDNN_MAX_CPU_ISA");
  if (!cap || !*cap) cap = std::getenv("DNNL_MAX_CPU_ISA");
  std::string onednn = at::hasMKLDNN() ? at::get_mkldnn_version() : "not built in";
  onednn += ", ISA " + onednn_isa(cpuinfo_flags(), cap ? cap : "");
  if (cap && *cap) onednn += ", ONEDNN_MAX_CPU_ISA=" + std::string(cap);
  return {{"engine", ENGINE_VERSION}, {"LibTorch", TORCH_VERSION}, {"CUDA", cuda}, {"oneDNN", onednn}};
}

}  // namespace engine
