#include "engine/core/pytorch_source.hpp"

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <set>

#include "engine/core/registry.hpp"
#include "registry/ops.hpp"

namespace engine {

namespace {
std::string num(int64_t v) { return std::to_string(v); }
std::string real(double v) { return Value::of_float(v).repr(); }  // shortest round-trip: a Python float literal

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (const auto& p : parts) {
    if (p.empty()) continue;
    out += (out.empty() ? "" : sep) + p;
  }
  return out;
}

bool is_identifier(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

const std::set<std::string>& python_keywords() {
  static const std::set<std::string> words{"False",  "None",   "True",    "and",      "as",       "assert", "async",
                                           "await",  "break",  "class",   "continue", "def",      "del",    "elif",
                                           "else",   "except", "finally", "for",      "from",     "global", "if",
                                           "import", "in",     "is",      "lambda",   "nonlocal", "not",    "or",
                                           "pass",   "raise",  "return",  "try",      "while",    "with",   "yield"};
  return words;
}

// Attributes of nn.Module and nn.Sequential (PyTorch 1.13): a child named like one of them is
// reached through _modules, since attribute lookup finds the method first.
const std::set<std::string>& module_attributes() {
  static const std::set<std::string> names{"T_destination",
                                           "add_module",
                                           "append",
                                           "apply",
                                           "bfloat16",
                                           "buffers",
                                           "children",
                                           "cpu",
                                           "cuda",
                                           "double",
                                           "dump_patches",
                                           "eval",
                                           "extend",
                                           "extra_repr",
                                           "float",
                                           "forward",
                                           "get_buffer",
                                           "get_extra_state",
                                           "get_parameter",
                                           "get_submodule",
                                           "half",
                                           "insert",
                                           "ipu",
                                           "load_state_dict",
                                           "modules",
                                           "named_buffers",
                                           "named_children",
                                           "named_modules",
                                           "named_parameters",
                                           "parameters",
                                           "pop",
                                           "register_backward_hook",
                                           "register_buffer",
                                           "register_forward_hook",
                                           "register_forward_pre_hook",
                                           "register_full_backward_hook",
                                           "register_load_state_dict_post_hook",
                                           "register_module",
                                           "register_parameter",
                                           "requires_grad_",
                                           "set_extra_state",
                                           "share_memory",
                                           "state_dict",
                                           "to",
                                           "to_empty",
                                           "train",
                                           "training",
                                           "type",
                                           "xpu",
                                           "zero_grad"};
  return names;
}

bool plain_attribute(const std::string& s) {
  return is_identifier(s) && s[0] != '_' && !python_keywords().count(s) && !module_attributes().count(s);
}

// How a leaf op reads in PyTorch: the module it registers, or (stateless ops) an expression.
struct PyOp {
  std::function<std::string(const Node&)> module;
  std::function<std::string(const Node&, const std::vector<std::string>&)> call;
};

// As engine/nn/builders.cpp decides it: in place only when asked for and nothing else reads the input.
std::string inplace_arg(const Node& n) { return n.b("inplace") && !n.input_shared ? "inplace=True" : ""; }

std::string pool(const std::string& cls, const Node& n) {
  int64_t kernel = n.i("kernel"), stride = pool_stride(n), padding = n.i("padding");
  return cls + "(" +
         join({"kernel_size=" + num(kernel), stride != kernel ? "stride=" + num(stride) : "",
               padding ? "padding=" + num(padding) : ""},
              ", ") +
         ")";
}

const std::map<std::string, PyOp>& python_ops() {
  static const std::map<std::string, PyOp> ops{
      {"conv2d",
       {[](const Node& n) {
          return "nn.Conv2d(" +
                 join({num(n.in()[0]), num(n.i("out")), "kernel_size=" + num(n.i("kernel")),
                       n.i("stride") != 1 ? "stride=" + num(n.i("stride")) : "",
                       n.i("padding") ? "padding=" + num(n.i("padding")) : "",
                       n.i("dilation") != 1 ? "dilation=" + num(n.i("dilation")) : "",
                       n.i("groups") != 1 ? "groups=" + num(n.i("groups")) : "", n.b("bias") ? "" : "bias=False"},
                      ", ") +
                 ")";
        },
        nullptr}},
      {"batchnorm2d",
       {[](const Node& n) {
          return "nn.BatchNorm2d(" +
                 join({num(n.in()[0]), n.f("eps") != 1e-5 ? "eps=" + real(n.f("eps")) : "",
                       n.f("momentum") != 0.1 ? "momentum=" + real(n.f("momentum")) : ""},
                      ", ") +
                 ")";
        },
        nullptr}},
      {"relu", {[](const Node& n) { return "nn.ReLU(" + inplace_arg(n) + ")"; }, nullptr}},
      {"leaky_relu",
       {[](const Node& n) {
          double slope = n.f("negative_slope");
          return "nn.LeakyReLU(" + join({slope != 0.01 ? real(slope) : "", inplace_arg(n)}, ", ") + ")";
        },
        nullptr}},
      {"elu",
       {[](const Node& n) {
          double alpha = n.f("alpha");
          return "nn.ELU(" + join({alpha != 1.0 ? "alpha=" + real(alpha) : "", inplace_arg(n)}, ", ") + ")";
        },
        nullptr}},
      {"gelu",
       {[](const Node& n) {
          return n.s("approximate") == "none" ? std::string("nn.GELU()")
                                              : "nn.GELU(approximate=" + json_quote(n.s("approximate")) + ")";
        },
        nullptr}},
      {"identity", {[](const Node&) { return std::string("nn.Identity()"); }, nullptr}},
      {"maxpool2d", {[](const Node& n) { return pool("nn.MaxPool2d", n); }, nullptr}},
      {"avgpool2d", {[](const Node& n) { return pool("nn.AvgPool2d", n); }, nullptr}},
      {"adaptive_avgpool2d",
       {[](const Node& n) { return "nn.AdaptiveAvgPool2d((" + num(n.i("size")) + ", " + num(n.i("size")) + "))"; },
        nullptr}},
      {"flatten", {[](const Node&) { return std::string("nn.Flatten()"); }, nullptr}},
      {"dropout", {[](const Node& n) { return "nn.Dropout(p=" + real(n.f("p")) + ")"; }, nullptr}},
      {"linear",
       {[](const Node& n) {
          return "nn.Linear(" + join({num(n.in()[0]), num(n.i("out")), n.b("bias") ? "" : "bias=False"}, ", ") + ")";
        },
        nullptr}},
      {"add", {nullptr, [](const Node&, const std::vector<std::string>& in) { return join(in, " + "); }}},
      {"concat",
       {nullptr,
        [](const Node& n, const std::vector<std::string>& in) {
          return "torch.cat([" + join(in, ", ") + "], dim=" + num(n.i("dim") + 1) + ")";  // past the batch dimension
        }}},
  };
  return ops;
}

const PyOp& python_op(const Node& n) {
  auto it = python_ops().find(n.op);
  if (it == python_ops().end())
    throw UserError("op '" + n.op + "' (node " + n.name +
                    ") has no PyTorch counterpart in the exporter; add one to engine/core/export.cpp");
  return it->second;
}

// One node of a module: a leaf or a composite; inputs index the module's items, -1 is x.
struct Item {
  const Node* node;
  std::vector<int> inputs;
};

// The nodes one module holds. A spliced composite's children are inlined, inputs remapped:
// GraphModule registers their modules in the parent (resnet_stages → layer1..layerN).
std::vector<Item> items_of(const std::vector<Node>& nodes) {
  std::vector<Item> items;
  std::vector<int> at(nodes.size());
  for (size_t k = 0; k < nodes.size(); ++k) {
    const Node& n = nodes[k];
    std::vector<int> in;
    for (int i : n.inputs) in.push_back(i < 0 ? -1 : at[i]);
    if (n.def && n.def->splice && !n.children.empty()) {
      int base = static_cast<int>(items.size());
      for (Item c : items_of(n.children)) {
        for (int& i : c.inputs) i = i < 0 ? in.at(0) : base + i;
        items.push_back(std::move(c));
      }
    } else {
      items.push_back({&n, std::move(in)});
    }
    at[k] = static_cast<int>(items.size()) - 1;
  }
  return items;
}

// A registered child: a module, or a container that only groups modules for naming (a dotted
// node name, as GraphModule nests it). Containers become nn.Sequential.
struct Member {
  std::string name;
  std::string expr;  // empty for a container
  std::vector<Member> children;
  bool indexed() const {  // children 0..n-1 in order: nn.Sequential(a, b), reached as [k]
    for (size_t k = 0; k < children.size(); ++k)
      if (children[k].name != std::to_string(k)) return false;
    return true;
  }
};

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t dot = path.find('.'); dot != std::string::npos; dot = path.find('.', start)) {
    parts.push_back(path.substr(start, dot - start));
    start = dot + 1;
  }
  parts.push_back(path.substr(start));
  return parts;
}

