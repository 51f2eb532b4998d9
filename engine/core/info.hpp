#pragma once
// Human-readable views of a validated graph: the `engine check` line, the per-node table
// (Darknet's layer table / torchinfo), and the op catalogue of `engine ops`.
#include <string>

#include "engine/core/graph.hpp"

namespace engine {

class Registry;

std::string check_line(const Graph& g);
std::string layer_table(const Graph& g);  // name | op | args | output | params | MACs, then totals
std::string ops_catalogue(const Registry& r);
std::string node_label(const Node& n);  // the op's key parameters, or ""

}  // namespace engine
