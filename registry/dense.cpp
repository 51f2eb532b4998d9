#include "registry/ops.hpp"

namespace engine {

void register_dense_ops(Registry& r) {
  OpDef flat;
  flat.name = "flatten";
  flat.kind = OpKind::Reshape;
  flat.doc = "C x H x W → C*H*W (torch::nn::Flatten)";
  flat.shape = [](const Node& n) { return Shape{checked_mul(n, n.in())}; };
  r.add(std::move(flat));

  OpDef drop;
  drop.name = "dropout";
  drop.kind = OpKind::Reshape;
  drop.doc = "zeroes inputs with probability p while training (torch::nn::Dropout)";
  drop.params = {key_float("p", 0.5, "drop probability", 0)};
  drop.shape = [](const Node& n) {
    if (n.f("p") >= 1) n.fail("p", "p must be below 1");
    return n.in();
  };
  r.add(std::move(drop));

  OpDef fc;
  fc.name = "linear";
  fc.kind = OpKind::Linear;
  fc.doc = "fully connected layer (torch::nn::Linear)";
  fc.params = {
      key_int("out", std::nullopt, "output features (\"$classes\" for a classifier head)", 1),
      key_bool("bias", true, "learn a bias"),
  };
  fc.shape = [](const Node& n) {
    if (n.in().size() != 1)
      n.fail("", "expects a flat input, got " + shape_str(n.in()) + "; add op = \"flatten\" before it");
    return Shape{n.i("out")};
  };
  fc.count_params = [](const Node& n) {
    return checked_add(n, {checked_mul(n, {n.in()[0], n.i("out")}), n.b("bias") ? n.i("out") : 0});
  };
  fc.macs = [](const Node& n) { return checked_mul(n, {n.in()[0], n.i("out")}); };
  fc.label = [](const Node& n) { return std::to_string(n.in()[0]) + "->" + std::to_string(n.i("out")); };
  r.add(std::move(fc));
}

}  // namespace engine
