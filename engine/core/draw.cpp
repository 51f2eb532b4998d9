#include "engine/core/draw.hpp"

#ifdef ENGINE_HAVE_GRAPHVIZ
#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>
#endif

#include <map>

#include "engine/core/info.hpp"
#include "engine/core/registry.hpp"

namespace engine {

#ifdef ENGINE_HAVE_GRAPHVIZ
namespace {
const char* fill_of(OpKind kind) {
  switch (kind) {
    case OpKind::Conv:
      return "#9ecae1";
    case OpKind::Norm:
      return "#fdd49e";
    case OpKind::Act:
      return "#c7e9c0";
    case OpKind::Pool:
      return "#fcbba1";
    case OpKind::Linear:
      return "#dadaeb";
    case OpKind::Merge:
      return "#e0e0e0";
    case OpKind::Reshape:
      return "#f7f7f7";
    case OpKind::Block:
      return "#c6dbef";
    case OpKind::Stages:
      return "#ffffff";
  }
  return "#ffffff";
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
      if (n.def->kind == OpKind::Stages) {
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

  // One cluster per stage: the expansion nests each block in its stage's container
  // ("layer2.1" is block 1 of layer2), so the container is the cluster.
  Agnode_t* stages(Agraph_t* g, const Node& n, std::vector<Agnode_t*> ins) {
    std::map<std::string, Agraph_t*> clusters;
    std::map<std::string, size_t> count;
    for (const auto& block : n.children) ++count[container_of(block.name)];
    for (const auto& block : n.children) {
      std::string stage = container_of(block.name);
      Agraph_t*& c = clusters[stage];
      if (!c) {
        c = agsubg(g, const_cast<char*>(("cluster_" + stage).c_str()), 1);
        set(c, "label",
            stage + ": " + std::to_string(count[stage]) + " x " + block.op + ", " + std::to_string(block.out[0]) +
                " ch");
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

  // One context per process: Graphviz 2.42's pango plugin keeps a pointer to the last font name,
  // which belongs to its context; freeing the context left it dangling for the next drawing.
  static GVC_t* gvc = gvContext();
  Agraph_t* g = agopen(const_cast<char*>("G"), Agdirected, nullptr);
  set(g, "label",
      graph.name + (graph.title.empty() ? "" : " — " + graph.title) + "\\n" + commas(graph.params) + " parameters, " +
          commas(graph.macs) + " MACs");
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
  if (rc != 0) throw std::runtime_error("graphviz could not render " + out.string() + " (format " + format + ")");
}

#else
// Lean builds (GPU hosts) may lack Graphviz: drawing is then the only thing missing.
void draw_graph(const Graph&, const std::filesystem::path& out, bool) {
  throw UserError(out.string() + ": this engine was built without Graphviz (libgraphviz-dev), so it cannot draw");
}
#endif

}  // namespace engine
