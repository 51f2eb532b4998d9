#include "engine/core/graph.hpp"

#include <algorithm>
#include <map>

#include "engine/core/registry.hpp"
#include "engine/core/sections.hpp"

namespace engine {

std::string shape_str(const Shape& s) {
  std::string out;
  for (size_t k = 0; k < s.size(); ++k) out += (k ? "x" : "") + std::to_string(s[k]);
  return out;
}

std::string commas(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t k = 0; k < digits.size(); ++k) {
    if (k && (digits.size() - k) % 3 == 0) out += ',';
    out += digits[k];
  }
  return n < 0 ? "-" + out : out;
}

std::string container_of(const std::string& name) {
  size_t dot = name.rfind('.');
  return dot == std::string::npos ? "" : name.substr(0, dot);
}

const Value& Node::arg(const std::string& key) const {
  const Value* v = args.find(key);
  if (!v) throw std::logic_error(context + ": op '" + op + "' read undeclared parameter '" + key + "'");
  return *v;
}
int64_t Node::i(const std::string& key) const { return arg(key).as_int(key); }
double Node::f(const std::string& key) const { return arg(key).as_float(key); }
bool Node::b(const std::string& key) const { return arg(key).as_bool(key); }
const std::string& Node::s(const std::string& key) const { return arg(key).as_string(key); }
std::vector<int64_t> Node::ints(const std::string& key) const { return arg(key).as_ints(key); }

void Node::fail(const std::string& key, const std::string& message) const {
  const Value* v = key.empty() ? nullptr : args.find(key);
  throw SpecError(v && !v->loc.file.empty() ? v->loc : loc, context + ": " + message);
}

int64_t checked_mul(const Node& n, const std::vector<int64_t>& factors) {
  int64_t out = 1;
  for (int64_t x : factors)
    if (__builtin_mul_overflow(out, x, &out)) n.fail("", "its sizes do not fit in 64-bit integers");
  return out;
}
int64_t checked_add(const Node& n, const std::vector<int64_t>& terms) {
  int64_t out = 0;
  for (int64_t x : terms)
    if (__builtin_add_overflow(out, x, &out)) n.fail("", "its sizes do not fit in 64-bit integers");
  return out;
}

const Node* Node::child(const std::string& child_name) const {
  for (const auto& c : children)
    if (c.name == child_name) return &c;
  return nullptr;
}

namespace {
// Expansions are generated, not written: they point at the node that produced them.
void stamp(Value& v, const Loc& loc) {
  if (v.loc.file.empty()) v.loc = loc;
  for (auto& item : v.items) stamp(item, loc);
  for (auto& [k, f] : v.fields) stamp(f, loc);
}

// LibTorch's checkpoint archives are TorchScript, whose module names cannot be Python keywords.
bool is_reserved_word(const std::string& name) {
  static const std::vector<std::string> words{"False",  "None",   "True",    "and",      "as",       "assert", "async",
                                              "await",  "break",  "class",   "continue", "def",      "del",    "elif",
                                              "else",   "except", "finally", "for",      "from",     "global", "if",
                                              "import", "in",     "is",      "lambda",   "nonlocal", "not",    "or",
                                              "pass",   "raise",  "return",  "try",      "while",    "with",   "yield"};
  return std::find(words.begin(), words.end(), name) != words.end();
}

std::vector<std::string> names_before(const std::vector<Node>& nodes) {
  std::vector<std::string> out{"input"};
  for (const auto& n : nodes) out.push_back(n.name);
  return out;
}
}  // namespace

