// A convolution on a small map as one matrix product. On an H x W map a convolution is a linear
// map from the H*W*Ci input values to the Ho*Wo*Co outputs: a matrix of (Ho*Wo*Co) x (H*W*Ci)
// whose Co x Ci blocks are the kernel's taps, or zero where no tap joins an output position to
// an input position. With the batch as the rows, the forward pass, the input gradient and the
// weight gradient are then three GEMMs, which oneDNN runs near its peak where its convolutions
// on 2x2 maps do not (tools/bench-kernels). The zero blocks are multiplied too, which is why
// only small maps with few of them come here (use_small_conv).
#include <ATen/Parallel.h>

#include "engine/kernels/conv_geometry.hpp"
#include "engine/kernels/kernels.hpp"
#include "engine/kernels/vector_loops.hpp"

namespace engine {

namespace {
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using namespace vec;  // BF16, widen, narrow, with_type

// f(po, pi, t) for each output position po, input position pi and the kernel tap t (i * kw + j)
// joining them. One output position reaches each input position through at most one tap.
template <class F>
void each_tap(const ConvGeometry& g, F f) {
  for (int64_t ho = 0; ho < g.Ho; ++ho)
    for (int64_t wo = 0; wo < g.Wo; ++wo)
      for (int64_t i = 0; i < g.kh; ++i)
        for (int64_t j = 0; j < g.kw; ++j) {
          const int64_t h = ho * g.sh - g.ph + i * g.dh, w = wo * g.sw - g.pw + j * g.dw;
          if (h >= 0 && h < g.H && w >= 0 && w < g.W) f(ho * g.Wo + wo, h * g.W + w, i * g.kw + j);
        }
}

// tap[po * P + pi]: the tap joining output position po to input position pi, or -1.
std::vector<int64_t> taps(const ConvGeometry& g) {
  const int64_t P = g.in_positions();
  std::vector<int64_t> tap(g.out_positions() * P, -1);
  each_tap(g, [&](int64_t po, int64_t pi, int64_t t) { tap[po * P + pi] = t; });
  return tap;
}

template <class T>
ENGINE_LOOP_BODY void narrow_row_body(const float* __restrict src, T* __restrict dst, int64_t n) {
  for (int64_t k = 0; k < n; ++k) dst[k] = narrow<T>(src[k]);
}
ENGINE_VECTOR_LOOP(narrow_row)

template <class T>
ENGINE_LOOP_BODY void add_row_body(const T* __restrict src, float* __restrict dst, int64_t n) {
  for (int64_t k = 0; k < n; ++k) dst[k] += widen(src[k]);
}
ENGINE_VECTOR_LOOP(add_row)

// The matrix: wd[po * Co + co, pi * Ci + ci] = w[co, tap, ci], from the fp32 weight in its
// channels_last layout (Co, kh, kw, Ci), where each tap's Ci values are one row.
template <class T>
void expand(const float* w, const std::vector<int64_t>& tap, int64_t n_taps, T* wd, int64_t Po, int64_t Pi, int64_t Co,
            int64_t Ci) {
  at::parallel_for(0, Po * Co, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t po = r / Co, co = r % Co;
      T* row = wd + r * Pi * Ci;
      for (int64_t pi = 0; pi < Pi; ++pi) {
        const int64_t t = tap[po * Pi + pi];
        if (t < 0)
          std::fill(row + pi * Ci, row + (pi + 1) * Ci, T(0));
        else
          narrow_row(w + (co * n_taps + t) * Ci, row + pi * Ci, Ci);
      }
    }
  });
}

// Its transpose for the weight gradient, into dw in the same layout as w: each tap's gradient
// is the sum of its blocks in dwd.
template <class T>
void fold(const T* dwd, const std::vector<int64_t>& tap, int64_t n_taps, float* dw, int64_t Po, int64_t Pi, int64_t Co,
          int64_t Ci) {
  at::parallel_for(0, Co, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t co = c0; co < c1; ++co) {
      float* out = dw + co * n_taps * Ci;
      std::fill(out, out + n_taps * Ci, 0.f);
      for (int64_t po = 0; po < Po; ++po)
        for (int64_t pi = 0; pi < Pi; ++pi)
          if (const int64_t t = tap[po * Pi + pi]; t >= 0)
            add_row(dwd + (po * Co + co) * Pi * Ci + pi * Ci, out + t * Ci, Ci);
    }
  });
}

// NCHW channels_last <-> rows of the batch, each its H*W*C values (the same bytes).
torch::Tensor rows(const torch::Tensor& t) { return t.permute({0, 2, 3, 1}).reshape({t.size(0), -1}); }
torch::Tensor image(const torch::Tensor& r, int64_t H, int64_t W) {
  return r.view({r.size(0), H, W, -1}).permute({0, 3, 1, 2});
}

