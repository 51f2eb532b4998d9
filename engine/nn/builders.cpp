#include "engine/nn/builders.hpp"

#include "engine/kernels/kernels.hpp"
#include "registry/ops.hpp"

namespace engine {

namespace nn = torch::nn;

namespace {
// In place only when asked for and nothing else reads the input.
bool inplace(const Node& n) { return n.b("inplace") && !n.input_shared; }

Built sum(const Node&, const KernelSettings&) {
  return Built{nullptr, [](const std::vector<torch::Tensor>& x) {
                 torch::Tensor s = x[0] + x[1];
                 for (size_t k = 2; k < x.size(); ++k) s.add_(x[k]);
                 return s;
               }};
}

Built concat(const Node& n, const KernelSettings&) {
  int64_t dim = n.i("dim") + 1;  // past the batch dimension
  return Built{nullptr, [dim](const std::vector<torch::Tensor>& x) { return torch::cat(x, dim); }};
}
}  // namespace

const std::map<std::string, Builder>& op_builders() {
  static const std::map<std::string, Builder> builders{
      {"conv2d",
       [](const Node& n, const KernelSettings& k) {
         // The module prints and saves as torch's; with our kernels the step runs conv2d (kernels.hpp).
         nn::Conv2d m(nn::Conv2dOptions(n.in()[0], n.i("out"), n.i("kernel"))
                          .stride(n.i("stride"))
                          .padding(n.i("padding"))
                          .dilation(n.i("dilation"))
                          .groups(n.i("groups"))
                          .bias(n.b("bias")));
         if (!k.ours) return built(m);
         ConvChoice choice = n.in().size() == 3 ? conv_choice(*m, n.in()[1], n.in()[2], k) : ConvChoice{};
         return Built{m.ptr(),
                      [m, choice](const std::vector<torch::Tensor>& x) mutable { return conv2d(*m, x[0], choice); }};
       }},
      {"batchnorm2d",
       [](const Node& n, const KernelSettings& k) {
         // The module prints and saves as torch's; with our kernels the step runs batch_norm (kernels.hpp).
         nn::BatchNorm2d m(nn::BatchNorm2dOptions(n.in()[0]).eps(n.f("eps")).momentum(n.f("momentum")));
         if (!k.ours) return built(m);
         return Built{m.ptr(), [m](const std::vector<torch::Tensor>& x) mutable { return batch_norm(*m, x[0]); }};
       }},
      {"relu",
       [](const Node& n, const KernelSettings&) { return built(nn::ReLU(nn::ReLUOptions().inplace(inplace(n)))); }},
      {"leaky_relu",
       [](const Node& n, const KernelSettings&) {
         return built(nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(n.f("negative_slope")).inplace(inplace(n))));
       }},
      {"elu",
       [](const Node& n, const KernelSettings&) {
         return built(nn::ELU(nn::ELUOptions().alpha(n.f("alpha")).inplace(inplace(n))));
       }},
      {"gelu",
       [](const Node& n, const KernelSettings& k) {
         // The module prints as torch's GELU; with our kernels the step runs the layout-aware one (kernels.hpp).
         const std::string approximate = n.s("approximate");
         nn::GELU m(nn::GELUOptions().approximate(approximate));
         if (!k.ours) return built(m);
         return Built{m.ptr(), [approximate](const std::vector<torch::Tensor>& x) { return gelu(x[0], approximate); }};
       }},
      {"identity", [](const Node&, const KernelSettings&) { return built(nn::Identity()); }},
      {"maxpool2d",
       [](const Node& n, const KernelSettings& k) {
         nn::MaxPool2d m(nn::MaxPool2dOptions(n.i("kernel")).stride(pool_stride(n)).padding(n.i("padding")));
         if (!k.ours) return built(m);
         return Built{m.ptr(), [m](const std::vector<torch::Tensor>& x) mutable { return max_pool2d(*m, x[0]); }};
       }},
      {"avgpool2d",
       [](const Node& n, const KernelSettings&) {
         return built(
             nn::AvgPool2d(nn::AvgPool2dOptions(n.i("kernel")).stride(pool_stride(n)).padding(n.i("padding"))));
       }},
      {"adaptive_avgpool2d",
       [](const Node& n, const KernelSettings&) {
         return built(nn::AdaptiveAvgPool2d(nn::AdaptiveAvgPool2dOptions({n.i("size"), n.i("size")})));
       }},
      {"flatten", [](const Node&, const KernelSettings&) { return built(nn::Flatten()); }},
      {"dropout",
       [](const Node& n, const KernelSettings&) { return built(nn::Dropout(nn::DropoutOptions(n.f("p")))); }},
      {"linear",
       [](const Node& n, const KernelSettings&) {
         return built(nn::Linear(nn::LinearOptions(n.in()[0], n.i("out")).bias(n.b("bias"))));
       }},
      {"add", sum},
      {"concat", concat},
  };
  return builders;
}

}  // namespace engine