void add_member(std::vector<Member>& members, const std::string& path, const std::string& expr) {
  std::vector<Member>* level = &members;
  std::vector<std::string> parts = split_path(path);
  for (size_t k = 0; k + 1 < parts.size(); ++k) {
    auto it = std::find_if(level->begin(), level->end(), [&](const Member& m) { return m.name == parts[k]; });
    if (it == level->end()) {
      level->push_back(Member{parts[k], "", {}});
      it = level->end() - 1;
    }
    level = &it->children;
  }
  level->push_back(Member{parts.back(), expr, {}});
}

const Member* find_member(const std::vector<Member>& level, const std::string& name) {
  for (const auto& m : level)
    if (m.name == name) return &m;
  return nullptr;
}

std::string expression(const Member& m, size_t indent, bool& ordered_dict) {
  if (!m.expr.empty()) return m.expr;
  std::string pad(indent + 4, ' '), s;
  if (m.indexed()) {
    s = "nn.Sequential(\n";
    for (const auto& c : m.children) s += pad + expression(c, indent + 4, ordered_dict) + ",\n";
    return s + std::string(indent, ' ') + ")";
  }
  ordered_dict = true;
  s = "nn.Sequential(OrderedDict([\n";
  for (const auto& c : m.children)
    s += pad + "(" + json_quote(c.name) + ", " + expression(c, indent + 4, ordered_dict) + "),\n";
  return s + std::string(indent, ' ') + "]))";
}

