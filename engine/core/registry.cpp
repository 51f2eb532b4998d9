#include "engine/core/registry.hpp"

namespace engine {

const char* op_kind_name(OpKind k) {
  switch (k) {
    case OpKind::Conv:
      return "conv";
    case OpKind::Norm:
      return "norm";
    case OpKind::Act:
      return "act";
    case OpKind::Pool:
      return "pool";
    case OpKind::Linear:
      return "linear";
    case OpKind::Merge:
      return "merge";
    case OpKind::Reshape:
      return "reshape";
    case OpKind::Block:
      return "block";
    case OpKind::Stages:
      return "stages";
  }
  return "?";
}

void Registry::add(OpDef op) {
  std::string name = op.name;
  if (!ops_.emplace(name, std::move(op)).second) throw std::logic_error("op '" + name + "' registered twice");
}

const OpDef* Registry::find(const std::string& name) const {
  auto it = ops_.find(name);
  return it == ops_.end() ? nullptr : &it->second;
}

const OpDef& Registry::at(const std::string& name, const Loc& loc) const {
  if (const OpDef* op = find(name)) return *op;
  std::string list;
  for (const auto& [k, v] : ops_) list += (list.empty() ? "" : ", ") + k;
  throw SpecError(loc, "unknown op '" + name + "'" + did_you_mean(name, names()) + " (known ops: " + list + ")");
}

std::vector<std::string> Registry::names() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : ops_) out.push_back(k);
  return out;
}

std::vector<std::string> Registry::names_of_kind(OpKind kind) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : ops_)
    if (v.kind == kind) out.push_back(k);
  return out;
}

const Registry& default_registry() {
  static const Registry r = [] {
    Registry x;
    register_all_ops(x);
    return x;
  }();
  return r;
}

}  // namespace engine
