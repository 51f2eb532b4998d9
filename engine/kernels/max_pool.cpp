// Max pooling on a channels_last tensor, one output pixel's channels at a time (the NHWC bytes).
// ATen 1.13's channels_last kernel took 5.7 ms forward + backward for the stem's 3x3/s2 pool at
// batch 128 in engine time graphs/3.1-A.toml, this one 3.4 ms; alone, bf16, 1.6x
// (build/bench_kernels 2 pool). The argmax is kept as the window offset (one byte per output
// value, against ATen's int64), and ties go to the first maximum in window order, as in ATen.
#include <ATen/Parallel.h>

#include <limits>

#include "engine/kernels/kernels.hpp"
#include "engine/kernels/vector_loops.hpp"

namespace engine {

namespace {
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using namespace vec;  // BF16, widen, narrow, with_type, nhwc_cpu

struct Window {
  int64_t H, W, Ho, Wo, k, s, p;
  std::vector<int64_t> list() const { return {H, W, Ho, Wo, k, s, p}; }
  static Window of(const std::vector<int64_t>& v) { return {v[0], v[1], v[2], v[3], v[4], v[5], v[6]}; }
};

// The window of output (ho, wo), clipped to the map: rows [h0, h1), columns [w0, w1).
struct Span {
  int64_t h0, h1, w0, w1;
};
inline Span span(const Window& w, int64_t ho, int64_t wo) {
  const int64_t h = ho * w.s - w.p, v = wo * w.s - w.p;
  return {std::max<int64_t>(h, 0), std::min(h + w.k, w.H), std::max<int64_t>(v, 0), std::min(v + w.k, w.W)};
}
// The window offset of input (h, v) in the window of (ho, wo).
inline uint8_t offset(const Window& w, int64_t ho, int64_t wo, int64_t h, int64_t v) {
  return static_cast<uint8_t>((h - (ho * w.s - w.p)) * w.k + (v - (wo * w.s - w.p)));
}

// The loops below are over whole output rows (one call per row: at 32 channels a call per
// window position costs more than its work), innermost over channels so that they vectorise.

// Output row ho of one image: its maxima and, per value, the window offset they came from.
// NaN wins, as in ATen; ties go to the first in window order.
template <class T>
ENGINE_LOOP_BODY void pool_row_body(const T* __restrict x, T* __restrict y, uint8_t* __restrict arg,
                                    float* __restrict best, const Window& w, int64_t ho, int64_t C) {
  for (int64_t wo = 0; wo < w.Wo; ++wo) {
    const Span s = span(w, ho, wo);
    uint8_t* __restrict a = arg + wo * C;
    const uint8_t first = offset(w, ho, wo, s.h0, s.w0);
    for (int64_t c = 0; c < C; ++c) best[c] = -std::numeric_limits<float>::infinity(), a[c] = first;
    for (int64_t h = s.h0; h < s.h1; ++h)
      for (int64_t v = s.w0; v < s.w1; ++v) {
        const T* __restrict in = x + (h * w.W + v) * C;
        const uint8_t k = offset(w, ho, wo, h, v);
        for (int64_t c = 0; c < C; ++c) {
          const float e = widen(in[c]);
          const bool take = e > best[c] || e != e;
          best[c] = take ? e : best[c];
          a[c] = take ? k : a[c];
        }
      }
    for (int64_t c = 0; c < C; ++c) y[wo * C + c] = narrow<T>(best[c]);
  }
}
ENGINE_VECTOR_LOOP(pool_row)

// One image's input gradient: each output value's gradient to where its maximum came from.
template <class T>
ENGINE_LOOP_BODY void route_image_body(const T* __restrict g, const uint8_t* __restrict arg, float* __restrict acc,
                                       T* __restrict dx, const Window& w, int64_t C) {
  for (int64_t i = 0; i < w.H * w.W * C; ++i) acc[i] = 0.f;
  for (int64_t ho = 0; ho < w.Ho; ++ho)
    for (int64_t wo = 0; wo < w.Wo; ++wo) {
      const Span s = span(w, ho, wo);
      const T* __restrict gr = g + (ho * w.Wo + wo) * C;
      const uint8_t* __restrict a = arg + (ho * w.Wo + wo) * C;
      for (int64_t h = s.h0; h < s.h1; ++h)
        for (int64_t v = s.w0; v < s.w1; ++v) {
          float* __restrict out = acc + (h * w.W + v) * C;
          const uint8_t k = offset(w, ho, wo, h, v);
          for (int64_t c = 0; c < C; ++c) out[c] += a[c] == k ? widen(gr[c]) : 0.f;
        }
    }
  for (int64_t i = 0; i < w.H * w.W * C; ++i) dx[i] = narrow<T>(acc[i]);
}
ENGINE_VECTOR_LOOP(route_image)

template <class T>
void forward_impl(const T* x, T* y, uint8_t* arg, int64_t N, int64_t C, const Window& w) {
  at::parallel_for(0, N * w.Ho, 1, [&](int64_t r0, int64_t r1) {
    std::vector<float> best(C);
    for (int64_t r = r0; r < r1; ++r)
      pool_row(x + r / w.Ho * w.H * w.W * C, y + r * w.Wo * C, arg + r * w.Wo * C, best.data(), w, r % w.Ho, C);
  });
}

// One image per task: windows overlap, so an image's input gradient has one writer.
template <class T>
void backward_impl(const T* g, const uint8_t* arg, T* dx, int64_t N, int64_t C, const Window& w) {
  const int64_t in = w.H * w.W * C, out = w.Ho * w.Wo * C;
  at::parallel_for(0, N, 1, [&](int64_t n0, int64_t n1) {
    std::vector<float> acc(in);
    for (int64_t n = n0; n < n1; ++n) route_image(g + n * out, arg + n * out, acc.data(), dx + n * in, w, C);
  });
}

struct NhwcMaxPool : torch::autograd::Function<NhwcMaxPool> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, std::vector<int64_t> window) {
    const Window w = Window::of(window);
    const int64_t N = x.size(0), C = x.size(1);
    torch::Tensor y = torch::empty({N, C, w.Ho, w.Wo}, x.options().memory_format(at::MemoryFormat::ChannelsLast));
    torch::Tensor arg = torch::empty({N * w.Ho * w.Wo * C}, torch::kUInt8);
    with_type(x.scalar_type(), [&](auto t) {
      using T = decltype(t);
      forward_impl<T>(x.data_ptr<T>(), y.data_ptr<T>(), arg.data_ptr<uint8_t>(), N, C, w);
    });
    ctx->save_for_backward({arg});
    ctx->saved_data["window"] = window;
    ctx->saved_data["shape"] = x.sizes().vec();
    ctx->saved_data["dtype"] = static_cast<int64_t>(x.scalar_type());
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const torch::Tensor arg = ctx->get_saved_variables()[0];
    const Window w = Window::of(ctx->saved_data["window"].toIntVector());
    const std::vector<int64_t> shape = ctx->saved_data["shape"].toIntVector();
    const auto dtype = static_cast<at::ScalarType>(ctx->saved_data["dtype"].toInt());
    const torch::Tensor g = grad[0].to(dtype).contiguous(at::MemoryFormat::ChannelsLast);
    torch::Tensor dx = torch::empty(shape, g.options().memory_format(at::MemoryFormat::ChannelsLast));
    with_type(g.scalar_type(), [&](auto t) {
      using T = decltype(t);
      backward_impl<T>(g.data_ptr<T>(), arg.data_ptr<uint8_t>(), dx.data_ptr<T>(), shape[0], shape[1], w);
    });
    return {dx, {}};
  }
};

