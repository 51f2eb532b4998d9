#include "engine/core/info.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "engine/core/registry.hpp"

namespace engine {

namespace {
std::string millions(int64_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fM", n / 1e6);
  return buf;
}
std::string pad(std::string s, size_t w, bool right = false) {
  if (s.size() < w) right ? s.insert(0, w - s.size(), ' ') : s.append(w - s.size(), ' ');
  return s;
}

struct Row {
  std::string name, op, label, shape, params, macs;
};

void rows_of(const std::vector<Node>& nodes, const std::string& indent, int depth, std::vector<Row>& rows) {
  for (const auto& n : nodes) {
    rows.push_back({indent + n.name, n.op, node_label(n), shape_str(n.out), commas(n.params), commas(n.macs)});
    // Stages show their blocks; a block's own convs are one `engine draw --expand` away.
    if (n.def->kind == OpKind::Stages && depth == 0) rows_of(n.children, indent + "  ", depth + 1, rows);
  }
}
}  // namespace

std::string node_label(const Node& n) { return n.def->label ? n.def->label(n) : ""; }

std::string check_line(const Graph& g) {
  std::ostringstream ss;
  ss << g.file << ": ok  params " << commas(g.params) << " (limit " << commas(g.limits.max_params) << ")"
     << "  max channels " << g.widest << " (limit " << g.limits.max_channels << ")"
     << "  MACs " << millions(g.macs) << "  output " << shape_str(g.output());
  return ss.str();
}

std::string layer_table(const Graph& g) {
  std::vector<Row> rows{{"input", "", "", shape_str(g.input), "", ""}};
  rows_of(g.nodes, "", 0, rows);
  Row head{"Layer", "Op", "Args", "Output", "Params", "MACs"};
  size_t w[6] = {0};
  auto widen = [&](const Row& r) {
    const std::string* c[6] = {&r.name, &r.op, &r.label, &r.shape, &r.params, &r.macs};
    for (int k = 0; k < 6; ++k) w[k] = std::max(w[k], c[k]->size());
  };
  widen(head);
  for (const auto& r : rows) widen(r);
  auto line = [&](const Row& r) {
    return pad(r.name, w[0]) + "  " + pad(r.op, w[1]) + "  " + pad(r.label, w[2]) + "  " + pad(r.shape, w[3]) + "  " +
           pad(r.params, w[4], true) + "  " + pad(r.macs, w[5], true) + "\n";
  };
  size_t total = w[0] + w[1] + w[2] + w[3] + w[4] + w[5] + 10;
  std::string rule(total, '-');
  std::string out = g.name + (g.title.empty() ? "" : " — " + g.title) + "\n" + rule + "\n" + line(head) + rule + "\n";
  for (const auto& r : rows) out += line(r);
  out += rule + "\n";

  double input_floats = 1, activations = 0;  // printed in MB; as doubles no shape overflows them
  for (auto d : g.input) input_floats *= d;
  for_each_leaf(g.nodes, [&](const Node& n, const std::string&) {
    double size = 1;
    for (auto d : n.out) size *= d;
    activations += size;
  });
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "Total params: %s (%s)\nMACs per example: %s\n"
                "Max channels: %lld (%s)\n"
                "Per example, fp32: input %.2f MB, activations %.2f MB, params %.2f MB\n",
                commas(g.params).c_str(), millions(g.params).c_str(), commas(g.macs).c_str(),
                static_cast<long long>(g.widest), g.widest_node.c_str(), input_floats * 4 / 1e6, activations * 4 / 1e6,
                g.params * 4 / 1e6);
  return out + buf;
}

std::string ops_catalogue(const Registry& r) {
  std::string out;
  for (const auto& [name, op] : r.all()) {
    out += name + "  [" + std::string(op_kind_name(op.kind)) + "]  " + op.doc + "\n";
    if (op.min_inputs != 1 || op.max_inputs != 1)
      out +=
          "    inputs: " + std::to_string(op.min_inputs) + (op.max_inputs < 0 ? " or more" : "") + " (from = [...])\n";
    for (const auto& k : op.params) {
      std::string d = k.def ? k.def->repr() : "required";
      std::string choices;
      for (const auto& c : k.choices) choices += (choices.empty() ? " (" : " | ") + c;
      if (!choices.empty()) choices += ")";
      out += "    " + pad(k.name, 16) + pad(type_name(k.type), 14) + pad(d, 12) + k.doc + choices + "\n";
    }
  }
  return out;
}

}  // namespace engine
