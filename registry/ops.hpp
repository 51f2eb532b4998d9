#pragma once
// One registration function per op family; register_all_ops (all.cpp) calls them in order.
#include "engine/core/registry.hpp"

namespace engine {

void register_conv_ops(Registry& r);        // conv2d
void register_norm_ops(Registry& r);        // batchnorm2d
void register_activation_ops(Registry& r);  // relu, leaky_relu, elu, gelu, identity
void register_pool_ops(Registry& r);        // maxpool2d, avgpool2d, adaptive_avgpool2d
void register_dense_ops(Registry& r);       // flatten, dropout, linear
void register_merge_ops(Registry& r);       // add, concat
void register_resnet_ops(Registry& r);      // basic_block, resnet_stages (after activations)

// Shared shape rules.
void require_image(const Node& n);  // the input is C x H x W
// Output size of a sliding window; fails at `key` when the window does not fit.
int64_t window_out(const Node& n, int64_t size, int64_t kernel, int64_t stride, int64_t padding, int64_t dilation,
                   const char* key);
// Pooling stride; 0 means the kernel size, PyTorch's default.
int64_t pool_stride(const Node& n);

}  // namespace engine
