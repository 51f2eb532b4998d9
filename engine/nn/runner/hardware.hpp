#pragma once
// Where and how tensors are computed: device, threads, precision, memory layout.
#include <string>

#include <torch/torch.h>

#include "engine/core/sections.hpp"

namespace engine {

struct Hardware {
  torch::Device device = torch::kCPU;
  bool bf16 = false;           // autocast forward and loss to bfloat16
  bool channels_last = false;  // NHWC activations and conv weights
  int threads = 1;
  std::string name;  // "cpu (2 threads)" or "cuda"
};

// Keeps freed memory in the process for the next step to reuse, instead of handing it back to
// the kernel and taking page faults on it again: glibc malloc maps blocks over its (dynamic)
// threshold afresh and trims the heap's top. Its dynamic threshold gets there by itself after
// a few steps, so whole epochs tie (tools/bench-alloc); what this buys is short measurements
// (engine time, the plan's timed steps, build/bench_kernels) that show the steady state: the
// 2x2 matrix product took 5.1 ms with glibc's defaults, 1.7 ms with these (build/bench_kernels
// 2 conv with and without ENGINE_MALLOC=system). ENGINE_MALLOC=system leaves glibc as it is.
void tune_allocator();

// The instruction set oneDNN computes with in this process: the CPU's best ("avx512_core_amx",
// "avx512_core_bf16", "avx512_core", "avx2", "sse41"), capped by ONEDNN_MAX_CPU_ISA (or
// DNNL_MAX_CPU_ISA) as oneDNN caps itself.
std::string cpu_isa();

// How the device computes bf16. native: AMX or AVX512_BF16 on a CPU, sm80+ on CUDA. emulated:
// AVX-512 without BF16, where oneDNN converts (about twice fp32's time: docs/numerics.md). none: no AVX-512,
// where oneDNN has no bf16 convolution at all (a bf16 step dies inside it), or an older GPU.
enum class Bf16 { native, emulated, none };
Bf16 bf16_support(const std::string& device);
const char* bf16_name(Bf16 b);

// [train].precision as it will run: "auto" becomes bf16 where native, else fp32; an explicit
// bf16 warns where it is emulated and is a UserError where it cannot run. `device` is
// [train].device ("auto", "cpu", "cuda"). With `announce`, logs the choice and the warning
// through spdlog's default logger.
std::string resolve_precision(const std::string& precision, const std::string& device, bool announce = true);

// Resolves train.device/threads/precision/memory_format for a graph whose examples have
// `input_rank` dimensions (channels_last needs images). Sets the torch thread count and
// tune_allocator.
Hardware setup_hardware(const TrainConfig& t, size_t input_rank);

// The current CUDA device's name ("NVIDIA H200"), or "cuda" where LibTorch was built without it.
std::string gpu_model();

// Moves a model to the device and layout.
void place_model(torch::nn::Module& model, const Hardware& hw);

// bf16 autocast for the scope of one forward pass (and its loss), CPU or CUDA.
// The weight-cast cache is cleared on exit, since the weights change every step.
class Autocast {
 public:
  explicit Autocast(const Hardware& hw);
  ~Autocast();
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

 private:
  bool cpu_ = false, cuda_ = false;
};

}  // namespace engine
