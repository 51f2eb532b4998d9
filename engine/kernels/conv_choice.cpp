// Which kernel conv2d takes: the rules (use_space_to_depth, small_conv_applies), then the
// module's own share of the measured choices.
#include <cstdlib>
#include <stdexcept>

#include <spdlog/fmt/fmt.h>

#include "engine/kernels/conv_geometry.hpp"
#include "engine/kernels/kernels.hpp"

namespace engine {

const char* kernel_name(ConvKernel k) {
  switch (k) {
    case ConvKernel::small_conv:
      return "small_conv";
    case ConvKernel::space_to_depth:
      return "space_to_depth";
    default:
      return "aten";
  }
}

ConvKernel rule_kernel(const torch::nn::Conv2dImpl& m, const torch::Tensor& x) {
  if (use_space_to_depth(m, x)) return ConvKernel::space_to_depth;
  return small_conv_applies(m, x) ? ConvKernel::small_conv : ConvKernel::aten;
}

std::string conv_key(const torch::nn::Conv2dImpl& m, int64_t H, int64_t W, ConvKernel kernel) {
  const std::optional<ConvGeometry> g = conv_geometry(m, H, W);
  if (!g) return "";
  return fmt::format("{} {}->{} k{}x{} s{}x{} p{}x{} d{}x{}{} on {}x{}", kernel_name(kernel), m.options.in_channels(),
                     m.options.out_channels(), g->kh, g->kw, g->sh, g->sw, g->ph, g->pw, g->dh, g->dw,
                     m.options.bias() ? " bias" : "", g->H, g->W);
}

ConvCase conv_case(const torch::nn::Conv2dImpl& m, const torch::Tensor& x, ConvKernel kernel) {
  ConvCase c;
  c.key = conv_key(m, x.size(2), x.size(3), kernel);
  c.kernel = kernel;
  const auto& o = m.options;
  c.options = torch::nn::Conv2dOptions(o.in_channels(), o.out_channels(), o.kernel_size())
                  .stride(o.stride())
                  .padding(o.padding())
                  .dilation(o.dilation())
                  .groups(o.groups())
                  .bias(o.bias())
                  .padding_mode(o.padding_mode());
  c.input = x.sizes().vec();
  c.input_dtype = x.scalar_type();
  c.input_grad = x.requires_grad();
  return c;
}

void ConvCaseLog::add(const torch::nn::Conv2dImpl& m, const torch::Tensor& x, ConvKernel kernel) {
  ConvCase c = conv_case(m, x, kernel);
  std::lock_guard<std::mutex> lock(mutex_);
  for (const ConvCase& seen : cases_)
    if (seen.key == c.key) return;
  cases_.push_back(std::move(c));
}

std::vector<ConvCase> ConvCaseLog::cases() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return cases_;
}

std::string effective_kernels(const std::string& configured) {
  const char* env = std::getenv("ENGINE_KERNELS");
  if (!env || !*env) return configured;
  const std::string value = env;
  if (value != "auto" && value != "aten")
    throw std::invalid_argument("ENGINE_KERNELS=" + value + ": expected \"auto\" or \"aten\" (or unset it)");
  return value;
}

ConvChoice conv_choice(const torch::nn::Conv2dImpl& m, int64_t H, int64_t W, const KernelSettings& settings) {
  ConvChoice c;
  c.record = settings.record;
  const auto to_aten = [&](ConvKernel k) {
    auto it = settings.conv.find(conv_key(m, H, W, k));
    return it != settings.conv.end() && it->second == kernel_name(ConvKernel::aten);
  };
  c.space_to_depth_to_aten = to_aten(ConvKernel::space_to_depth);
  c.small_conv_to_aten = to_aten(ConvKernel::small_conv);
  return c;
}

torch::Tensor conv2d(torch::nn::Conv2dImpl& m, const torch::Tensor& x, const ConvChoice& choice) {
  ConvKernel kernel = rule_kernel(m, x);
  if (kernel != ConvKernel::aten && choice.record) choice.record->add(m, x, kernel);
  if ((kernel == ConvKernel::space_to_depth && choice.space_to_depth_to_aten) ||
      (kernel == ConvKernel::small_conv && choice.small_conv_to_aten))
    kernel = ConvKernel::aten;
  switch (kernel) {
    case ConvKernel::space_to_depth:
      return conv2d_space_to_depth(m, x);
    case ConvKernel::small_conv:
      return conv2d_as_matmul(m, x);
    default:
      return m.forward(x);
  }
}

}  // namespace engine
