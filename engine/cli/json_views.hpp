#pragma once
// The --json output of check, info, ops and config: one object per command line, keys in a
// fixed (sorted) order, written by toml++'s JSON formatter. docs/cli.md lists the keys.
#include <optional>
#include <string>
#include <vector>

namespace engine {

struct Graph;
struct Value;
class Registry;

// One file of `engine check`: a graph, a study, or the error that stopped it.
struct Checked {
  std::string file;
  const Graph* graph = nullptr;  // set for a graph that checked out
  std::optional<size_t> study_stages, study_graphs;
  std::string error;  // set when it failed
};

std::string check_json(const std::vector<Checked>& files);
// `model` per graph: what `engine info` prints as print(model).
std::string info_json(const std::vector<const Graph*>& graphs, const std::vector<std::string>& models);
std::string ops_json(const Registry& registry);
std::string config_json(const Value& completed_spec);

}  // namespace engine
