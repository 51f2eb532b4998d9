#include "registry/ops.hpp"

namespace engine {

void register_all_ops(Registry& r) {
  register_conv_ops(r);
  register_norm_ops(r);
  register_activation_ops(r);
  register_pool_ops(r);
  register_dense_ops(r);
  register_merge_ops(r);
  register_resnet_ops(r);  // its `act` parameter lists the activations registered above
}

void require_image(const Node& n) {
  if (n.in().size() != 3)
    n.fail("", "expects a CxHxW input, got " + shape_str(n.in()) + " (is there a flatten before it?)");
}

int64_t window_out(const Node& n, int64_t size, int64_t kernel, int64_t stride, int64_t padding, int64_t dilation,
                   const char* key) {
  int64_t padded = checked_add(n, {size, checked_mul(n, {2, padding})});
  int64_t window = checked_add(n, {checked_mul(n, {dilation, kernel - 1}), 1});
  if (padded < window)
    n.fail(key, "the input " + shape_str(n.in()) + " is too small for kernel " + std::to_string(kernel) + ", stride " +
                    std::to_string(stride) + ", padding " + std::to_string(padding) + ": the output would be empty");
  return (padded - window) / stride + 1;
}

}  // namespace engine
