// Which kernel conv2d takes: the rules (use_space_to_depth, small_conv_applies), then the
// measured choice for the shape, where the runner has set one.
#include <algorithm>
#include <mutex>

#include <spdlog/fmt/fmt.h>

#include "engine/nn/conv_geometry.hpp"
#include "engine/nn/kernels.hpp"

namespace engine {

// Named, not anonymous: the unity build joins engine/nn's files into one translation unit.
namespace conv_choice_detail {
// Set by the runner between runs and read by every convolution's forward (a lock is nothing
// beside a convolution).
struct State {
  std::mutex mutex;
  ConvChoices choices;
  bool recording = false;
  std::vector<ConvCase> recorded;
};
State& state() {
  static State s;
  return s;
}

// The kernel conv2d takes for a case the rules send to one of ours (and records it).
ConvKernel chosen(const torch::nn::Conv2dImpl& m, const torch::Tensor& x, ConvKernel rule) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.choices.empty() && !s.recording) return rule;
  const std::string key = conv_key(m, x, rule);
  const auto same = [&](const ConvCase& r) { return r.key == key; };
  if (s.recording && std::none_of(s.recorded.begin(), s.recorded.end(), same))
    s.recorded.push_back(conv_case(m, x, rule));
  auto it = s.choices.find(key);
  return it != s.choices.end() && it->second == kernel_name(ConvKernel::aten) ? ConvKernel::aten : rule;
}
}  // namespace conv_choice_detail

using conv_choice_detail::state;

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

std::string conv_key(const torch::nn::Conv2dImpl& m, const torch::Tensor& x, ConvKernel kernel) {
  const std::optional<ConvGeometry> g = conv_geometry(m, x.size(2), x.size(3));
  TORCH_CHECK(g, "conv_key: a convolution neither of our kernels takes");
  return fmt::format("{} {}->{} k{}x{} s{}x{} p{}x{} d{}x{}{} on {}x{}", kernel_name(kernel), m.options.in_channels(),
                     m.options.out_channels(), g->kh, g->kw, g->sh, g->sw, g->ph, g->pw, g->dh, g->dw,
                     m.options.bias() ? " bias" : "", g->H, g->W);
}

ConvCase conv_case(const torch::nn::Conv2dImpl& m, const torch::Tensor& x, ConvKernel kernel) {
  ConvCase c;
  c.key = conv_key(m, x, kernel);
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

void set_conv_choices(ConvChoices c) {
  std::lock_guard<std::mutex> lock(state().mutex);
  state().choices = std::move(c);
}

ConvChoices conv_choices() {
  std::lock_guard<std::mutex> lock(state().mutex);
  return state().choices;
}

ConvCaseRecorder::ConvCaseRecorder() {
  std::lock_guard<std::mutex> lock(state().mutex);
  state().recording = true;
  state().recorded.clear();
}

ConvCaseRecorder::~ConvCaseRecorder() {
  std::lock_guard<std::mutex> lock(state().mutex);
  state().recording = false;
  state().recorded.clear();
}

std::vector<ConvCase> ConvCaseRecorder::cases() const {
  std::lock_guard<std::mutex> lock(state().mutex);
  return state().recorded;
}

torch::Tensor conv2d(torch::nn::Conv2dImpl& m, const torch::Tensor& x) {
  const ConvKernel rule = rule_kernel(m, x);
  switch (rule == ConvKernel::aten ? rule : conv_choice_detail::chosen(m, x, rule)) {
    case ConvKernel::space_to_depth:
      return conv2d_space_to_depth(m, x);
    case ConvKernel::small_conv:
      return conv2d_as_matmul(m, x);
    default:
      return m.forward(x);
  }
}

}  // namespace engine
