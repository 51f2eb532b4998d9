#pragma once
// torch::nn modules built from a validated graph. Node names become submodule names, so a
// built graph prints like a PyTorch model (conv1, bn1, layer1.0.conv1, fc).
#include <string>
#include <vector>

#include <torch/torch.h>

#include "engine/core/graph.hpp"
#include "engine/nn/builders.hpp"

namespace engine {

// Children applied one after another; prints as Sequential.
class ChainImpl : public torch::nn::Module {
 public:
  void add(const std::string& name, Built b);
  torch::Tensor forward(torch::Tensor x);
  void pretty_print(std::ostream& os) const override { os << "Sequential"; }

 private:
  std::vector<std::function<torch::Tensor(const std::vector<torch::Tensor>&)>> steps_;
};
TORCH_MODULE(Chain);

// Any validated node list: a straight chain runs as one; other graphs keep each output
// only until its last reader has run. Dotted node names nest the node's module in a
// container ("downsample.0" → downsample → 0), so names match torchvision's.
class GraphModuleImpl : public torch::nn::Module {
 public:
  GraphModuleImpl(const std::vector<Node>& nodes, std::string print_name, const KernelSettings& kernels = {});
  torch::Tensor forward(torch::Tensor x);
  void pretty_print(std::ostream& os) const override { os << print_name_; }

 private:
  struct Step {
    std::vector<int> inputs;
    std::function<torch::Tensor(const std::vector<torch::Tensor>&)> forward;
    std::vector<int> release;  // outputs no later step reads
  };
  void register_node(const std::string& name, std::shared_ptr<torch::nn::Module> module);

  std::vector<Step> steps_;
  bool chain_ = true;
  std::string print_name_;
};
TORCH_MODULE(GraphModule);

// With `kernels` as [train].kernels and the plan's measured choices say (default: ours, by the rules).
GraphModule build_model(const Graph& g, const KernelSettings& kernels = {});

// An exact rewrite of the execution order (the printed model, parameter names and state_dict
// keep the written order): a non-decreasing activation (relu, leaky_relu, elu) whose output
// only a max-pool reads runs after the pool instead, on a quarter of the elements in ResNet's
// stem, since max(f(x)) = f(max(x)). The gradient reaches the same element (for ReLU bit for
// bit; for the others unless rounding makes two inputs' activations equal). GELU dips below
// zero, so it is not moved. True when nodes[k] and nodes[k + 1] are such a pair. Only with
// our kernels: kernels = "aten" runs the graph as written.
bool pool_runs_first(const std::vector<Node>& nodes, size_t k);

// A leaf through its builder (builders.cpp); a composite as a GraphModule of its expansion.
Built build_node(const Node& n, const KernelSettings& kernels = {});

// print(model) as text.
std::string model_text(const torch::nn::Module& m);

// Sum of numel over parameters(): the validator's count must equal this exactly.
int64_t count_parameters(const torch::nn::Module& m);

}  // namespace engine
