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

namespace engine::vec {
// Which build of our loops runs: each is compiled for AVX-512 (x86-64-v4's instruction sets),
// AVX2 (v3's) and the x86-64 baseline (SSE2, which left batch norm at ATen's speed: tools/
// bench-kernels). The CPU's best, capped by ENGINE_CPU_ISA ("avx512", "avx2", "baseline"), as
// ONEDNN_MAX_CPU_ISA caps oneDNN: so one machine tests the loops other CPUs run.
enum class LoopIsa { baseline, avx2, avx512 };
LoopIsa loop_isa();
const char* loop_isa_name(LoopIsa isa);
}  // namespace engine::vec

// A loop over one row (restrict pointers, nothing captured) is written once as NAME_body,
// always inlined into a copy per instruction set; ENGINE_VECTOR_LOOP(NAME) defines those
// copies and NAME, which calls the one loop_isa() picks. The copies name instruction sets,
// not an -march, so that GCC inlines the body (and widen/narrow) into each.
#define ENGINE_LOOP_BODY inline __attribute__((always_inline))
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ENGINE_V3_TARGET "avx,avx2,fma,f16c,bmi,bmi2,lzcnt,movbe,popcnt,sse4.2"
#define ENGINE_VECTOR_LOOP(name)                                                                               \
  template <class... A>                                                                                        \
  __attribute__((target(ENGINE_V3_TARGET ",avx512f,avx512bw,avx512cd,avx512dq,avx512vl"))) void name##_avx512( \
      A... a) {                                                                                                \
    name##_body(a...);                                                                                         \
  }                                                                                                            \
  template <class... A>                                                                                        \
  __attribute__((target(ENGINE_V3_TARGET))) void name##_avx2(A... a) {                                         \
    name##_body(a...);                                                                                         \
  }                                                                                                            \
  template <class... A>                                                                                        \
  void name(A... a) {                                                                                          \
    switch (::engine::vec::loop_isa()) {                                                                       \
      case ::engine::vec::LoopIsa::avx512:                                                                     \
        return name##_avx512(a...);                                                                            \
      case ::engine::vec::LoopIsa::avx2:                                                                       \
        return name##_avx2(a...);                                                                              \
      default:                                                                                                 \
        return name##_body(a...);                                                                              \
    }                                                                                                          \
  }
#else
#define ENGINE_VECTOR_LOOP(name) \
  template <class... A>          \
  void name(A... a) {            \
    name##_body(a...);           \
  }
#endif
