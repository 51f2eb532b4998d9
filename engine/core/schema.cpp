#include "engine/core/schema.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace engine {

const char* type_name(Type t) {
  switch (t) {
    case Type::Int:
      return "integer";
    case Type::Float:
      return "number";
    case Type::Bool:
      return "boolean";
    case Type::String:
      return "string";
    case Type::IntList:
      return "integer list";
    case Type::FloatList:
      return "number list";
    case Type::StringList:
      return "string list";
    case Type::Table:
      return "table";
  }
  return "?";
}

KeyDef key_int(std::string name, std::optional<int64_t> def, std::string doc, std::optional<double> min) {
  KeyDef k{std::move(name), Type::Int, std::nullopt, std::move(doc), {}, min};
  if (def) k.def = Value::of_int(*def);
  return k;
}
KeyDef key_float(std::string name, std::optional<double> def, std::string doc, std::optional<double> min) {
  KeyDef k{std::move(name), Type::Float, std::nullopt, std::move(doc), {}, min};
  if (def) k.def = Value::of_float(*def);
  return k;
}
KeyDef key_bool(std::string name, bool def, std::string doc) {
  return KeyDef{std::move(name), Type::Bool, Value::of_bool(def), std::move(doc), {}, {}};
}
KeyDef key_string(std::string name, std::optional<std::string> def, std::string doc, std::vector<std::string> choices) {
  KeyDef k{std::move(name), Type::String, std::nullopt, std::move(doc), std::move(choices), {}};
  if (def) k.def = Value::of_string(*def);
  return k;
}
KeyDef key_ints(std::string name, std::optional<std::vector<int64_t>> def, std::string doc, std::optional<double> min) {
  KeyDef k{std::move(name), Type::IntList, std::nullopt, std::move(doc), {}, min};
  if (def) {
    Value a = Value::array();
    for (auto x : *def) a.items.push_back(Value::of_int(x));
    k.def = a;
  }
  return k;
}
KeyDef key_floats(std::string name, std::optional<std::vector<double>> def, std::string doc) {
  KeyDef k{std::move(name), Type::FloatList, std::nullopt, std::move(doc), {}, {}};
  if (def) {
    Value a = Value::array();
    for (auto x : *def) a.items.push_back(Value::of_float(x));
    k.def = a;
  }
  return k;
}
KeyDef key_strings(std::string name, std::optional<std::vector<std::string>> def, std::string doc) {
  KeyDef k{std::move(name), Type::StringList, std::nullopt, std::move(doc), {}, {}};
  if (def) {
    Value a = Value::array();
    for (auto& x : *def) a.items.push_back(Value::of_string(x));
    k.def = a;
  }
  return k;
}

namespace {
std::string fmt_num(double x) {
  std::ostringstream ss;
  ss << x;
  return ss.str();
}

void check_min(const Value& v, const KeyDef& k, const std::string& what) {
  double x = v.is(Value::Kind::Int) ? static_cast<double>(v.i) : v.f;
  if (k.min && x < *k.min)
    throw SpecError(v.loc, what + " = " + v.repr() + " is too small: it must be at least " + fmt_num(*k.min));
}

// nan passes every comparison and inf any minimum; neither is a rate, a probability or a mean.
Value finite_float(const Value& v, const std::string& what) {
  double x = v.as_float(what);
  if (!std::isfinite(x)) throw SpecError(v.loc, what + " = " + v.repr() + " must be a finite number");
  return Value::of_float(x, v.loc);
}

// Type-checks one value in place (ints become floats where floats are declared).
void check_value(Value& v, const KeyDef& k, const std::string& what) {
  switch (k.type) {
    case Type::Int:
      v.as_int(what);
      check_min(v, k, what);
      break;
    case Type::Float:
      v = finite_float(v, what);
      check_min(v, k, what);
      break;
    case Type::Bool:
      v.as_bool(what);
      break;
    case Type::String:
      v.as_string(what);
      if (!k.choices.empty() && std::find(k.choices.begin(), k.choices.end(), v.s) == k.choices.end()) {
        std::string list;
        for (const auto& c : k.choices) list += (list.empty() ? "" : ", ") + c;
        throw SpecError(v.loc, what + " = \"" + v.s + "\" is not one of: " + list + did_you_mean(v.s, k.choices));
      }
      break;
    case Type::IntList:
      v.as_ints(what);
      for (auto& item : v.items) check_min(item, k, what);
      break;
    case Type::FloatList:
      v.as_floats(what);
      for (auto& item : v.items) item = finite_float(item, what);
      break;
    case Type::StringList:
      v.as_strings(what);
      break;
    case Type::Table:
      if (!v.is(Value::Kind::Table)) throw SpecError(v.loc, what + " must be a table");
      break;
  }
}
}  // namespace

void apply_schema(Value& table, const std::vector<KeyDef>& keys, const std::string& where,
                  const std::vector<std::string>& ignore) {
  std::vector<std::string> known;
  for (const auto& k : keys) known.push_back(k.name);
  for (auto& [name, v] : table.fields) {
    if (std::find(ignore.begin(), ignore.end(), name) != ignore.end()) continue;
    // Captured by name: clang before 16 cannot capture a structured binding.
    auto it = std::find_if(keys.begin(), keys.end(), [&, &name = name](const KeyDef& k) { return k.name == name; });
    if (it == keys.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      throw SpecError(v.loc, where + ": unknown key '" + name + "'" + did_you_mean(name, known) +
                                 (known.empty() ? " (it takes no keys)" : " (known keys: " + list + ")"));
    }
    check_value(v, *it, where + "." + name);
  }
  for (const auto& k : keys) {
    if (table.find(k.name)) continue;
    if (!k.def) throw SpecError(table.loc, where + ": missing required key '" + k.name + "' (" + k.doc + ")");
    Value d = *k.def;
    d.loc = table.loc;
    table.set(k.name, d);
  }
}

}  // namespace engine
