#include "engine/draw.hpp"

#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>

#include <map>

#include "engine/info.hpp"
#include "engine/registry.hpp"

namespace engine {

namespace {
const char* fill_of(const std::string& kind) {
  static const std::map<std::string, const char*> colours{
      {"conv", "#9ecae1"}, {"norm", "#fdd49e"}, {"act", "#c7e9c0"}, {"pool", "#fcbba1"}, {"linear", "#dadaeb"},
      {"merge", "#e0e0e0"}, {"reshape", "#f7f7f7"}, {"block", "#c6dbef"}, {"stages", "#ffffff"}};
  auto it = colours.find(kind);
  return it == colours.end() ? "#ffffff" : it->second;
}

// cgraph takes char*; it copies what it keeps.
void set(void* obj, const char* key, const std::string& value) {
  agsafeset(obj, const_cast<char*>(key), const_cast<char*>(value.c_str()), const_cast<char*>(""));
}

class Drawer {
 public:
  Drawer(Agraph_t* root, bool expand) : root_(root), expand_(expand) {}

  // Draws `nodes` inside `g`; `outer` holds the gv nodes feeding "input". Returns each output.
  std::vector<Agnode_t*> draw(Agraph_t* g, const std::vector<Node>& nodes, const std::string& prefix,
                              const std::vector<Agnode_t*>& outer) {
    std::vector<Agnode_t*> outs;
    for (const auto& n : nodes) {
      std::vector<Agnode_t*> ins;
      for (int in : n.inputs)
        if (in < 0)
          ins.insert(ins.end(), outer.begin(), outer.end());
        else
          ins.push_back(outs[in]);
      std::string path = prefix + n.name;
      if (n.def->kind == "stages") {
        outs.push_back(stages(g, n, ins));
      } else if (!n.children.empty() && expand_) {
        Agraph_t* c = agsubg(g, const_cast<char*>(("cluster_" + path).c_str()), 1);
        set(c, "label", path + " (" + n.op + ")");
        set(c, "style", "rounded");
        outs.push_back(draw(c, n.children, path + ".", ins).back());
      } else {
        outs.push_back(box(g, n, path, ins));
      }
    }
    return outs;
  }

 private:
  Agnode_t* box(Agraph_t* g, const Node& n, const std::string& path, const std::vector<Agnode_t*>& ins) {
    Agnode_t* v = agnode(g, const_cast<char*>(path.c_str()), 1);
    std::string label = path + "\\n" + n.op;
    if (std::string l = node_label(n); !l.empty()) label += "  " + l;
    label += "\\n" + shape_str(n.out);
    if (n.params) label += "  ·  " + commas(n.params) + " params";
    set(v, "label", label);
    set(v, "fillcolor", fill_of(n.def->kind));
    for (Agnode_t* in : ins) agedge(root_, in, v, nullptr, 1);
    return v;
  }

  // One cluster per stage (layer1, layer2, …): its blocks in a column.
  Agnode_t* stages(Agraph_t* g, const Node& n, std::vector<Agnode_t*> ins) {
    std::map<std::string, Agraph_t*> clusters;
    std::vector<int64_t> widths = n.ints("widths");
    for (const auto& block : n.children) {
      std::string stage = block.name.substr(0, block.name.find('.'));
      Agraph_t*& c = clusters[stage];
      if (!c) {
        c = agsubg(g, const_cast<char*>(("cluster_" + stage).c_str()), 1);
        size_t s = std::stoul(stage.substr(5)) - 1;
        size_t count = 0;
        for (const auto& b : n.children) count += b.name.rfind(stage + ".", 0) == 0;
        set(c, "label", stage + ": " + std::to_string(count) + " x " + block.op + ", " + std::to_string(widths[s]) + " ch");
        set(c, "style", "rounded,filled");
        set(c, "fillcolor", "#f4f8fb");
      }
      if (expand_) {
        Agraph_t* bc = agsubg(c, const_cast<char*>(("cluster_" + block.name).c_str()), 1);
        set(bc, "label", block.name);
        set(bc, "style", "rounded");
        set(bc, "fillcolor", "#ffffff");
        ins = {draw(bc, block.children, block.name + ".", ins).back()};
      } else {
        ins = {box(c, block, block.name, ins)};
      }
    }
    return ins.back();
  }

  Agraph_t* root_;
  bool expand_;
};
}  // namespace

void draw_graph(const Graph& graph, const std::filesystem::path& out, bool expand) {
  std::string format = out.extension().string();
  if (!format.empty()) format = format.substr(1);
  if (format != "svg" && format != "png" && format != "pdf" && format != "dot")
    throw UserError(out.string() + ": unknown drawing format '" + format + "' (use .svg, .png, .pdf or .dot)");
  if (!out.parent_path().empty()) std::filesystem::create_directories(out.parent_path());

  GVC_t* gvc = gvContext();
  Agraph_t* g = agopen(const_cast<char*>("G"), Agdirected, nullptr);
  set(g, "label", graph.name + (graph.title.empty() ? "" : " — " + graph.title) + "\\n" + commas(graph.params) +
                      " parameters, " + commas(graph.macs) + " MACs");
  set(g, "labelloc", "t");
  set(g, "fontname", "Helvetica");
  set(g, "nodesep", "0.25");
  set(g, "ranksep", "0.3");
  agattr(g, AGNODE, const_cast<char*>("shape"), const_cast<char*>("box"));
  agattr(g, AGNODE, const_cast<char*>("style"), const_cast<char*>("rounded,filled"));
  agattr(g, AGNODE, const_cast<char*>("fontname"), const_cast<char*>("Helvetica"));
  agattr(g, AGNODE, const_cast<char*>("fontsize"), const_cast<char*>("10"));

  Agnode_t* input = agnode(g, const_cast<char*>("input"), 1);
  set(input, "label", "input\\n" + shape_str(graph.input));
  set(input, "shape", "oval");
  set(input, "fillcolor", "#ffffff");
  Drawer(g, expand).draw(g, graph.nodes, "", {input});

  int rc = gvLayout(gvc, g, "dot");
  if (rc == 0) rc = gvRenderFilename(gvc, g, format.c_str(), out.string().c_str());
  gvFreeLayout(gvc, g);
  agclose(g);
  gvFreeContext(gvc);
  if (rc != 0) throw std::runtime_error("graphviz could not render " + out.string() + " (format " + format + ")");
}

}  // namespace engine
