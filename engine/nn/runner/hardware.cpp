#include "engine/nn/runner/hardware.hpp"

#include "engine/nn/torch_compat.hpp"

#ifdef ENGINE_HAVE_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <limits>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace engine {

void tune_allocator() {
#if defined(__GLIBC__)
  const char* env = std::getenv("ENGINE_MALLOC");
  if (env && std::string(env) == "system") return;
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's upper bound
  mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
#endif
}

namespace hardware_detail {
// oneDNN's names for its instruction sets, in its order (dnnl_cpu_isa_t).
const std::vector<std::string>& isa_order() {
  static const std::vector<std::string> order{"sse41",
                                              "avx",
                                              "avx2",
                                              "avx2_vnni",
                                              "avx2_vnni_2",
                                              "avx512_core",
                                              "avx512_core_vnni",
                                              "avx512_core_bf16",
                                              "avx512_core_fp16",
                                              "avx512_core_amx",
                                              "avx512_core_amx_fp16"};
  return order;
}
int isa_rank(const std::string& isa) {
  const auto& o = isa_order();
  return static_cast<int>(std::find(o.begin(), o.end(), isa) - o.begin());
}

// What the CPU and the OS offer, from cpuid and the enabled register state (xgetbv).
std::string cpu_best_isa() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !(c & bit_AVX)) return "sse41";
  unsigned xcr0_lo = 0, xcr0_hi = 0;  // xcr0_hi: the states above bit 31, none of which we read
  __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  (void)xcr0_hi;
  const bool os_avx = (xcr0_lo & 0x6) == 0x6, os_avx512 = (xcr0_lo & 0xe6) == 0xe6;
  const bool os_amx = (xcr0_lo & 0x60000) == 0x60000;  // tile config and data
  unsigned b7 = 0, c7 = 0, d7 = 0, a71 = 0, tmp = 0;
  if (!__get_cpuid_count(7, 0, &a, &b7, &c7, &d7)) return os_avx ? "avx" : "sse41";
  __get_cpuid_count(7, 1, &a71, &tmp, &tmp, &tmp);
  const bool avx2 = os_avx && (b7 & bit_AVX2);
  const bool avx512_core =
      os_avx512 && (b7 & bit_AVX512F) && (b7 & bit_AVX512BW) && (b7 & bit_AVX512VL) && (b7 & bit_AVX512DQ);
  const bool avx512_bf16 = avx512_core && (a71 & (1u << 5));
  const bool amx = avx512_core && os_amx && (d7 & (1u << 22)) && (d7 & (1u << 24));  // AMX-BF16, AMX-TILE
  if (amx) return "avx512_core_amx";
  if (avx512_bf16) return "avx512_core_bf16";
  if (avx512_core) return "avx512_core";
  if (avx2) return "avx2";
  return os_avx ? "avx" : "sse41";
#else
  return "none";
#endif
}
}  // namespace hardware_detail

std::string cpu_isa() {
  using namespace hardware_detail;
  std::string best = cpu_best_isa();
  const char* env = std::getenv("ONEDNN_MAX_CPU_ISA");
  if (!env || !*env) env = std::getenv("DNNL_MAX_CPU_ISA");
  if (!env || !*env) return best;
  std::string cap = env;
  std::transform(cap.begin(), cap.end(), cap.begin(), [](unsigned char ch) { return std::tolower(ch); });
  if (cap == "all" || cap == "default" || isa_rank(cap) >= static_cast<int>(isa_order().size())) return best;
  return isa_rank(cap) < isa_rank(best) ? cap : best;
}

Bf16 bf16_support(const std::string& device) {
  if (device == "cuda" || (device == "auto" && torch::cuda::is_available())) {
#ifdef ENGINE_HAVE_CUDA
    return at::cuda::getCurrentDeviceProperties()->major >= 8 ? Bf16::native : Bf16::none;
#else
    return Bf16::native;
#endif
  }
  using hardware_detail::isa_rank;
  const int isa = isa_rank(cpu_isa());
  if (isa >= isa_rank("avx512_core_bf16")) return Bf16::native;
  return isa >= isa_rank("avx512_core") ? Bf16::emulated : Bf16::none;
}

