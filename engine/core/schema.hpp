#pragma once
// Declared keys of a table: type, default, one-line doc. One mechanism checks graph sections
// ([train], [data], …) and op parameters alike: unknown keys are errors with a did-you-mean,
// wrong types are errors at the value, missing keys get their documented default.
#include <optional>
#include <string>
#include <vector>

#include "engine/core/spec.hpp"

namespace engine {

enum class Type { Int, Float, Bool, String, IntList, FloatList, StringList, Table };

const char* type_name(Type t);

struct KeyDef {
  std::string name;
  Type type = Type::Int;
  std::optional<Value> def;  // nullopt: required
  std::string doc;
  std::vector<std::string> choices;  // String: the allowed words
  std::optional<double> min;         // Int/Float (and each list item): the smallest allowed
};

// Shorthands for declaring keys.
KeyDef key_int(std::string name, std::optional<int64_t> def, std::string doc, std::optional<double> min = {});
KeyDef key_float(std::string name, std::optional<double> def, std::string doc, std::optional<double> min = {});
KeyDef key_bool(std::string name, bool def, std::string doc);
KeyDef key_string(std::string name, std::optional<std::string> def, std::string doc,
                  std::vector<std::string> choices = {});
KeyDef key_ints(std::string name, std::optional<std::vector<int64_t>> def, std::string doc,
                std::optional<double> min = {});
KeyDef key_floats(std::string name, std::optional<std::vector<double>> def, std::string doc);
KeyDef key_strings(std::string name, std::optional<std::vector<std::string>> def, std::string doc);

// Checks `table` (named `where` in messages, e.g. "[train]" or "layers[3] (conv1, conv2d)")
// against `keys`; fills defaults; turns integers into floats where a float is declared.
// Keys listed in `ignore` are left alone (checked elsewhere).
void apply_schema(Value& table, const std::vector<KeyDef>& keys, const std::string& where,
                  const std::vector<std::string>& ignore = {});

}  // namespace engine
