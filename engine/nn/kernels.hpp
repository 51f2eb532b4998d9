#pragma once
// Measured LibTorch 1.13 CPU kernel pathologies, worked around: GELU by feeding ATen's own kernel
// a layout it handles well; batch norm by a kernel of our own (batch_norm.cpp), since no layout
// helps. tools/bench-kernels measures each against ATen; tests/test_plan.cpp pins each to it.
#include <string>

#include <torch/torch.h>

namespace engine {

// Part of every cached execution plan's key (runner/plan.cpp): bump it when a workaround here
// changes which plan is fastest, so plans measured without it are measured again.
constexpr int kKernelsVersion = 3;  // 2: GELU on the NHWC view; 3: batch norm

// GELU (approximate "none" or "tanh"). ATen's exact GELU takes a path about 8x slower, forward
// and backward, on a bf16 channels_last tensor than on the same bytes seen as a contiguous NHWC
// tensor (2x in fp32; tools/bench-kernels), and is less exact there. A channels_last NCHW tensor
// is exactly a contiguous NHWC one, so this runs GELU on that view, and the backward on the
// gradient in the same layout. The tanh form is as slow either way, and other layouts are not
// affected: both go straight to at::gelu.
torch::Tensor gelu(const torch::Tensor& x, const std::string& approximate);

// The module's forward, with training on a channels_last fp32/bf16 tensor in our kernel: ATen's
// takes up to twice its time there, in either layout (tools/bench-kernels).
// Same statistics, running-statistics update and num_batches_tracked as the module's; anything
// else (eval, contiguous, no momentum) is the module's own forward.
torch::Tensor batch_norm(torch::nn::BatchNorm2dImpl& m, const torch::Tensor& x);

}  // namespace engine
