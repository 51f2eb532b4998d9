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
  GraphModuleImpl(const std::vector<Node>& nodes, std::string print_name);
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

GraphModule build_model(const Graph& g);

// A leaf through its builder (builders.cpp); a composite as a GraphModule of its expansion.
Built build_node(const Node& n);

// print(model) as text.
std::string model_text(const torch::nn::Module& m);

// Sum of numel over parameters(): the validator's count must equal this exactly.
int64_t count_parameters(const torch::nn::Module& m);

}  // namespace engine
