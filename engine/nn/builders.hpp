#pragma once
// The torch half of the op registry: how each leaf op becomes a torch::nn module. One entry
// per op, keyed by the names of the torch-free registry (engine/core/registry.hpp).
// Composite ops have no entry: their module is built from their expansion (model.cpp).
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "engine/core/graph.hpp"
#include "engine/kernels/kernels.hpp"

namespace engine {

// A built op: the module to register (its children appear in print(model)) and how to call it.
struct Built {
  std::shared_ptr<torch::nn::Module> module;  // null for ops without state (add, concat)
  std::function<torch::Tensor(const std::vector<torch::Tensor>&)> forward;
};

template <class Holder>
Built built(Holder m) {
  return Built{m.ptr(), [m](const std::vector<torch::Tensor>& x) mutable { return m->forward(x[0]); }};
}

// `k` says whether the step runs our kernels (engine/kernels/) or the module's own forward.
using Builder = std::function<Built(const Node& n, const KernelSettings& k)>;

// Every leaf op's builder, by op name.
const std::map<std::string, Builder>& op_builders();

}  // namespace engine
