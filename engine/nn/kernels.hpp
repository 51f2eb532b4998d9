#pragma once
// Measured LibTorch 1.13 CPU kernel pathologies, worked around where the fix is exact in kind:
// the same ATen kernel, fed a layout it handles well.
#include <string>

#include <torch/torch.h>

namespace engine {

// Part of every cached execution plan's key (runner/plan.cpp): bump it when a workaround here
// changes which plan is fastest, so plans measured without it are measured again.
constexpr int kKernelsVersion = 2;  // 2: GELU on the NHWC view

// GELU (approximate "none" or "tanh"). ATen's exact GELU takes a path about 8x slower, forward
// and backward, on a bf16 channels_last tensor than on the same bytes seen as a contiguous NHWC
// tensor (2x in fp32; tools/bench-kernels), and is less exact there. A channels_last NCHW tensor
// is exactly a contiguous NHWC one, so this runs GELU on that view, and the backward on the
// gradient in the same layout. The tanh form is as slow either way, and other layouts are not
// affected: both go straight to at::gelu.
torch::Tensor gelu(const torch::Tensor& x, const std::string& approximate);

}  // namespace engine
