#pragma once
// The op registry: one map from op name to what the validator knows about the op
// (parameters, shape rule, parameter count, MACs, kind, label). Torch-free: the modules are
// built from a second map in the torch layer (engine/nn/builders.cpp), keyed by the same
// names. Every op family in registry/ registers from register_all_ops(), called
// explicitly: nothing registers from static initialisers (Caffe's classic failure mode with
// static libraries).
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/core/graph.hpp"
#include "engine/core/schema.hpp"

namespace engine {

// What an op is, for tables, colours and the channel limit.
enum class OpKind { Conv, Norm, Act, Pool, Linear, Merge, Reshape, Block, Stages };
const char* op_kind_name(OpKind k);  // "conv", "norm", ...

struct OpDef {
  std::string name;
  OpKind kind = OpKind::Reshape;
  std::string doc;
  std::vector<KeyDef> params;
  int min_inputs = 1, max_inputs = 1;  // max_inputs < 0: any number

  // Output shape from n.in_shapes and n.args; calls n.fail(key, why) when impossible.
  std::function<Shape(const Node& n)> shape;
  std::function<int64_t(const Node& n)> count_params;  // leaves only; null = 0
  std::function<int64_t(const Node& n)> macs;          // leaves only; null = 0
  // Composite ops describe themselves as layer tables (validated like user layers, fed by
  // "input"); their shape, parameters and MACs are those of the expansion, and their module
  // is built from it. A dotted child name ("downsample.0", "layer2.1") nests the child in a
  // container of that prefix, as torchvision names its modules.
  std::function<std::vector<Value>(const Node& n)> expand;
  std::string module_name;  // how a composite prints in print(model) ("BasicBlock"); default: op name
  // The composite's children go straight into the parent module (resnet_stages → layer1..N).
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
  std::vector<std::string> names_of_kind(OpKind kind) const;
  const std::map<std::string, OpDef>& all() const { return ops_; }

 private:
  std::map<std::string, OpDef> ops_;
};

// Every op the engine ships, registered explicitly (registry/all.cpp).
void register_all_ops(Registry& r);
// A registry with every op, built on first use.
const Registry& default_registry();

}  // namespace engine
