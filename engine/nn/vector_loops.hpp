#pragma once
// What our own CPU kernels (batch_norm.cpp, max_pool.cpp, small_conv.cpp) share: which tensors
// they take, and what lets GCC vectorise their loops (bf16 <-> fp32 without branches, a loop
// compiled for several instruction sets).
#include <cstdint>
#include <cstring>

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>
#include <c10/util/BFloat16.h>

namespace engine::vec {

using BF16 = c10::BFloat16;

// bf16 <-> fp32 by bit pattern, round to nearest even as c10::BFloat16 does, so that loops
// vectorise (c10's constructor branches on NaN per element).
inline float widen(float v) { return v; }
inline float widen(BF16 v) { return c10::detail::f32_from_bits(v.x); }
template <class T>
inline T narrow(float v);
template <>
inline float narrow<float>(float v) {
  return v;
}
template <>
inline BF16 narrow<BF16>(float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  const uint16_t bits = static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  return BF16(v != v ? uint16_t{0x7fc0} : bits, BF16::from_bits());
}

// f(T{}) for the element type of a tensor of `t`: the two our kernels take, bf16 and fp32.
template <class F>
void with_type(c10::ScalarType t, F f) {
  if (t == c10::kBFloat16)
    f(BF16{});
  else
    f(float{});
}

// A 4-d CPU tensor in channels_last whose bytes are not also plain NCHW (as they are with one
// pixel or one channel): rows of channels, NHWC, the layout our kernels walk.
inline bool nhwc_cpu(const at::Tensor& x) {
  return x.dim() == 4 && x.device().is_cpu() && x.is_contiguous(at::MemoryFormat::ChannelsLast) && !x.is_contiguous();
}

}  // namespace engine::vec

// A loop over one row, with restrict pointers and nothing captured, compiled for AVX-512 and
// AVX2 too and picked at load time: the x86-64 baseline (SSE2) left batch norm at ATen's speed,
// no faster (measured: tools/bench-kernels).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ENGINE_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ENGINE_CLONES
#endif
