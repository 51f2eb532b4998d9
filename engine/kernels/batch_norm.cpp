// Training-mode batch norm on a channels_last tensor, seen as a rows x channels matrix (the NHWC
// bytes). ATen 1.13's CPU kernel takes about twice this one's time there, forward + backward
// (tools/bench-kernels), and the ResNet stem's batch norm alone was an eighth of a training step
// (engine time graphs/3.3-A.toml: 23.6 of 192 ms).
// Statistics are summed in fp32 over blocks of rows and in double across blocks; the variance
// takes a second pass over (x - mean), as ATen's does.
#include <ATen/Parallel.h>

#include "engine/kernels/kernels.hpp"
#include "engine/kernels/vector_loops.hpp"

namespace engine {

namespace {
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using namespace vec;  // BF16, widen, narrow, with_type, nhwc_cpu

constexpr int64_t kBlock = 256;  // rows summed in fp32 before they join the double total

// The loops below are over one row's channels (vector_loops.hpp says why they are cloned).

// acc[c] += x[r, c] over rows [r0, r1)
template <class T>
ENGINE_LOOP_BODY void add_rows_body(const T* __restrict x, int64_t r0, int64_t r1, int64_t C, float* __restrict acc) {
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t c = 0; c < C; ++c) acc[c] += widen(x[r * C + c]);
}
ENGINE_VECTOR_LOOP(add_rows)

// acc[c] += (x[r, c] - mean[c])^2
template <class T>
ENGINE_LOOP_BODY void add_squares_body(const T* __restrict x, int64_t r0, int64_t r1, int64_t C,
                                       const float* __restrict mean, float* __restrict acc) {
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t c = 0; c < C; ++c) {
      const float d = widen(x[r * C + c]) - mean[c];
      acc[c] += d * d;
    }
}
ENGINE_VECTOR_LOOP(add_squares)

// acc[c] += dy[r, c]; acc[C + c] += dy[r, c] * (x[r, c] - mean[c])
template <class T>
ENGINE_LOOP_BODY void add_grads_body(const T* __restrict x, const T* __restrict dy, int64_t r0, int64_t r1, int64_t C,
                                     const float* __restrict mean, float* __restrict acc) {
  float* __restrict acc2 = acc + C;
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t c = 0; c < C; ++c) {
      const float g = widen(dy[r * C + c]);
      acc[c] += g;
      acc2[c] += g * (widen(x[r * C + c]) - mean[c]);
    }
}
ENGINE_VECTOR_LOOP(add_grads)

// y[r, c] = (x[r, c] - mean[c]) * scale[c] + shift[c]
template <class T>
ENGINE_LOOP_BODY void normalise_rows_body(const T* __restrict x, T* __restrict y, int64_t r0, int64_t r1, int64_t C,
                                          const float* __restrict mean, const float* __restrict scale,
                                          const float* __restrict shift) {
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t c = 0; c < C; ++c) y[r * C + c] = narrow<T>((widen(x[r * C + c]) - mean[c]) * scale[c] + shift[c]);
}
ENGINE_VECTOR_LOOP(normalise_rows)

// dx[r, c] = dy[r, c] * k1[c] + (x[r, c] - mean[c]) * k2[c] + k3[c]
template <class T>
ENGINE_LOOP_BODY void grad_rows_body(const T* __restrict x, const T* __restrict dy, T* __restrict dx, int64_t r0,
                                     int64_t r1, int64_t C, const float* __restrict mean, const float* __restrict k1,
                                     const float* __restrict k2, const float* __restrict k3) {
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t c = 0; c < C; ++c)
      dx[r * C + c] = narrow<T>(widen(dy[r * C + c]) * k1[c] + (widen(x[r * C + c]) - mean[c]) * k2[c] + k3[c]);
}
ENGINE_VECTOR_LOOP(grad_rows)

// Per-column totals of `width` columns over all M rows, where block(r0, r1, acc) adds rows
// [r0, r1) into acc in fp32. One slice of rows per thread, blocks of kBlock rows added in double,
// slices added in order: a given thread count always gives the same sums.
template <class Block>
std::vector<double> column_totals(int64_t M, int64_t width, const Block& block) {
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), M / kBlock));
  std::vector<double> partial(parts * width, 0.0);
  at::parallel_for(0, parts, 1, [&](int64_t p0, int64_t p1) {
    std::vector<float> acc(width);
    for (int64_t p = p0; p < p1; ++p)
      for (int64_t r = M * p / parts, end = M * (p + 1) / parts; r < end; r += kBlock) {
        std::fill(acc.begin(), acc.end(), 0.f);
        block(r, std::min(end, r + kBlock), acc.data());
        for (int64_t c = 0; c < width; ++c) partial[p * width + c] += acc[c];
      }
  });
  std::vector<double> total(width, 0.0);
  for (int64_t p = 0; p < parts; ++p)
    for (int64_t c = 0; c < width; ++c) total[c] += partial[p * width + c];
  return total;
}

// f(r0, r1) over all M rows, in parallel.
template <class F>
void rows_in_parallel(int64_t M, int64_t C, const F& f) {
  at::parallel_for(0, M, std::max<int64_t>(1, 16384 / C), f);
}

