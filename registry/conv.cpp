#include "registry/ops.hpp"

namespace engine {

void register_conv_ops(Registry& r) {
  OpDef op;
  op.name = "conv2d";
  op.kind = OpKind::Conv;
  op.doc = "2-D convolution (torch::nn::Conv2d)";
  op.params = {
      key_int("out", std::nullopt, "output channels", 1),
      key_int("kernel", std::nullopt, "kernel size (square)", 1),
      key_int("stride", 1, "stride", 1),
      key_int("padding", 0, "zero padding on each side", 0),
      key_int("dilation", 1, "dilation", 1),
      key_int("groups", 1, "groups (in and out channels must both divide by it)", 1),
      key_bool("bias", true, "learn a bias (usually false before batchnorm2d)"),
  };
  op.shape = [](const Node& n) {
    require_image(n);
    int64_t c = n.in()[0], g = n.i("groups");
    if (c % g || n.i("out") % g)
      n.fail("groups", "groups = " + std::to_string(g) + " must divide input channels (" + std::to_string(c) +
                           ") and out (" + std::to_string(n.i("out")) + ")");
    auto side = [&](int64_t s) {
      return window_out(n, s, n.i("kernel"), n.i("stride"), n.i("padding"), n.i("dilation"), "kernel");
    };
    return Shape{n.i("out"), side(n.in()[1]), side(n.in()[2])};
  };
  op.count_params = [](const Node& n) {
    int64_t k = n.i("kernel");
    int64_t weights = checked_mul(n, {n.i("out"), n.in()[0] / n.i("groups"), k, k});
    return checked_add(n, {weights, n.b("bias") ? n.i("out") : 0});
  };
  op.macs = [](const Node& n) {
    int64_t k = n.i("kernel");
    return checked_mul(n, {n.out[0], n.out[1], n.out[2], n.in()[0] / n.i("groups"), k, k});
  };
  op.label = [](const Node& n) {
    std::string k = std::to_string(n.i("kernel"));
    return k + "x" + k + "/" + std::to_string(n.i("stride")) + ", " + std::to_string(n.i("out"));
  };
  r.add(std::move(op));
}

}  // namespace engine
