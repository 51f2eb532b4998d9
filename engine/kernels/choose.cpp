#include "engine/kernels/choose.hpp"

#include <algorithm>
#include <chrono>

#include <spdlog/fmt/fmt.h>

#include "engine/nn/torch_compat.hpp"

namespace engine {

ConvTiming time_conv_case(const ConvCase& c, int warmup, int timed) {
  torch::nn::Conv2d conv(c.options);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : conv->parameters())
      if (p.dim() == 4) p.set_data(p.data().contiguous(at::MemoryFormat::ChannelsLast));
  }
  const torch::Tensor x = torch::randn(c.input)
                              .to(c.input_dtype)
                              .contiguous(torch::MemoryFormat::ChannelsLast)
                              .requires_grad_(c.input_grad);
  auto forward = [&](bool ours) {
    compat::set_autocast(c10::DeviceType::CPU, true, at::kBFloat16);
    torch::Tensor y = !ours                                    ? conv->forward(x)
                      : c.kernel == ConvKernel::space_to_depth ? conv2d_space_to_depth(*conv, x)
                                                               : conv2d_as_matmul(*conv, x);
    compat::set_autocast(c10::DeviceType::CPU, false);
    at::autocast::clear_cache();
    return y;
  };
  const torch::Tensor grad = torch::randn_like(forward(false).detach());
  ConvTiming t{c.key, kernel_name(c.kernel), 0, 0};
  std::vector<double> ms[2];
  for (int it = 0; it < warmup + timed; ++it)
    for (const bool ours : {false, true}) {
      conv->zero_grad();
      if (x.grad().defined()) x.mutable_grad().reset();
      auto start = std::chrono::steady_clock::now();
      forward(ours).backward(grad);
      if (it >= warmup)
        ms[ours].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
  t.aten_ms = *std::min_element(ms[0].begin(), ms[0].end());
  t.ours_ms = *std::min_element(ms[1].begin(), ms[1].end());
  return t;
}

ConvChoices conv_choices_of(const std::vector<ConvTiming>& timings) {
  ConvChoices choices;
  for (const ConvTiming& t : timings) choices[t.key] = t.ours() ? t.kernel : kernel_name(ConvKernel::aten);
  return choices;
}

std::vector<std::string> conv_timing_lines(const std::vector<ConvTiming>& timings) {
  size_t width = 11;
  for (const ConvTiming& t : timings) width = std::max(width, t.key.size());
  std::vector<std::string> lines{
      fmt::format("  {:<{}}  {:>8}  {:>8}  (ms, forward + backward)", "convolution", width, "ATen", "ours")};
  for (const ConvTiming& t : timings)
    lines.push_back(fmt::format("  {:<{}}  {:8.2f}  {:8.2f}  * {}", t.key, width, t.aten_ms, t.ours_ms,
                                t.ours() ? t.kernel : "aten"));
  return lines;
}

}  // namespace engine
