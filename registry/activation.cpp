#include "registry/ops.hpp"

namespace engine {

namespace {
OpDef activation(std::string name, std::string doc, std::vector<KeyDef> params) {
  OpDef op;
  op.name = std::move(name);
  op.kind = OpKind::Act;
  op.doc = std::move(doc);
  op.params = std::move(params);
  op.shape = [](const Node& n) { return n.in(); };
  return op;
}

KeyDef inplace_key() { return key_bool("inplace", true, "overwrite the input when no other node reads it"); }
}  // namespace

void register_activation_ops(Registry& r) {
  r.add(activation("relu", "max(0, x)", {inplace_key()}));
  r.add(activation("leaky_relu", "x for x > 0, negative_slope * x otherwise",
                   {key_float("negative_slope", 0.01, "slope for negative inputs", 0), inplace_key()}));
  r.add(activation("elu", "x for x > 0, alpha * (exp(x) - 1) otherwise",
                   {key_float("alpha", 1.0, "saturation value for negative inputs", 0), inplace_key()}));
  r.add(activation("gelu", "x * Phi(x) (no in-place form exists)",
                   {key_string("approximate", "none", "exact erf form or the tanh approximation", {"none", "tanh"})}));
  OpDef id = activation("identity", "passes its input through", {});
  id.kind = OpKind::Reshape;
  r.add(std::move(id));
}

}  // namespace engine
