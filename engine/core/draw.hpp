#pragma once
// `engine draw`: the graph through Graphviz (cgraph + gvc, in process). One box per node with
// op, key parameters, output shape and parameters, coloured by kind; resnet_stages as one
// cluster per stage with its blocks collapsed unless `expand`.
#include <filesystem>

#include "engine/core/graph.hpp"

namespace engine {

// The format follows the extension: .svg, .png, .pdf or .dot.
void draw_graph(const Graph& g, const std::filesystem::path& out, bool expand);

}  // namespace engine
