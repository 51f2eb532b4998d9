#include "engine/kernels/kernels.hpp"

namespace engine {

namespace {
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// NCHW <-> the NHWC view of the same channels_last storage (contiguous, so ATen vectorises).
torch::Tensor nhwc(const torch::Tensor& t) { return t.permute({0, 2, 3, 1}); }
torch::Tensor nchw(const torch::Tensor& t) { return t.permute({0, 3, 1, 2}); }

// Only the exact form comes here (gelu() below), so nothing but the input is saved.
struct NhwcGelu : torch::autograd::Function<NhwcGelu> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x) {
    ctx->save_for_backward({x});
    return nchw(at::gelu(nhwc(x)));
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const torch::Tensor x = ctx->get_saved_variables()[0];
    // The gradient may arrive in either layout; mixed layouts are the slowest case of all.
    const torch::Tensor g = grad[0].contiguous(at::MemoryFormat::ChannelsLast);
    return {nchw(at::gelu_backward(nhwc(g), nhwc(x)))};
  }
};
}  // namespace

torch::Tensor gelu(const torch::Tensor& x, const std::string& approximate) {
  if (approximate == "none" && x.dim() == 4 && !x.is_contiguous() && x.is_contiguous(at::MemoryFormat::ChannelsLast))
    return NhwcGelu::apply(x);
  return at::gelu(x, approximate);
}

}  // namespace engine