std::string reference(const std::vector<Member>& members, const std::string& path) {
  std::string ref = "self";
  const std::vector<Member>* level = &members;
  const Member* parent = nullptr;
  for (const auto& part : split_path(path)) {
    auto it = std::find_if(level->begin(), level->end(), [&](const Member& m) { return m.name == part; });
    if (parent && parent->indexed())
      ref += "[" + std::to_string(it - level->begin()) + "]";
    else if (plain_attribute(part))
      ref += "." + part;
    else
      ref += "._modules[" + json_quote(part) + "]";
    parent = &*it;
    level = &parent->children;
  }
  return ref;
}

std::string camel(const std::string& op) {
  std::string out;
  bool up = true;
  for (char c : op) {
    if (c == '_') {
      up = true;
      continue;
    }
    out += up ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    up = false;
  }
  return out;
}

// "BasicBlock_64", "BasicBlock_64_128_s2": the composite's class and what it maps.
std::string class_base(const Node& n) {
  std::string base = n.def && !n.def->module_name.empty() ? n.def->module_name : camel(n.op);
  if (!is_identifier(base)) base = "Block";
  const Shape &in = n.in(), &out = n.out;
  base += "_" + num(in[0]);
  if (out[0] != in[0]) base += "_" + num(out[0]);
  if (in.size() == 3 && out.size() == 3 && out[1] > 0 && in[1] % out[1] == 0 && in[1] / out[1] > 1)
    base += "_s" + num(in[1] / out[1]);
  return base;
}

std::string variable(const std::string& name, std::set<std::string>& used) {
  std::string v;
  for (char c : name) v += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  if (v.empty() || std::isdigit(static_cast<unsigned char>(v[0]))) v = "_" + v;
  // The input, the module's own names, and builtins a reader would not want shadowed.
  static const std::set<std::string> taken{"x",   "self", "torch", "nn",   "OrderedDict", "sum",   "input", "max",
                                           "min", "abs",  "len",   "list", "type",        "range", "map",   "id",
                                           "all", "any",  "round", "pow",  "iter",        "next",  "zip",   "print"};
  if (python_keywords().count(v) || taken.count(v)) v += "_";
  std::string unique = v;
  for (int k = 2; used.count(unique); ++k) unique = v + "_" + std::to_string(k);
  used.insert(unique);
  return unique;
}

