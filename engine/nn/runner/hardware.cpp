#include "engine/nn/runner/hardware.hpp"

#include "engine/nn/torch_compat.hpp"

#ifdef ENGINE_HAVE_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

#include <cstdlib>
#include <limits>
#include <thread>

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

  hw.bf16 = t.precision == "bf16";
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