struct SmallConv : torch::autograd::Function<SmallConv> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias, std::vector<int64_t> geometry, at::ScalarType dtype) {
    const ConvGeometry g = ConvGeometry::of(geometry);
    const int64_t N = x.size(0), Ci = x.size(1), Co = weight.size(0), Po = g.out_positions(), Pi = g.in_positions();
    const std::vector<int64_t> tap = taps(g);
    // As place_model leaves it: fp32, channels_last (no copy then).
    const torch::Tensor w = weight.to(torch::kFloat).contiguous(at::MemoryFormat::ChannelsLast);
    torch::Tensor wd = torch::empty({Po * Co, Pi * Ci}, torch::TensorOptions().dtype(dtype));
    with_type(dtype, [&](auto t) {
      using T = decltype(t);
      expand<T>(w.data_ptr<float>(), tap, g.kh * g.kw, wd.data_ptr<T>(), Po, Pi, Co, Ci);
    });
    const torch::Tensor xr = rows(x.to(dtype));
    torch::Tensor y = at::mm(xr, wd.t());  // the orientation oneDNN's bf16 GEMM takes fastest
    if (bias.numel()) y.view({N * Po, Co}).add_(bias.to(dtype));
    ctx->save_for_backward({xr, wd});
    ctx->saved_data["geometry"] = geometry;
    ctx->saved_data["x_dtype"] = static_cast<int64_t>(x.scalar_type());
    ctx->saved_data["w_dtype"] = static_cast<int64_t>(weight.scalar_type());
    return image(y, g.Ho, g.Wo);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &xr = saved[0], &wd = saved[1];
    const ConvGeometry g = ConvGeometry::of(ctx->saved_data["geometry"].toIntVector());
    const auto x_dtype = static_cast<at::ScalarType>(ctx->saved_data["x_dtype"].toInt());
    const auto w_dtype = static_cast<at::ScalarType>(ctx->saved_data["w_dtype"].toInt());
    const int64_t N = xr.size(0), Ci = xr.size(1) / g.in_positions(), Co = wd.size(0) / g.out_positions();
    const torch::Tensor gr = rows(grad[0].to(wd.scalar_type()).contiguous(at::MemoryFormat::ChannelsLast));
    torch::Tensor dx, dw, db;
    if (ctx->needs_input_grad(0)) dx = image(at::mm(gr, wd), g.H, g.W).to(x_dtype);
    if (ctx->needs_input_grad(1)) {
      const torch::Tensor dwd = at::mm(gr.t(), xr);
      torch::Tensor dw32 =
          torch::empty({Co, Ci, g.kh, g.kw},
                       torch::TensorOptions().dtype(torch::kFloat).memory_format(at::MemoryFormat::ChannelsLast));
      with_type(wd.scalar_type(), [&](auto t) {
        using T = decltype(t);
        fold<T>(dwd.data_ptr<T>(), taps(g), g.kh * g.kw, dw32.data_ptr<float>(), g.out_positions(), g.in_positions(),
                Co, Ci);
      });
      dw = dw32.to(w_dtype);
    }
    if (ctx->needs_input_grad(2)) db = gr.view({N * g.out_positions(), Co}).sum(0, false, torch::kFloat).to(w_dtype);
    return {dx, dw, db, {}, {}};
  }
};

// The module's geometry on x; nothing where this kernel does not apply.
std::optional<ConvGeometry> geometry(const torch::nn::Conv2dImpl& m, const torch::Tensor& x) {
  if (x.dim() != 4 || !x.device().is_cpu() || !x.is_contiguous(at::MemoryFormat::ChannelsLast)) return std::nullopt;
  return conv_geometry(m, x.size(2), x.size(3));
}

torch::Tensor apply(torch::nn::Conv2dImpl& m, const torch::Tensor& x, const ConvGeometry& g, at::ScalarType dtype) {
  // No bias is an empty tensor: LibTorch 1.13's Function::apply takes no undefined inputs.
  return SmallConv::apply(x, m.weight, m.options.bias() ? m.bias : torch::empty({0}), g.list(), dtype);
}
}  // namespace

bool use_small_conv(int64_t in_positions, int64_t out_positions, int64_t taps_used) {
  // build/bench_kernels 2 conv, bf16, batch 128, ATen / matmul: 3x3 s1 on 2x2 (16 of 16 pairs
  // joined) 5.5x at 256 channels, 11.8x at 512; 3x3 s2 from 4x4 to 2x2 (25 of 64) 2.5x; but 1x1
  // s2 from 4x4 (4 of 64) 0.74x, 3x3 s1 on 4x4 (100 of 256) 0.84x and 0.69x, larger maps 0.05-0.47x.
  return out_positions <= 4 && 4 * taps_used >= in_positions * out_positions;
}

bool small_conv_applies(const torch::nn::Conv2dImpl& m, const torch::Tensor& x) {
  const std::optional<ConvGeometry> g = geometry(m, x);
  if (!g || compute_dtype(x) != torch::kBFloat16) return false;
  // Counted, not listed: on the stem's 64x64 input the list would have 4M entries.
  int64_t used = 0;
  each_tap(*g, [&](int64_t, int64_t, int64_t) { ++used; });
  // Below 16^3 multiply-adds ATen's bf16 GEMM is not oneDNN's, and sums in bf16.
  const int64_t macs = x.size(0) * g->in_positions() * x.size(1) * g->out_positions() * m.options.out_channels();
  return macs > 16 * 16 * 16 && use_small_conv(g->in_positions(), g->out_positions(), used);
}

torch::Tensor conv2d_as_matmul(torch::nn::Conv2dImpl& m, const torch::Tensor& x) {
  const std::optional<ConvGeometry> g = geometry(m, x);
  TORCH_CHECK(g, "conv2d_as_matmul: needs a channels_last CPU input, groups 1, zero padding given as numbers");
  return apply(m, x, *g, compute_dtype(x));
}

}  // namespace engine