struct Classes {
  bool ordered_dict = false;                   // a container with named children needs the import
  std::string text;                            // definitions so far, dependencies first
  std::map<std::string, std::string> by_body;  // identical bodies share one class
  std::set<std::string> names{"Model"};
};

std::string class_for(const std::vector<Node>& nodes, const std::string& base, Classes& out, bool top) {
  std::vector<Item> items = items_of(nodes);
  std::vector<Member> members;
  std::vector<bool> has_module(items.size(), false);
  for (size_t k = 0; k < items.size(); ++k) {
    const Node& n = *items[k].node;
    std::string expr = !n.children.empty()   ? class_for(n.children, class_base(n), out, false) + "()"
                       : python_op(n).module ? python_op(n).module(n)
                                             : "";
    if (expr.empty()) continue;
    add_member(members, n.name, expr);
    has_module[k] = true;
  }
  auto call = [&](size_t k, const std::vector<std::string>& args) {
    const Node& n = *items[k].node;
    return has_module[k] ? reference(members, n.name) + "(" + args.at(0) + ")" : python_op(n).call(n, args);
  };

  bool chain = true;
  for (size_t k = 0; k < items.size(); ++k)
    if (items[k].inputs != std::vector<int>{static_cast<int>(k) - 1}) chain = false;
  std::string forward;
  const std::string indent(8, ' ');
  if (chain) {  // one tensor, reassigned; a container whose children run back to back is one call
    for (size_t k = 0; k < items.size();) {
      const std::string& name = items[k].node->name;
      std::string head = name.substr(0, name.find('.'));
      const Member* c = head != name ? find_member(members, head) : nullptr;
      bool whole = c && c->children.size() <= items.size() - k;
      for (size_t j = 0; whole && j < c->children.size(); ++j)
        whole = !c->children[j].expr.empty() && has_module[k + j] &&
                items[k + j].node->name == head + "." + c->children[j].name;
      if (whole) {
        forward += indent + "x = " + reference(members, head) + "(x)\n";
        k += c->children.size();
        continue;
      }
      forward += indent + "x = " + call(k, {"x"}) + "\n";
      ++k;
    }
    forward += indent + "return x\n";
  } else {  // one named tensor per node
    std::set<std::string> used;
    std::vector<std::string> var;
    for (size_t k = 0; k < items.size(); ++k) {
      std::vector<std::string> args;
      for (int i : items[k].inputs) args.push_back(i < 0 ? "x" : var[i]);
      var.push_back(variable(items[k].node->name, used));
      forward += indent + var.back() + " = " + call(k, args) + "\n";
    }
    forward += indent + "return " + var.back() + "\n";
  }

  std::string body = "    def __init__(self):\n" + indent + "super().__init__()\n";
  for (const auto& m : members)
    body += indent + (plain_attribute(m.name) ? "self." + m.name : "self._modules[" + json_quote(m.name) + "]") +
            " = " + expression(m, indent.size(), out.ordered_dict) + "\n";
  body += "\n    def forward(self, x):\n" + forward;
  if (!top)
    if (auto it = out.by_body.find(body); it != out.by_body.end()) return it->second;
  std::string name = top ? "Model" : base;
  for (int k = 2; !top && out.names.count(name); ++k) name = base + "_v" + std::to_string(k);
  out.names.insert(name);
  out.by_body[body] = name;
  out.text += "class " + name + "(nn.Module):\n" + body + "\n\n";
  return name;
}

// Text inside a """docstring""".
std::string doc_text(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '\\' ? "\\\\" : c == '"' ? "\\\"" : std::string(1, c);
  return out;
}

std::string tuple(const std::vector<int64_t>& v) {
  std::vector<std::string> parts;
  for (int64_t x : v) parts.push_back(num(x));
  return "(" + join(parts, ", ") + (v.size() == 1 ? ",)" : ")");
}

std::string tuple(const std::vector<double>& v) {
  std::vector<std::string> parts;
  for (double x : v) parts.push_back(real(x));
  return "(" + join(parts, ", ") + (v.size() == 1 ? ",)" : ")");
}
}  // namespace

// TOML's basic strings escape as JSON (and Python) string literals do.
std::string json_quote(const std::string& s) { return toml_quote(s); }

bool has_pytorch_counterpart(const std::string& op) { return python_ops().count(op) > 0; }

