#include "registry/ops.hpp"

namespace engine {

namespace {
// In place only when asked for and nothing else reads the input.
bool inplace(const Node& n) { return n.b("inplace") && !n.input_shared; }

OpDef activation(std::string name, std::string doc, std::vector<KeyDef> params, std::function<Built(const Node&)> build) {
  OpDef op;
  op.name = std::move(name);
  op.kind = "act";
  op.doc = std::move(doc);
  op.params = std::move(params);
  op.shape = [](const Node& n) { return n.in(); };
  op.build = std::move(build);
  return op;
}

KeyDef inplace_key() { return key_bool("inplace", true, "overwrite the input when no other node reads it"); }
}  // namespace

void register_activation_ops(Registry& r) {
  r.add(activation("relu", "max(0, x)", {inplace_key()}, [](const Node& n) {
    return built(torch::nn::ReLU(torch::nn::ReLUOptions().inplace(inplace(n))));
  }));
  r.add(activation("leaky_relu", "x for x > 0, negative_slope * x otherwise",
                   {key_float("negative_slope", 0.01, "slope for negative inputs", 0), inplace_key()},
                   [](const Node& n) {
                     return built(torch::nn::LeakyReLU(
                         torch::nn::LeakyReLUOptions().negative_slope(n.f("negative_slope")).inplace(inplace(n))));
                   }));
  r.add(activation("elu", "x for x > 0, alpha * (exp(x) - 1) otherwise",
                   {key_float("alpha", 1.0, "saturation value for negative inputs", 0), inplace_key()},
                   [](const Node& n) {
                     return built(torch::nn::ELU(torch::nn::ELUOptions().alpha(n.f("alpha")).inplace(inplace(n))));
                   }));
  r.add(activation("gelu", "x * Phi(x) (no in-place form exists)",
                   {key_string("approximate", "none", "exact erf form or the tanh approximation", {"none", "tanh"})},
                   [](const Node& n) {
                     return built(torch::nn::GELU(torch::nn::GELUOptions().approximate(n.s("approximate"))));
                   }));
  OpDef id = activation("identity", "passes its input through", {},
                        [](const Node&) { return built(torch::nn::Identity()); });
  id.kind = "reshape";
  r.add(std::move(id));
}

}  // namespace engine
