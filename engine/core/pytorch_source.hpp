#pragma once
// `engine export --to pytorch`, the torch-free half: model.py, a readable PyTorch nn.Module
// generated from the validated graph, and classes.json. Module names equal the engine's
// (composites nest as GraphModule nests them: layer1.0.conv1, layer2.0.downsample.0), so the
// state_dict the torch layer writes (weights.pt) loads into it with strict=True.
#include <string>

#include "engine/core/graph.hpp"
#include "engine/core/run_dir.hpp"

namespace engine {

// model.py for graph `g`: one class per distinct composite body (BasicBlock_64_128_s2, ...),
// then `Model`; straight chains read `x = self.conv1(x)`, other graphs get a forward with one
// named tensor per node. Also MEAN, STD, INPUT_SHAPE, load(), classes() and export_onnx().
// `origin` says where it came from (a run directory), for the docstring.
std::string pytorch_source(const Graph& g, const RunData& data, const std::string& origin);

// [{"wnid": ..., "name": ...}, ...] in label order.
std::string classes_json(const RunData& data);

// True when the exporter knows the op's torch.nn counterpart (leaf ops; composites are expanded).
bool has_pytorch_counterpart(const std::string& op);

// A JSON string literal (also a valid Python string literal).
std::string json_quote(const std::string& s);

}  // namespace engine