template <class T>
void forward_impl(const T* x, T* y, int64_t M, int64_t C, const float* w, const float* b, double eps, float* mean,
                  float* invstd, double* var) {
  const std::vector<double> sum =
      column_totals(M, C, [&](int64_t r0, int64_t r1, float* acc) { add_rows(x, r0, r1, C, acc); });
  for (int64_t c = 0; c < C; ++c) mean[c] = static_cast<float>(sum[c] / M);
  const std::vector<double> sq =
      column_totals(M, C, [&](int64_t r0, int64_t r1, float* acc) { add_squares(x, r0, r1, C, mean, acc); });
  std::vector<float> scale(C);
  for (int64_t c = 0; c < C; ++c) {
    var[c] = sq[c] / M;
    invstd[c] = static_cast<float>(1.0 / std::sqrt(var[c] + eps));
    scale[c] = w[c] * invstd[c];
  }
  rows_in_parallel(M, C, [&](int64_t r0, int64_t r1) { normalise_rows(x, y, r0, r1, C, mean, scale.data(), b); });
}

template <class T>
void backward_impl(const T* x, const T* dy, T* dx, int64_t M, int64_t C, const float* w, const float* mean,
                   const float* invstd, float* grad_w, float* grad_b) {
  const std::vector<double> sums =
      column_totals(M, 2 * C, [&](int64_t r0, int64_t r1, float* acc) { add_grads(x, dy, r0, r1, C, mean, acc); });
  // dx = w * invstd * (dy - mean(dy) - (x - mean) * invstd^2 * mean(dy * (x - mean)))
  std::vector<float> k1(C), k2(C), k3(C);
  for (int64_t c = 0; c < C; ++c) {
    const double sdy = sums[c], sdyx = sums[C + c];
    grad_w[c] = static_cast<float>(sdyx * invstd[c]);
    grad_b[c] = static_cast<float>(sdy);
    const double a = static_cast<double>(w[c]) * invstd[c];
    k1[c] = static_cast<float>(a);
    k2[c] = static_cast<float>(-a * invstd[c] * invstd[c] * sdyx / M);
    k3[c] = static_cast<float>(-a * sdy / M);
  }
  rows_in_parallel(
      M, C, [&](int64_t r0, int64_t r1) { grad_rows(x, dy, dx, r0, r1, C, mean, k1.data(), k2.data(), k3.data()); });
}

struct NhwcBatchNorm : torch::autograd::Function<NhwcBatchNorm> {
  // Running statistics are updated here, as ATen's kernel does; they are buffers, not inputs.
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias, torch::Tensor running_mean, torch::Tensor running_var,
                               double momentum, double eps) {
    const int64_t C = x.size(1), M = x.numel() / C;
    const torch::Tensor w = weight.to(torch::kFloat).contiguous(), b = bias.to(torch::kFloat).contiguous();
    const auto f32 = torch::TensorOptions().dtype(torch::kFloat);
    torch::Tensor mean = torch::empty({C}, f32), invstd = torch::empty({C}, f32);
    std::vector<double> var(C);
    torch::Tensor y = torch::empty_like(x, at::MemoryFormat::ChannelsLast);
    with_type(x.scalar_type(), [&](auto t) {
      using T = decltype(t);
      forward_impl<T>(x.data_ptr<T>(), y.data_ptr<T>(), M, C, w.data_ptr<float>(), b.data_ptr<float>(), eps,
                      mean.data_ptr<float>(), invstd.data_ptr<float>(), var.data());
    });
    {
      torch::NoGradGuard no_grad;
      // The running variance is the unbiased one, as in ATen.
      const torch::Tensor unbiased = torch::tensor(var, torch::kDouble).mul_(static_cast<double>(M) / (M - 1));
      running_mean.mul_(1 - momentum).add_(mean.to(running_mean.scalar_type()), momentum);
      running_var.mul_(1 - momentum).add_(unbiased.to(running_var.scalar_type()), momentum);
    }
    ctx->save_for_backward({x, weight, mean, invstd});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &weight = saved[1], &mean = saved[2], &invstd = saved[3];
    const int64_t C = x.size(1), M = x.numel() / C;
    const torch::Tensor dy = grad[0].contiguous(at::MemoryFormat::ChannelsLast).to(x.scalar_type());
    const torch::Tensor w = weight.to(torch::kFloat).contiguous();
    torch::Tensor dx = torch::empty_like(x, at::MemoryFormat::ChannelsLast);
    torch::Tensor gw = torch::empty({C}, torch::kFloat), gb = torch::empty({C}, torch::kFloat);
    with_type(x.scalar_type(), [&](auto t) {
      using T = decltype(t);
      backward_impl<T>(x.data_ptr<T>(), dy.data_ptr<T>(), dx.data_ptr<T>(), M, C, w.data_ptr<float>(),
                       mean.data_ptr<float>(), invstd.data_ptr<float>(), gw.data_ptr<float>(), gb.data_ptr<float>());
    });
    return {dx, gw.to(weight.scalar_type()), gb.to(weight.scalar_type()), {}, {}, {}, {}};
  }
};

bool nhwc_fast_path(const torch::nn::BatchNorm2dImpl& m, const torch::Tensor& x) {
  const auto t = x.scalar_type();
  return m.is_training() && m.options.affine() && m.options.track_running_stats() && m.options.momentum() &&
         nhwc_cpu(x) && (t == torch::kFloat || t == torch::kBFloat16) && x.numel() / x.size(1) > 1;
}
}  // namespace

torch::Tensor batch_norm(torch::nn::BatchNorm2dImpl& m, const torch::Tensor& x) {
  if (!nhwc_fast_path(m, x)) return m.forward(x);
  m.num_batches_tracked += 1;  // what the module's own forward counts
  return NhwcBatchNorm::apply(x, m.weight, m.bias, m.running_mean, m.running_var, *m.options.momentum(),
                              m.options.eps());
}

}  // namespace engine
