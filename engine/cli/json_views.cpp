#include "engine/cli/json_views.hpp"

#include <toml++/toml.h>
#include <sstream>

#include "engine/core/graph.hpp"
#include "engine/core/info.hpp"
#include "engine/core/registry.hpp"

namespace engine {

namespace {
std::string json_of(const toml::table& t) {
  std::ostringstream ss;
  ss << toml::json_formatter{t} << "\n";
  return ss.str();
}

toml::array shape_array(const Shape& s) {
  toml::array a;
  for (auto d : s) a.push_back(d);
  return a;
}

// A graph value as JSON through its TOML text: the one writer of values stays spec.cpp's.
toml::table value_holder(const Value& v) { return toml::parse("v = " + v.repr()); }

toml::array node_array(const std::vector<Node>& nodes) {
  toml::array out;
  for (const auto& n : nodes) {
    toml::table t{{"name", n.name},     {"op", n.op},     {"args", node_label(n)},
                  {"params", n.params}, {"macs", n.macs}, {"output", shape_array(n.out)}};
    toml::array from;
    for (const auto& f : n.from) from.push_back(f);
    t.insert("from", std::move(from));
    t.insert("children", node_array(n.children));
    out.push_back(std::move(t));
  }
  return out;
}

toml::table graph_table(const Graph& g) {
  return toml::table{{"file", g.file},
                     {"name", g.name},
                     {"title", g.title},
                     {"input", shape_array(g.input)},
                     {"output", shape_array(g.output())},
                     {"params", g.params},
                     {"max_params", g.limits.max_params},
                     {"macs", g.macs},
                     {"max_channels", g.widest},
                     {"channel_limit", g.limits.max_channels},
                     {"widest_node", g.widest_node}};
}
}  // namespace

std::string check_json(const std::vector<Checked>& files) {
  toml::array list;
  int64_t failed = 0;
  for (const auto& c : files) {
    toml::table t{{"file", c.file}, {"ok", c.error.empty()}};
    if (!c.error.empty()) {
      t.insert("kind", "error");
      t.insert("error", c.error);
      ++failed;
    } else if (c.graph) {
      t.insert("kind", "graph");
      t.insert("graph", graph_table(*c.graph));
    } else {
      t.insert("kind", "study");
      t.insert("stages", static_cast<int64_t>(c.study_stages.value_or(0)));
      t.insert("graphs", static_cast<int64_t>(c.study_graphs.value_or(0)));
    }
    list.push_back(std::move(t));
  }
  return json_of(
      toml::table{{"files", std::move(list)}, {"ok", static_cast<int64_t>(files.size()) - failed}, {"failed", failed}});
}

std::string info_json(const std::vector<const Graph*>& graphs, const std::vector<std::string>& models) {
  toml::array list;
  for (size_t k = 0; k < graphs.size(); ++k) {
    toml::table t = graph_table(*graphs[k]);
    t.insert("nodes", node_array(graphs[k]->nodes));
    t.insert("model", k < models.size() ? models[k] : "");
    list.push_back(std::move(t));
  }
  return json_of(toml::table{{"graphs", std::move(list)}});
}

std::string ops_json(const Registry& registry) {
  toml::array ops;
  for (const auto& [name, op] : registry.all()) {
    toml::array params;
    for (const auto& k : op.params) {
      toml::table p{{"name", k.name}, {"type", type_name(k.type)}, {"doc", k.doc}, {"required", !k.def}};
      if (k.def) p.insert("default", *value_holder(*k.def).get("v"));
      toml::array choices;
      for (const auto& c : k.choices) choices.push_back(c);
      p.insert("choices", std::move(choices));
      params.push_back(std::move(p));
    }
    ops.push_back(toml::table{{"name", name},
                              {"kind", op_kind_name(op.kind)},
                              {"doc", op.doc},
                              {"min_inputs", op.min_inputs},
                              {"max_inputs", op.max_inputs},  // -1: any number
                              {"params", std::move(params)}});
  }
  return json_of(toml::table{{"ops", std::move(ops)}});
}

std::string config_json(const Value& completed_spec) { return json_of(toml::parse(to_toml(completed_spec))); }

}  // namespace engine
