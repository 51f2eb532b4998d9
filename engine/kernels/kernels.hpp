#pragma once
// Measured LibTorch 1.13 CPU kernel pathologies, worked around: GELU by feeding ATen's own kernel
// a layout it handles well; batch norm by a kernel of our own (batch_norm.cpp), since no layout
// helps, and max pooling likewise (max_pool.cpp); convolutions on 2x2 maps as one matrix
// product (small_conv.cpp); the stem's convolution on its space-to-depth rearrangement
// (space_to_depth.cpp). tools/bench-kernels measures each against ATen; tests/test_kernels.cpp
// pins each to it, forward and backward, in fp32 and bf16.
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace engine {

// Part of every cached execution plan's key (runner/plan.cpp): bump it when a kernel here
// changes which plan is fastest, so plans measured without it are measured again.
constexpr int kKernelsVersion = 8;

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

// The module's forward, with a channels_last fp32/bf16 input in our kernel (max_pool.cpp):
// ATen's takes up to 1.6x its time there (tools/bench-kernels). Square windows, no dilation
// or ceil mode; anything else is the module's own forward.
torch::Tensor max_pool2d(torch::nn::MaxPool2dImpl& m, const torch::Tensor& x);

// Convolutions on small maps in bf16 as one matrix product (small_conv.cpp) where
// use_small_conv says that is faster, and the stem's by space-to-depth where use_space_to_depth
// says so; conv2d (below) picks between them and ATen's.
// Whether conv2d takes the matrix product for a map of `in_positions` (H*W) giving
// `out_positions`, where `taps_used` of the in x out position pairs are joined by a kernel tap.
bool use_small_conv(int64_t in_positions, int64_t out_positions, int64_t taps_used);
// use_small_conv for m on x, where the product applies (a channels_last CPU input computed in bf16).
bool small_conv_applies(const torch::nn::Conv2dImpl& m, const torch::Tensor& x);
// A strided convolution of an input with few channels (the stem) as a stride-1 convolution of
// its space-to-depth rearrangement (space_to_depth.cpp); use_space_to_depth says where conv2d
// takes it (measured on the stem, bf16 channels_last). conv2d_space_to_depth takes any square
// kernel, stride and padding with groups 1 and no dilation (for tests and tools/bench-kernels).
bool use_space_to_depth(const torch::nn::Conv2dImpl& m, const torch::Tensor& x);
torch::Tensor conv2d_space_to_depth(torch::nn::Conv2dImpl& m, const torch::Tensor& x);
// The matrix product whatever the size (for tests and tools/bench-kernels): a channels_last CPU
// input, groups 1, zero padding given as numbers; in the autocast dtype when autocast is on.
torch::Tensor conv2d_as_matmul(torch::nn::Conv2dImpl& m, const torch::Tensor& x);

// Measured choices (conv_choice.cpp, choose.cpp). The rules above were set from measurements
// on one CPU, with AMX; without it they can be wrong (see docs/performance.md), so engine run's
// plan times each convolution a rule sends to one of our kernels against ATen's on the machine
// and keeps ours only where it is faster by more than kKernelTieMargin (choose.hpp).
enum class ConvKernel { aten, small_conv, space_to_depth };
const char* kernel_name(ConvKernel k);
// The kernel the rules send m on x to.
ConvKernel rule_kernel(const torch::nn::Conv2dImpl& m, const torch::Tensor& x);
// A convolution as the rules see it: its key names the kernel, channels, geometry, bias and
// input map ("space_to_depth 3->64 k7x7 s2x2 p3x3 d1x1 on 64x64"), not the batch.
struct ConvCase {
  std::string key;
  ConvKernel kernel = ConvKernel::aten;
  torch::nn::Conv2dOptions options{1, 1, 1};
  std::vector<int64_t> input;  // sizes, with the batch
  at::ScalarType input_dtype = at::kFloat;
  bool input_grad = false;
};
ConvCase conv_case(const torch::nn::Conv2dImpl& m, const torch::Tensor& x, ConvKernel kernel);
// ConvCase::key of m on an H x W map, for `kernel`; empty where neither of ours could take it.
std::string conv_key(const torch::nn::Conv2dImpl& m, int64_t H, int64_t W, ConvKernel kernel);
// Key -> the kernel chosen for it ("aten", or the rule's own); a key not in it follows the rules.
using ConvChoices = std::map<std::string, std::string>;

// The cases a model's convolutions send to our kernels, listed as its forward runs them (the
// plan's throwaway model only).
class ConvCaseLog {
 public:
  void add(const torch::nn::Conv2dImpl& m, const torch::Tensor& x, ConvKernel kernel);
  std::vector<ConvCase> cases() const;

 private:
  mutable std::mutex mutex_;
  std::vector<ConvCase> cases_;
};

// How a built model runs its ops: [train].kernels ("auto": ours where the rules and the
// measured choices say; "aten": LibTorch's own modules and no rewrites of the graph).
struct KernelSettings {
  bool ours = true;
  ConvChoices conv;
  std::shared_ptr<ConvCaseLog> record;  // set: every convolution lists its case there
};
// [train].kernels as run: ENGINE_KERNELS ("auto" or "aten"), when set, overrides the graph's
// value for a whole study; anything else there is a UserError-like std::invalid_argument.
std::string effective_kernels(const std::string& configured);

// One convolution module's share of the measured choices: which of our kernels they sent back
// to ATen on the module's own input map. Held by the module's step, so the training step reads
// no shared state.
struct ConvChoice {
  bool space_to_depth_to_aten = false;
  bool small_conv_to_aten = false;
  std::shared_ptr<ConvCaseLog> record;
};
ConvChoice conv_choice(const torch::nn::Conv2dImpl& m, int64_t H, int64_t W, const KernelSettings& settings);
// The module's forward in the kernel the rules and its choice say.
torch::Tensor conv2d(torch::nn::Conv2dImpl& m, const torch::Tensor& x, const ConvChoice& choice = {});

}  // namespace engine
