// The engine's batch-norm kernel (engine/nn/batch_norm.cpp) against ATen's, side by side in one
// process: a training step's forward + backward on channels_last tensors of the shapes of a
// ResNet at 64x64, best of 10 after 3 warm-ups, ms. Run by tools/bench-kernels.
#include <chrono>
#include <cstdio>

#include "engine/nn/kernels.hpp"

namespace {
template <class F>
double best_ms(F f) {
  for (int i = 0; i < 3; ++i) f();
  double best = 1e30;
  for (int i = 0; i < 10; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}
}  // namespace

int main(int argc, char** argv) {
  torch::set_num_threads(argc > 1 ? std::atoi(argv[1]) : 2);
  std::printf("batch norm, training, forward + backward, channels_last  ATen ms  engine ms  ratio\n");
  const std::vector<std::vector<int64_t>> shapes{
      {128, 64, 32, 32}, {128, 64, 16, 16}, {128, 128, 8, 8}, {128, 256, 4, 4}};
  for (const auto dtype : {torch::kBFloat16, torch::kFloat}) {
    for (const auto& shape : shapes) {
      torch::nn::BatchNorm2d m(shape[1]);
      const torch::Tensor x0 = torch::randn(shape).to(dtype).contiguous(at::MemoryFormat::ChannelsLast);
      const torch::Tensor g = torch::randn(shape).to(dtype).contiguous(at::MemoryFormat::ChannelsLast);
      auto step = [&](bool ours) {
        const torch::Tensor x = x0.detach().requires_grad_();
        const torch::Tensor y = ours ? engine::batch_norm(*m, x) : m->forward(x);
        y.backward(g);
      };
      const double aten = best_ms([&] { step(false); }), ours = best_ms([&] { step(true); });
      std::printf("  %-9s %3ldx%3ldx%2ldx%2ld %33.2f %10.2f %5.2fx\n", dtype == torch::kBFloat16 ? "bf16" : "fp32",
                  shape[0], shape[1], shape[2], shape[3], aten, ours, aten / ours);
    }
  }
}