std::string classes_json(const RunData& data) {
  std::string out = "[\n";
  for (size_t k = 0; k < data.wnids.size(); ++k)
    out += "  {\"wnid\": " + json_quote(data.wnids[k]) + ", \"name\": " + json_quote(data.names.at(k)) + "}" +
           (k + 1 < data.wnids.size() ? ",\n" : "\n");
  return out + "]\n";
}

std::string pytorch_source(const Graph& g, const RunData& data, const std::string& origin) {
  Classes classes;
  class_for(g.nodes, "Model", classes, true);
  std::string shape;
  for (int64_t d : g.input) shape += " x " + num(d);
  std::string head = "\"\"\"" + doc_text(g.name) + (g.title.empty() ? "" : ": " + doc_text(g.title)) +
                     ".\n\nExported by engine " + ENGINE_VERSION + " from " + doc_text(origin) +
                     ".\nGenerated from the validated graph: the module names are the engine's, so weights.pt\n"
                     "(a plain state_dict) loads with strict=True.\n\n"
                     "Input: float32 N" +
                     shape + (g.input.size() == 3 && g.input[0] == 1 ? ", grey" : ", RGB") +
                     " scaled to [0, 1] (the engine resizes other sizes with\n"
                     "cv2.INTER_AREA), then normalised per channel: (x - MEAN) / STD.\n\n"
                     "    import model\n"
                     "    net = model.load()                 # Model with weights.pt, in eval mode\n"
                     "    probabilities = net(x).softmax(1)  # columns in the order of model.classes()\n\n"
                     "python3 model.py --onnx model.onnx writes the model as ONNX and checks it.\n\"\"\"\n"
                     "import json\n"
                     "import os\n" +
                     (classes.ordered_dict ? "from collections import OrderedDict\n" : "") +
                     "\n"
                     "import torch\n"
                     "from torch import nn\n\n"
                     "HERE = os.path.dirname(os.path.abspath(__file__))\n"
                     "INPUT_SHAPE = " +
                     tuple(g.input) +
                     "\n"
                     "MEAN = " +
                     tuple(data.mean) +
                     "\n"
                     "STD = " +
                     tuple(data.std) + "\n\n\n";
  std::string tail =
      "def load(directory=HERE):\n"
      "    \"\"\"Model() with directory/weights.pt loaded (every key must match), in eval mode.\"\"\"\n"
      "    model = Model()\n"
      "    model.load_state_dict(torch.load(os.path.join(directory, \"weights.pt\"), map_location=\"cpu\"))\n"
      "    return model.eval()\n\n\n"
      "def classes(directory=HERE):\n"
      "    \"\"\"[{\"wnid\": ..., \"name\": ...}, ...] in label order (directory/classes.json).\"\"\"\n"
      "    with open(os.path.join(directory, \"classes.json\")) as f:\n"
      "        return json.load(f)\n\n\n"
      "def export_onnx(path, directory=HERE):\n"
      "    \"\"\"Writes the loaded model as ONNX (any batch size); checks it with onnx.checker when onnx is "
      "installed.\"\"\"\n"
      "    torch.onnx.export(load(directory), torch.zeros(1, *INPUT_SHAPE), path, input_names=[\"images\"],\n"
      "                      output_names=[\"logits\"], dynamic_axes={\"images\": {0: \"batch\"}, \"logits\": {0: "
      "\"batch\"}},\n"
      "                      opset_version=13)\n"
      "    try:\n"
      "        import onnx\n"
      "    except ImportError:\n"
      "        return \"onnx.checker skipped: no onnx module here (apt-get install python3-onnx)\"\n"
      "    onnx.checker.check_model(onnx.load(path), full_check=True)\n"
      "    return \"onnx.checker: ok\"\n\n\n"
      "if __name__ == \"__main__\":\n"
      "    import argparse\n\n"
      "    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])\n"
      "    parser.add_argument(\"--onnx\", metavar=\"PATH\", help=\"write the model as ONNX to PATH and check it\")\n"
      "    args = parser.parse_args()\n"
      "    if args.onnx:\n"
      "        checked = export_onnx(args.onnx)\n"
      "        print(f\"wrote {args.onnx}\\n{checked}\")\n"
      "    else:\n"
      "        print(load())\n";
  return head + classes.text + tail;
}

}  // namespace engine
