#include "engine/nn/model.hpp"

#include <set>
#include <sstream>

#include "engine/core/registry.hpp"
#include "engine/nn/runner/run.hpp"

namespace engine {

void ChainImpl::add(const std::string& name, Built b) {
  if (b.module) register_module(name, b.module);
  steps_.push_back(std::move(b.forward));
}

torch::Tensor ChainImpl::forward(torch::Tensor x) {
  std::vector<torch::Tensor> io{std::move(x)};
  for (auto& step : steps_) io[0] = step(io);
  return io[0];
}

GraphModuleImpl::GraphModuleImpl(const std::vector<Node>& nodes, std::string print_name, const KernelSettings& kernels)
    : print_name_(std::move(print_name)) {
  std::vector<int> last_read(nodes.size(), -1);
  for (size_t k = 0; k < nodes.size(); ++k) {
    const Node& n = nodes[k];
    for (int in : n.inputs)
      if (in >= 0) last_read[in] = static_cast<int>(k);
    if (n.inputs.size() != 1 || n.inputs[0] != static_cast<int>(k) - 1) chain_ = false;

    Built b = build_node(n, kernels);
    if (b.module && n.def->splice) {
      for (const auto& item : b.module->named_children()) register_module(item.key(), item.value());
    } else if (b.module) {
      register_node(n.name, b.module);
    }
    steps_.push_back(Step{n.inputs, std::move(b.forward), {}});
  }
  for (size_t k = 0; k + 1 < nodes.size(); ++k)
    if (last_read[k] >= 0) steps_[last_read[k]].release.push_back(static_cast<int>(k));
  // The pool reads what the activation read; the activation, now step k + 1, reads the pool.
  // Readers and releases stay as they were: only step k + 1 ever read step k's output.
  for (size_t k = 0; kernels.ours && k + 1 < nodes.size(); ++k)
    if (pool_runs_first(nodes, k)) std::swap(steps_[k].forward, steps_[k + 1].forward), ++k;
}

bool pool_runs_first(const std::vector<Node>& nodes, size_t k) {
  static const std::set<std::string> non_decreasing{"relu", "leaky_relu", "elu"};
  if (k + 1 >= nodes.size() || !non_decreasing.count(nodes[k].op) || nodes[k + 1].op != "maxpool2d" ||
      nodes[k + 1].inputs != std::vector<int>{static_cast<int>(k)} || nodes[k].inputs.size() != 1)
    return false;
  // ELU with alpha < 0 (the registry allows alpha >= 0; 0 is ReLU) would not be monotone.
  if (nodes[k].op == "elu" && nodes[k].f("alpha") < 0) return false;
  for (size_t j = 0; j < nodes.size(); ++j)
    for (int in : nodes[j].inputs)
      if (in == static_cast<int>(k) && j != k + 1) return false;  // another reader needs f(x) itself
  return true;
}

void GraphModuleImpl::register_node(const std::string& name, std::shared_ptr<torch::nn::Module> module) {
  std::string container = container_of(name);
  if (container.empty()) {
    register_module(name, std::move(module));
    return;
  }
  // Containers only group modules for naming; the steps call the modules themselves.
  torch::nn::Module* parent = this;
  size_t start = 0;
  for (size_t dot = name.find('.'); dot != std::string::npos; dot = name.find('.', start)) {
    std::string part = name.substr(start, dot - start);
    auto children = parent->named_children();
    if (!children.contains(part)) parent->register_module(part, Chain());
    parent = parent->named_children()[part].get();
    start = dot + 1;
  }
  parent->register_module(name.substr(start), std::move(module));
}

torch::Tensor GraphModuleImpl::forward(torch::Tensor x) {
  if (chain_) {
    std::vector<torch::Tensor> io{std::move(x)};
    for (auto& s : steps_) io[0] = s.forward(io);
    return io[0];
  }
  std::vector<torch::Tensor> outs(steps_.size());
  std::vector<torch::Tensor> args;
  for (size_t k = 0; k < steps_.size(); ++k) {
    Step& s = steps_[k];
    args.clear();
    for (int in : s.inputs) args.push_back(in < 0 ? x : outs[in]);
    outs[k] = s.forward(args);
    for (int r : s.release) outs[r] = torch::Tensor();  // free activations early
  }
  return outs.back();
}

Built build_node(const Node& n, const KernelSettings& kernels) {
  const auto& builders = op_builders();
  if (auto it = builders.find(n.op); it != builders.end()) return it->second(n, kernels);
  if (!n.children.empty())
    return built(GraphModule(n.children, n.def->module_name.empty() ? n.op : n.def->module_name, kernels));
  throw std::logic_error("op '" + n.op + "' has neither a builder (engine/nn/builders.cpp) nor an expansion");
}

GraphModule build_model(const Graph& g, const KernelSettings& kernels) {
  return GraphModule(g.nodes, "GraphModule<" + g.name + ">", kernels);
}

std::string model_text(const torch::nn::Module& m) {
  std::ostringstream ss;
  ss << m;
  return ss.str();
}

std::string printed_model(const Graph& g) { return model_text(*build_model(g)); }

int64_t count_parameters(const torch::nn::Module& m) {
  int64_t total = 0;
  for (const auto& p : m.parameters()) total += p.numel();
  return total;
}

}  // namespace engine
