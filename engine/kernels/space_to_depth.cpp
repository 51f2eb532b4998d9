// A strided convolution of an input with few channels (a ResNet stem: 3 channels, 7x7, stride 2)
// run as a stride-1 convolution of its space-to-depth rearrangement: each s x s block of input
// pixels becomes one pixel of s*s*Ci channels, and the kernel is rearranged to match (zero taps
// where it does not reach). oneDNN's weight gradient for 3 input channels is slow; with 12 it
// is not (engine time graphs/final.toml, the stem's backward: 11.4 -> 4.4 ms; its forward is
// slower, 3.8 -> 6.0 ms; build/bench_kernels 2 stem, 3 -> 64 channels at batch 128: 1.7x).
// Plain ATen operations, so autograd gives the gradients of the rearrangement.
#include <optional>

#include "engine/kernels/conv_geometry.hpp"
#include "engine/kernels/kernels.hpp"
#include "engine/kernels/vector_loops.hpp"

namespace engine {

namespace {
struct Axis {
  int64_t before, after;  // zero taps added to the kernel
  int64_t taps;           // the rearranged kernel's size
  int64_t lead, rows;     // blocks of padding before the input; blocks the stride-1 pass reads
};

// Output o reads input rows s*o - p + i, i in [0, k), which are rows s*(o - lead) + before + i:
// rearranged rows o - lead + t, t in [0, taps).
Axis axis(int64_t out, int64_t k, int64_t s, int64_t p) {  // out: the output size
  Axis a{};
  a.lead = (p + s - 1) / s;  // ceil(p / s)
  a.before = s * a.lead - p;
  a.taps = (a.before + k + s - 1) / s;
  a.after = s * a.taps - k - a.before;
  a.rows = out + a.taps - 1;
  return a;
}

// m's geometry on x when it is the same along both axes, with no dilation.
std::optional<ConvGeometry> square(const torch::nn::Conv2dImpl& m, const torch::Tensor& x) {
  if (x.dim() != 4) return std::nullopt;
  const std::optional<ConvGeometry> g = conv_geometry(m, x.size(2), x.size(3));
  if (!g || g->kh != g->kw || g->sh != g->sw || g->ph != g->pw || g->dh != 1 || g->dw != 1) return std::nullopt;
  return g;
}
}  // namespace

bool use_space_to_depth(const torch::nn::Conv2dImpl& m, const torch::Tensor& x) {
  const std::optional<ConvGeometry> g = square(m, x);
  // Measured on the stem only (3 channels, 7x7, stride 2), in bf16 channels_last.
  return g && g->sh >= 2 && g->kh > g->sh && m.options.in_channels() * g->sh * g->sh <= 16 && vec::nhwc_cpu(x) &&
         compute_dtype(x) == torch::kBFloat16;
}

torch::Tensor conv2d_space_to_depth(torch::nn::Conv2dImpl& m, const torch::Tensor& x) {
  const std::optional<ConvGeometry> g = square(m, x);
  TORCH_CHECK(g, "conv2d_space_to_depth: needs a square kernel, stride and padding, groups 1, no dilation");
  const int64_t k = g->kh, s = g->sh, p = g->ph, N = x.size(0), C = x.size(1), Co = m.options.out_channels();
  const Axis h = axis(g->Ho, k, s, p), w = axis(g->Wo, k, s, p);
  const auto format = vec::nhwc_cpu(x) ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;

  // Input, in the dtype the convolution will take: zero blocks before, whole blocks after (or
  // a cut), then each s x s block's pixels as channels (s, s, C): one pass over the NHWC bytes.
  const torch::Tensor xp = torch::constant_pad_nd(
      x.to(compute_dtype(x)),
      {s * w.lead, s * (w.rows - w.lead) - x.size(3), s * h.lead, s * (h.rows - h.lead) - x.size(2)});
  const torch::Tensor xs = xp.permute({0, 2, 3, 1})
                               .reshape({N, h.rows, s, w.rows, s, C})
                               .permute({0, 1, 3, 2, 4, 5})
                               .reshape({N, h.rows, w.rows, s * s * C})
                               .permute({0, 3, 1, 2})
                               .contiguous(format);

  // Kernel: pad to whole blocks of taps, then the same rearrangement.
  torch::Tensor ws = torch::constant_pad_nd(m.weight, {w.before, w.after, h.before, h.after});
  ws = ws.view({Co, C, h.taps, s, w.taps, s}).permute({0, 3, 5, 1, 2, 4}).reshape({Co, s * s * C, h.taps, w.taps});
  return torch::conv2d(xs, ws.contiguous(format), m.options.bias() ? m.bias : torch::Tensor());
}

}  // namespace engine
