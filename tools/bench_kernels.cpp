// The engine's own kernels against ATen's, side by side in one process: a training step's
// forward + backward on channels_last tensors of the shapes of a ResNet at 64x64, best of 10
// after 3 warm-ups, ms. Batch norm (engine/nn/batch_norm.cpp) and max pooling (max_pool.cpp)
// in bf16 and fp32; convolutions on small maps as one matrix product (small_conv.cpp) under
// bf16 autocast, with the figures use_small_conv's rule was set from. Run by tools/bench-kernels.
#include <chrono>
#include <cstdio>

#include "engine/kernels/kernels.hpp"
#include "engine/nn/runner/hardware.hpp"

namespace {
const engine::Hardware bf16 = [] {  // the CPU under bf16 autocast, as engine run has it
  engine::Hardware hw;
  hw.bf16 = true;
  return hw;
}();

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

void max_pools() {
  std::printf("\nmax pooling 3x3/s2/p1, forward + backward, channels_last       ATen ms  engine ms  ratio\n");
  const std::vector<std::vector<int64_t>> shapes{{128, 32, 32, 32}, {128, 64, 32, 32}};
  torch::nn::MaxPool2d m(torch::nn::MaxPool2dOptions(3).stride(2).padding(1));
  for (const auto dtype : {torch::kBFloat16, torch::kFloat})
    for (const auto& shape : shapes) {
      const torch::Tensor x0 = torch::randn(shape).to(dtype).contiguous(at::MemoryFormat::ChannelsLast);
      const torch::Tensor g = torch::randn({shape[0], shape[1], shape[2] / 2, shape[3] / 2})
                                  .to(dtype)
                                  .contiguous(at::MemoryFormat::ChannelsLast);
      auto step = [&](bool ours) {
        const torch::Tensor x = x0.detach().requires_grad_();
        const torch::Tensor y = ours ? engine::max_pool2d(*m, x) : m->forward(x);
        y.backward(g);
      };
      const double aten = best_ms([&] { step(false); }), ours = best_ms([&] { step(true); });
      std::printf("  %-9s %3ldx%3ldx%2ldx%2ld %40.2f %10.2f %5.2fx\n", dtype == torch::kBFloat16 ? "bf16" : "fp32",
                  shape[0], shape[1], shape[2], shape[3], aten, ours, aten / ours);
    }
}

void stems() {
  std::printf("\nstem conv 7x7/s2/p3, 3 channels in, bf16 autocast, batch 128     ATen ms  s2d ms  ratio\n");
  for (const int64_t co : {32, 64}) {
    torch::nn::Conv2d m(torch::nn::Conv2dOptions(3, co, 7).stride(2).padding(3).bias(false));
    m->weight.set_data(m->weight.data().contiguous(at::MemoryFormat::ChannelsLast));
    const torch::Tensor x = torch::randn({128, 3, 64, 64}).contiguous(at::MemoryFormat::ChannelsLast);
    const torch::Tensor g =
        torch::randn({128, co, 32, 32}).to(torch::kBFloat16).contiguous(at::MemoryFormat::ChannelsLast);
    auto step = [&](bool ours) {  // the image needs no gradient, as in a model
      torch::Tensor y;
      {
        engine::Autocast autocast(bf16);
        y = ours ? engine::conv2d_space_to_depth(*m, x) : m->forward(x);
      }
      y.backward(g);
    };
    const double aten = best_ms([&] { step(false); }), ours = best_ms([&] { step(true); });
    std::printf("  3 -> %3ld channels, 64x64 %44.2f %7.2f %5.2fx\n", co, aten, ours, aten / ours);
  }
}

struct ConvShape {
  int64_t ci, co, hw, k, s, p;
};

void small_convs() {
  std::printf(
      "\nconv2d, bf16 autocast, forward + backward, batch 128     ATen ms  matmul ms  ratio  taps used  rule\n");
  const std::vector<ConvShape> shapes{{256, 256, 2, 3, 1, 1}, {128, 256, 4, 3, 2, 1}, {128, 256, 4, 1, 2, 0},
                                      {512, 512, 2, 3, 1, 1}, {128, 128, 4, 3, 1, 1}, {256, 256, 4, 3, 1, 1},
                                      {64, 128, 8, 3, 2, 1},  {128, 256, 8, 3, 2, 1}, {64, 128, 8, 1, 2, 0},
                                      {128, 256, 8, 1, 2, 0}, {64, 64, 8, 3, 1, 1},   {128, 128, 8, 3, 1, 1}};
  for (const ConvShape& c : shapes) {
    torch::nn::Conv2d m(torch::nn::Conv2dOptions(c.ci, c.co, c.k).stride(c.s).padding(c.p).bias(false));
    m->weight.set_data(m->weight.data().contiguous(at::MemoryFormat::ChannelsLast));  // as place_model does
    const torch::Tensor x0 =
        torch::randn({128, c.ci, c.hw, c.hw}).to(torch::kBFloat16).contiguous(at::MemoryFormat::ChannelsLast);
    const int64_t ho = (c.hw + 2 * c.p - c.k) / c.s + 1;
    const torch::Tensor g =
        torch::randn({128, c.co, ho, ho}).to(torch::kBFloat16).contiguous(at::MemoryFormat::ChannelsLast);
    auto step = [&](bool ours) {
      const torch::Tensor x = x0.detach().requires_grad_();
      torch::Tensor y;
      {
        engine::Autocast autocast(bf16);
        y = ours ? engine::conv2d_as_matmul(*m, x) : m->forward(x);
      }
      y.backward(g);
    };
    const double aten = best_ms([&] { step(false); }), ours = best_ms([&] { step(true); });
    int64_t used = 0;  // output-input position pairs a tap joins
    for (int64_t oh = 0; oh < ho; ++oh)
      for (int64_t ow = 0; ow < ho; ++ow)
        for (int64_t i = 0; i < c.k; ++i)
          for (int64_t j = 0; j < c.k; ++j) {
            const int64_t h = oh * c.s - c.p + i, w = ow * c.s - c.p + j;
            used += h >= 0 && h < c.hw && w >= 0 && w < c.hw;
          }
    const int64_t pairs = ho * ho * c.hw * c.hw;
    std::printf("  %3ld -> %3ld, %ldx%ld k%ld s%ld on %ldx%ld %27.2f %10.2f %5.2fx  %4ld/%-4ld  %s\n", c.ci, c.co, c.k,
                c.k, c.k, c.s, c.hw, c.hw, aten, ours, aten / ours, used, pairs,
                engine::use_small_conv(c.hw * c.hw, ho * ho, used) ? "matmul" : "ATen");
  }
}

int main(int argc, char** argv) {
  torch::set_num_threads(argc > 1 ? std::atoi(argv[1]) : 2);
  engine::tune_allocator();  // as engine run does
  // A second argument runs one part: "pool", "stem" or "conv".
  if (argc > 2 && std::string(argv[2]) == "conv") return small_convs(), 0;
  if (argc > 2 && std::string(argv[2]) == "pool") return max_pools(), 0;
  if (argc > 2 && std::string(argv[2]) == "stem") return stems(), 0;
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
  max_pools();
  stems();
  small_convs();
}
