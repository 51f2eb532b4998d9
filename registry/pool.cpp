#include "registry/ops.hpp"

namespace engine {

namespace {

OpDef window_pool(std::string name, std::string doc) {
  OpDef op;
  op.name = std::move(name);
  op.kind = OpKind::Pool;
  op.doc = std::move(doc);
  op.params = {
      key_int("kernel", std::nullopt, "window size (square)", 1),
      key_int("stride", 0, "stride (0: equal to kernel, as in PyTorch)", 0),
      key_int("padding", 0, "implicit padding on each side (at most kernel/2)", 0),
  };
  op.shape = [](const Node& n) {
    require_image(n);
    if (n.i("padding") > n.i("kernel") / 2)
      n.fail("padding", "padding " + std::to_string(n.i("padding")) + " must be at most half the kernel (" +
                            std::to_string(n.i("kernel")) + ")");
    auto side = [&](int64_t s) { return window_out(n, s, n.i("kernel"), pool_stride(n), n.i("padding"), 1, "kernel"); };
    return Shape{n.in()[0], side(n.in()[1]), side(n.in()[2])};
  };
  op.label = [](const Node& n) {
    std::string k = std::to_string(n.i("kernel"));
    return k + "x" + k + "/" + std::to_string(pool_stride(n));
  };
  return op;
}
}  // namespace

int64_t pool_stride(const Node& n) { return n.i("stride") ? n.i("stride") : n.i("kernel"); }

void register_pool_ops(Registry& r) {
  OpDef max = window_pool("maxpool2d", "max over sliding windows (torch::nn::MaxPool2d)");
  r.add(std::move(max));

  OpDef avg = window_pool("avgpool2d", "mean over sliding windows (torch::nn::AvgPool2d)");
  r.add(std::move(avg));

  OpDef ada;
  ada.name = "adaptive_avgpool2d";
  ada.kind = OpKind::Pool;
  ada.doc = "mean pooling to a fixed output size (torch::nn::AdaptiveAvgPool2d)";
  ada.params = {key_int("size", 1, "output height and width", 1)};
  ada.shape = [](const Node& n) {
    require_image(n);
    return Shape{n.in()[0], n.i("size"), n.i("size")};
  };
  ada.label = [](const Node& n) { return std::to_string(n.i("size")) + "x" + std::to_string(n.i("size")); };
  r.add(std::move(ada));
}

}  // namespace engine
