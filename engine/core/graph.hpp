#pragma once
// A validated graph: every node with its resolved arguments, input/output shapes, exact
// parameter count and MACs, computed statically before any module is built.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/core/spec.hpp"

namespace engine {

struct OpDef;
class Registry;

using Shape = std::vector<int64_t>;     // one example, no batch dimension: C x H x W or F
std::string shape_str(const Shape& s);  // "64x16x16"
std::string commas(int64_t n);          // 2,785,354
// A generated child's dotted name is its module path: "layer2.1" is block 1 of container
// layer2. Returns the container ("layer2"), or "" for a name without a dot.
std::string container_of(const std::string& name);

struct Node {
  std::string name;  // also the submodule name in the built model
  std::string op;
  const OpDef* def = nullptr;
  Value args;                     // table of the op's parameters, defaults filled
  Loc loc;                        // the [[layers]] entry
  std::vector<std::string> from;  // names of input nodes ("input" is the graph input)
  std::vector<int> inputs;        // indices into the enclosing node list; -1 = the input
  std::vector<Shape> in_shapes;
  Shape out;
  int64_t params = 0;
  int64_t macs = 0;
  bool input_shared = false;   // the input feeds other nodes too: no in-place op on it
  std::vector<Node> children;  // composite ops (basic_block, resnet_stages) expanded
  std::string context;         // "layers[3] (conv1, conv2d)", for messages

  int64_t i(const std::string& key) const;
  double f(const std::string& key) const;
  bool b(const std::string& key) const;
  const std::string& s(const std::string& key) const;
  std::vector<int64_t> ints(const std::string& key) const;
  const Value& arg(const std::string& key) const;  // for error locations
  const Shape& in() const { return in_shapes.at(0); }
  [[noreturn]] void fail(const std::string& key, const std::string& message) const;
  const Node* child(const std::string& name) const;
};

// Shapes and counts are int64: a product or sum that does not fit (a 2^40-channel conv) fails
// at the node instead of overflowing.
int64_t checked_mul(const Node& n, const std::vector<int64_t>& factors);
int64_t checked_add(const Node& n, const std::vector<int64_t>& terms);

// [limits]; the defaults are these initialisers (engine/core/sections.cpp binds the keys).
struct Limits {
  int64_t max_params = 5'000'000;
  int64_t max_channels = 512;
  Loc params_loc, channels_loc;  // where the values were written, for limit errors
};

struct Graph {
  std::string name, title, file;
  Shape input;
  int64_t num_classes = 0;
  Limits limits;
  std::vector<Node> nodes;
  int64_t params = 0;
  int64_t macs = 0;
  int64_t widest = 0;  // largest conv/linear output width, leaves included
  std::string widest_node;
  const Shape& output() const { return nodes.back().out; }
};

// Validates the layers of a resolved spec whose sections are complete (load_spec, then
// complete_sections): shapes, parameters, limits. Throws SpecError naming file:line:col, the
// node and what was expected.
Graph build_graph(const Value& completed_spec, const Registry& registry, bool check_limits = true);

// What every command starts from: the spec resolved and completed, and its validated graph.
struct LoadedGraph {
  Value spec;
  Graph graph;
};
LoadedGraph load_graph(const std::filesystem::path& file, const std::vector<std::string>& overrides = {},
                       const std::vector<std::filesystem::path>& bases = {}, bool check_limits = true);
// The same for a spec already in memory (tests, generated graphs).
LoadedGraph resolve_graph(Value spec, bool check_limits = true);
// An image classifier's last node must give one logit per class of its data ([data] classes or
// num_classes): a head of another width trains without complaint (labels stay below it) and is
// a wrong model. SpecError at the head's `out`, naming where the class count comes from.
// engine check and the runner call it; a graph that is only drawn or timed need not be a classifier.
void check_head(const LoadedGraph& loaded);

// Validates a list of layer tables fed by `input` (used for the top level and for the
// expansion of composite ops).
std::vector<Node> build_nodes(const std::vector<Value>& layers, const Shape& input, const Registry& registry,
                              const std::string& path_prefix);

// Calls fn on every leaf (a node without children), depth first, with its dotted path.
template <class Fn>
void for_each_leaf(const std::vector<Node>& nodes, Fn&& fn, const std::string& prefix = "") {
  for (const auto& n : nodes) {
    std::string path = prefix.empty() ? n.name : prefix + "." + n.name;
    if (n.children.empty())
      fn(n, path);
    else
      for_each_leaf(n.children, fn, path);
  }
}

}  // namespace engine
