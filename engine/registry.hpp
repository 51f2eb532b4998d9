#pragma once
// The op registry: one map from op name to what the engine knows about the op
// (parameters, shape rule, parameter count, MACs, builder, drawing kind). Every op family
// in registry/ registers itself from register_all_ops(), called explicitly — nothing
// registers from static initialisers (Caffe's classic failure mode with static libraries).
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "engine/graph.hpp"
#include "engine/schema.hpp"

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

struct OpDef {
  std::string name;
  std::string kind;  // conv | norm | act | pool | linear | merge | reshape | block | stages
  std::string doc;
  std::vector<KeyDef> params;
  int min_inputs = 1, max_inputs = 1;  // max_inputs < 0: any number

  // Output shape from n.in_shapes and n.args; calls n.fail(key, why) when impossible.
  std::function<Shape(const Node& n)> shape;
  std::function<int64_t(const Node& n)> count_params;  // leaves only; null = 0
  std::function<int64_t(const Node& n)> macs;          // leaves only; null = 0
  // Composite ops describe themselves as layer tables (validated like user layers, fed by
  // "input"); their shape, parameters and MACs are those of the expansion.
  std::function<std::vector<Value>(const Node& n)> expand;
  std::function<Built(const Node& n)> build;
  // The built module is a container whose children go straight into the parent model
  // (resnet_stages → layer1..layerN, as torchvision prints them).
  bool splice = false;
  // Key parameters in a few characters, for tables and drawings ("7x7/2, 64").
  std::function<std::string(const Node& n)> label;
};

class Registry {
 public:
  void add(OpDef op);
  const OpDef* find(const std::string& name) const;
  const OpDef& at(const std::string& name, const Loc& loc) const;  // unknown: lists known ops
  std::vector<std::string> names() const;
  std::vector<std::string> names_of_kind(const std::string& kind) const;
  const std::map<std::string, OpDef>& all() const { return ops_; }

 private:
  std::map<std::string, OpDef> ops_;
};

// Every op the engine ships, registered explicitly (registry/all.cpp).
void register_all_ops(Registry& r);
// A registry with every op, built on first use.
const Registry& default_registry();

// Builds a leaf or composite node (composites without a builder become a graph of children).
Built build_node(const Node& n);

}  // namespace engine