const char* bf16_name(Bf16 b) {
  switch (b) {
    case Bf16::native:
      return "native";
    case Bf16::emulated:
      return "emulated";
    default:
      return "none";
  }
}

std::string resolve_precision(const std::string& precision, const std::string& device, bool announce) {
  if (precision == "fp32") return precision;
  const Bf16 support = bf16_support(device);
  const bool cuda = device == "cuda" || (device == "auto" && torch::cuda::is_available());
  const std::string where = cuda ? "this GPU" : "this CPU (oneDNN " + cpu_isa() + ")";
  if (precision == "auto") {
    const std::string chosen = support == Bf16::native ? "bf16" : "fp32";
    if (announce) spdlog::info("precision: {} (auto: bf16 is {} on {})", chosen, bf16_name(support), where);
    return chosen;
  }
  if (support == Bf16::none)
    throw UserError("[train].precision = \"bf16\", but " + where +
                    " has no bf16 convolution (it needs AVX-512, or a CUDA GPU of sm80 or later): set "
                    "[train].precision = \"fp32\" or \"auto\" (--set train.precision=auto)");
  if (support == Bf16::emulated && announce)
    spdlog::warn(
        "precision: bf16 on {}, which has AVX-512 but no AVX512_BF16 or AMX: oneDNN emulates bf16, about twice the "
        "time of fp32; [train].precision = \"auto\" would take fp32 here",
        where);
  return precision;
}

Hardware setup_hardware(const TrainConfig& t, size_t input_rank) {
  tune_allocator();
  Hardware hw;
  bool cuda = torch::cuda::is_available();
  if (t.device == "cuda" && !cuda)
    throw UserError("[train].device = \"cuda\", but this LibTorch sees no CUDA device (use \"auto\" or \"cpu\")");
  if (t.device == "cuda" || (t.device == "auto" && cuda)) hw.device = torch::Device(torch::kCUDA, 0);
  // Fixed input shapes: let cuDNN time its algorithms once per shape and keep the fastest.
  // ENGINE_CUDNN_BENCHMARK=0 turns that off, to measure what the timing costs (tools/gpu-bench).
  if (hw.device.is_cuda()) {
    const char* env = std::getenv("ENGINE_CUDNN_BENCHMARK");
    at::globalContext().setBenchmarkCuDNN(!(env && std::string(env) == "0"));
  }

  hw.threads = t.threads > 0 ? static_cast<int>(t.threads) : static_cast<int>(std::thread::hardware_concurrency());
  if (hw.threads < 1) hw.threads = 1;
  torch::set_num_threads(hw.threads);  // LibTorch would use 1 thread here otherwise

  // Callers that record the run resolve and log "auto" first; this checks that bf16 can run.
  hw.bf16 = resolve_precision(t.precision, t.device, false) == "bf16";
  // Measured on this CPU (oneDNN) and standard on GPUs: NHWC convolutions are faster.
  hw.channels_last = input_rank == 3 && t.memory_format != "contiguous";
  hw.name = hw.device.is_cuda() ? "cuda" : "cpu (" + std::to_string(hw.threads) + " threads)";
  return hw;
}

std::string gpu_model() {
#ifdef ENGINE_HAVE_CUDA
  return at::cuda::getCurrentDeviceProperties()->name;
#else
  return "cuda";
#endif
}

void place_model(torch::nn::Module& model, const Hardware& hw) {
  model.to(hw.device);
  if (!hw.channels_last) return;
  torch::NoGradGuard no_grad;
  for (auto& p : model.parameters())
    if (p.dim() == 4) p.set_data(p.data().contiguous(at::MemoryFormat::ChannelsLast));
}

Autocast::Autocast(const Hardware& hw) {
  if (!hw.bf16) return;
  (hw.device.is_cuda() ? cuda_ : cpu_) = true;
  compat::set_autocast(hw.device.type(), true, at::kBFloat16);
}

Autocast::~Autocast() {
  if (cpu_) compat::set_autocast(c10::DeviceType::CPU, false);
  if (cuda_) compat::set_autocast(c10::DeviceType::CUDA, false);
  if (cpu_ || cuda_) at::autocast::clear_cache();
}

}  // namespace engine
