#include "engine/nn/runner/hardware.hpp"

#include <ATen/autocast_mode.h>

#include <thread>

namespace engine {

Hardware setup_hardware(const TrainConfig& t, size_t input_rank) {
  Hardware hw;
  bool cuda = torch::cuda::is_available();
  if (t.device == "cuda" && !cuda)
    throw UserError("[train].device = \"cuda\", but this LibTorch sees no CUDA device (use \"auto\" or \"cpu\")");
  if (t.device == "cuda" || (t.device == "auto" && cuda)) hw.device = torch::Device(torch::kCUDA, 0);

  hw.threads = t.threads > 0 ? static_cast<int>(t.threads) : static_cast<int>(std::thread::hardware_concurrency());
  if (hw.threads < 1) hw.threads = 1;
  torch::set_num_threads(hw.threads);  // LibTorch would use 1 thread here otherwise

  hw.bf16 = t.precision == "bf16";
  // Measured on this CPU (oneDNN) and standard on GPUs: NHWC convolutions are faster.
  hw.channels_last = input_rank == 3 && t.memory_format != "contiguous";
  hw.name = hw.device.is_cuda() ? "cuda" : "cpu (" + std::to_string(hw.threads) + " threads)";
  return hw;
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
  if (hw.device.is_cuda()) {
    cuda_ = true;
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
  } else {
    cpu_ = true;
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(true);
  }
}

Autocast::~Autocast() {
  if (cpu_) at::autocast::set_cpu_enabled(false);
  if (cuda_) at::autocast::set_enabled(false);
  if (cpu_ || cuda_) at::autocast::clear_cache();
}

}  // namespace engine
