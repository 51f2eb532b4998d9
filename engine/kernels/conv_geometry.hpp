#pragma once
// What our convolution kernels (small_conv.cpp, space_to_depth.cpp) share: the dtype they
// compute in, and a Conv2d module's geometry on an input map (numeric zero padding and groups
// 1, as ResNets use).
#include <optional>
#include <vector>

#include <torch/torch.h>

#include "engine/nn/torch_compat.hpp"

namespace engine {

// The dtype a convolution of x computes in: CPU autocast's when it is on, else x's own.
inline at::ScalarType compute_dtype(const torch::Tensor& x) {
  return compat::cpu_autocast_dtype().value_or(x.scalar_type());
}

// Input H x W, output Ho x Wo, kernel, stride, padding and dilation, each as (rows, columns).
struct ConvGeometry {
  int64_t H, W, Ho, Wo, kh, kw, sh, sw, ph, pw, dh, dw;
  int64_t in_positions() const { return H * W; }
  int64_t out_positions() const { return Ho * Wo; }
  // As a list and back, to keep in an autograd context.
  std::vector<int64_t> list() const { return {H, W, Ho, Wo, kh, kw, sh, sw, ph, pw, dh, dw}; }
  static ConvGeometry of(const std::vector<int64_t>& v) {
    return {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11]};
  }
};

// m on an H x W map; nothing for padding "same"/"valid" or not zeros, groups, or no output.
inline std::optional<ConvGeometry> conv_geometry(const torch::nn::Conv2dImpl& m, int64_t H, int64_t W) {
  const auto& o = m.options;
  const auto* padding = compat::variants::get_if<torch::ExpandingArray<2>>(&o.padding());
  if (!padding || o.groups() != 1 || !compat::variants::holds_alternative<torch::enumtype::kZeros>(o.padding_mode()))
    return std::nullopt;
  ConvGeometry g{};
  g.H = H, g.W = W;
  g.kh = (*o.kernel_size())[0], g.kw = (*o.kernel_size())[1];
  g.sh = (*o.stride())[0], g.sw = (*o.stride())[1];
  g.ph = (**padding)[0], g.pw = (**padding)[1];
  g.dh = (*o.dilation())[0], g.dw = (*o.dilation())[1];
  g.Ho = (g.H + 2 * g.ph - g.dh * (g.kh - 1) - 1) / g.sh + 1;
  g.Wo = (g.W + 2 * g.pw - g.dw * (g.kw - 1) - 1) / g.sw + 1;
  if (g.Ho < 1 || g.Wo < 1) return std::nullopt;
  return g;
}

}  // namespace engine