std::vector<Node> build_nodes(const std::vector<Value>& layers, const Shape& input, const Registry& registry,
                              const std::string& path_prefix) {
  std::vector<Node> nodes;
  std::map<std::string, int> index{{"input", -1}};
  for (size_t k = 0; k < layers.size(); ++k) {
    const Value& layer = layers[k];
    std::string at = path_prefix.empty() ? "layers[" + std::to_string(k) + "]" : path_prefix;
    if (!layer.is(Value::Kind::Table)) throw SpecError(layer.loc, at + " must be a table ([[layers]])");
    const Value* op = layer.find("op");
    if (!op) throw SpecError(layer.loc, at + ": missing 'op' (see `engine ops` for the list)");

    Node n;
    n.loc = layer.loc;
    n.op = op->as_string(at + ".op");
    n.def = &registry.at(n.op, op->loc);
    if (const Value* name = layer.find("name")) {
      n.name = name->as_string(at + ".name");
      bool generated = !path_prefix.empty();
      if (n.name.empty() || (!generated && n.name.find_first_of(". ") != std::string::npos))
        throw SpecError(name->loc, at + ": name '" + n.name + "' must be non-empty, without dots or spaces");
      if (is_reserved_word(n.name))
        throw SpecError(name->loc, at + ": name '" + n.name +
                                       "' is a Python keyword, which a checkpoint cannot hold as a module name");
      if (index.count(n.name))
        throw SpecError(name->loc, at + ": name '" + n.name + "' is already " +
                                       (n.name == "input" ? "the graph input" : "used by an earlier node"));
    } else {
      n.name = n.op + "_" + std::to_string(k);
    }
    n.context = path_prefix.empty() ? at + " (" + n.name + ", " + n.op + ")" : path_prefix + n.name + " (" + n.op + ")";

    if (const Value* from = layer.find("from")) {
      n.from = from->is(Value::Kind::Array) ? from->as_strings(at + ".from")
                                            : std::vector<std::string>{from->as_string(at + ".from")};
      for (const auto& f : n.from) {
        auto it = index.find(f);
        if (it == index.end())
          throw SpecError(from->loc, n.context + ": 'from' names '" + f + "', which is not an earlier node" +
                                         did_you_mean(f, names_before(nodes)));
        n.inputs.push_back(it->second);
      }
    } else {
      n.inputs.push_back(static_cast<int>(nodes.size()) - 1);
      n.from.push_back(nodes.empty() ? "input" : nodes.back().name);
    }

    const OpDef& def = *n.def;
    int count = static_cast<int>(n.inputs.size());
    if (count < def.min_inputs || (def.max_inputs >= 0 && count > def.max_inputs)) {
      std::string want = def.max_inputs < 0 ? "at least " + std::to_string(def.min_inputs)
                         : def.min_inputs == def.max_inputs
                             ? std::to_string(def.min_inputs)
                             : std::to_string(def.min_inputs) + " to " + std::to_string(def.max_inputs);
      const Value* from = layer.find("from");
      throw SpecError(from ? from->loc : layer.loc,
                      n.context + ": takes " + want + " input(s), got " + std::to_string(count) +
                          (def.min_inputs > 1 ? " (list them: from = [\"a\", \"b\"])" : ""));
    }
    for (int in : n.inputs) n.in_shapes.push_back(in < 0 ? input : nodes[in].out);

    n.args = Value::table(layer.loc);
    for (const auto& [key, v] : layer.fields)
      if (key != "op" && key != "name" && key != "from") n.args.set(key, v);
    apply_schema(n.args, def.params, n.context);

    if (def.shape) n.out = def.shape(n);
    if (def.expand) {
      std::vector<Value> sub = def.expand(n);
      for (auto& v : sub) stamp(v, n.loc);
      n.children = build_nodes(sub, n.in(), registry, n.context + " > ");
      for (const auto& c : n.children) {
        n.params = checked_add(n, {n.params, c.params});
        n.macs = checked_add(n, {n.macs, c.macs});
      }
      if (!def.shape) n.out = n.children.back().out;
    } else {
      if (def.count_params) n.params = def.count_params(n);
      if (def.macs) n.macs = def.macs(n);
    }
    for (int64_t d : n.out)
      if (d < 1) n.fail("", "output shape " + shape_str(n.out) + " has an empty dimension");

    index[n.name] = static_cast<int>(nodes.size());
    nodes.push_back(std::move(n));
  }

  // In-place ops may only overwrite a tensor nobody else reads (nor the caller's input).
  std::map<int, int> consumers;
  for (const auto& n : nodes)
    for (int in : n.inputs) consumers[in]++;
  for (auto& n : nodes) n.input_shared = n.inputs.empty() || n.inputs[0] < 0 || consumers[n.inputs[0]] > 1;
  return nodes;
}

