#include "registry/ops.hpp"

namespace engine {

void register_norm_ops(Registry& r) {
  OpDef op;
  op.name = "batchnorm2d";
  op.kind = OpKind::Norm;
  op.doc = "batch normalisation over channels (torch::nn::BatchNorm2d)";
  op.params = {
      key_float("eps", 1e-5, "added to the variance for stability", 0),
      key_float("momentum", 0.1, "running-statistics momentum", 0),
  };
  op.shape = [](const Node& n) {
    require_image(n);
    return n.in();
  };
  // weight and bias; the running statistics are buffers
  op.count_params = [](const Node& n) { return checked_mul(n, {2, n.in()[0]}); };
  r.add(std::move(op));
}

}  // namespace engine