bool nhwc_fast_path(const torch::nn::MaxPool2dImpl& m, const torch::Tensor& x) {
  const auto& o = m.options;
  const auto t = x.scalar_type();
  const int64_t k = (*o.kernel_size())[0], s = (*o.stride())[0], p = (*o.padding())[0];
  return (*o.kernel_size())[1] == k && (*o.stride())[1] == s && (*o.padding())[1] == p && (*o.dilation())[0] == 1 &&
         (*o.dilation())[1] == 1 && !o.ceil_mode() && k * k <= 256 && 2 * p <= k && nhwc_cpu(x) &&
         (t == torch::kFloat || t == torch::kBFloat16);
}
}  // namespace

torch::Tensor max_pool2d(torch::nn::MaxPool2dImpl& m, const torch::Tensor& x) {
  if (!nhwc_fast_path(m, x)) return m.forward(x);
  const auto& o = m.options;
  const int64_t k = (*o.kernel_size())[0], s = (*o.stride())[0], p = (*o.padding())[0];
  const int64_t H = x.size(2), W = x.size(3);
  const Window w{H, W, (H + 2 * p - k) / s + 1, (W + 2 * p - k) / s + 1, k, s, p};
  return NhwcMaxPool::apply(x, w.list());
}

}  // namespace engine