Graph build_graph(const Value& spec, const Registry& registry, bool check_limits) {
  if (!spec.find("limits") || !spec.find("train"))
    throw std::logic_error("build_graph needs a spec completed by complete_sections");

  Graph g;
  g.file = spec.loc.file;
  g.name = spec.find("name")->as_string("name");
  g.title = spec.find("title")->as_string("title");
  const Value& input = *spec.find("input");
  g.input = input.find("shape")->as_ints("input.shape");
  if (g.input.size() != 3 && g.input.size() != 1)
    throw SpecError(input.find("shape")->loc, "input.shape must be [channels, height, width] (or [features])");
  g.num_classes = class_count(spec);

  const Value& limits = *spec.find("limits");
  g.limits = limits_config(spec);
  g.limits.params_loc = limits.find("max_params")->loc;
  g.limits.channels_loc = limits.find("max_channels")->loc;

  const Value* layers = spec.find("layers");
  if (!layers || !layers->is(Value::Kind::Array) || layers->items.empty())
    throw SpecError(layers ? layers->loc : spec.loc, "the graph has no [[layers]]");
  g.nodes = build_nodes(layers->items, g.input, registry, "");

  for (const auto& n : g.nodes) {
    g.params = checked_add(n, {g.params, n.params});
    g.macs = checked_add(n, {g.macs, n.macs});
  }
  for_each_leaf(g.nodes, [&](const Node& n, const std::string& path) {
    if ((n.def->kind == OpKind::Conv || n.def->kind == OpKind::Linear) && n.out[0] > g.widest) {
      g.widest = n.out[0];
      g.widest_node = path;
      if (check_limits && g.widest > g.limits.max_channels)
        n.fail("out", std::to_string(g.widest) + " output channels exceed limits.max_channels = " +
                          std::to_string(g.limits.max_channels) + " (" + g.limits.channels_loc.str() + ")");
    }
  });
  if (check_limits && g.params > g.limits.max_params) {
    const Node* largest = &g.nodes[0];
    for (const auto& n : g.nodes)
      if (n.params > largest->params) largest = &n;
    throw SpecError(g.limits.params_loc, "graph '" + g.name + "' has " + commas(g.params) +
                                             " parameters, over limits.max_params = " + commas(g.limits.max_params) +
                                             "; the largest node is " + largest->name + " (" + commas(largest->params) +
                                             ")");
  }
  return g;
}

void check_head(const LoadedGraph& loaded) {
  const Value& spec = loaded.spec;
  const Graph& g = loaded.graph;
  if (g.input.size() != 3 || g.nodes.empty()) return;
  const Node& head = g.nodes.back();
  if (head.out == Shape{g.num_classes}) return;
  const Value* data = spec.find("data");
  const Value* classes = data ? data->find("classes") : nullptr;
  const Value* count = classes && !classes->items.empty() ? classes : data ? data->find("num_classes") : nullptr;
  const std::string where = count && !count->loc.file.empty() ? " (" + count->loc.str() + ")" : "";
  head.fail("out", "the graph's output is " + shape_str(head.out) + " but the data has " +
                       std::to_string(g.num_classes) + " classes" + where +
                       "; end with a linear layer of out = \"$classes\" (one logit per class)");
}

LoadedGraph resolve_graph(Value spec, bool check_limits) {
  complete_sections(spec);
  Graph g = build_graph(spec, default_registry(), check_limits);
  return LoadedGraph{std::move(spec), std::move(g)};
}

LoadedGraph load_graph(const std::filesystem::path& file, const std::vector<std::string>& overrides,
                       const std::vector<std::filesystem::path>& bases, bool check_limits) {
  return resolve_graph(load_spec(file, overrides, bases), check_limits);
}

}  // namespace engine
