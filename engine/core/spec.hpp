#pragma once
// Graph files as a tree of values that remember where they were written.
// TOML → Value (with file:line:col) → extends merged → --set applied → $vars substituted.
// No torch here: this layer is pure configuration.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/core/error.hpp"

namespace engine {

struct Loc {
  std::string file;  // a path, or "--set" for command-line overrides
  int line = 0;
  int col = 0;
  // A value that came through a variable is reported where it was written; this says where
  // it was used: "graphs/baseline.toml:42:8 through $act".
  std::string use = {};
  std::string str() const;  // "file:line:col", or just "file" when there is no line
};

// A user error that points at the spot in a graph file that caused it, then at the use of
// a variable that carried it there: "FILE:L:C: MESSAGE (used at FILE:L:C through $act)".
class SpecError : public UserError {
 public:
  SpecError(const Loc& loc, const std::string& message);
  const Loc& loc() const { return loc_; }

 private:
  Loc loc_;
};

struct Value {
  enum class Kind { Int, Float, Bool, String, Array, Table };
  Kind kind = Kind::Table;
  int64_t i = 0;
  double f = 0;
  bool b = false;
  std::string s;
  std::vector<Value> items;                           // Array
  std::vector<std::pair<std::string, Value>> fields;  // Table, in file order
  Loc loc;

  static Value of_int(int64_t v, Loc loc = {});
  static Value of_float(double v, Loc loc = {});
  static Value of_bool(bool v, Loc loc = {});
  static Value of_string(std::string v, Loc loc = {});
  static Value array(Loc loc = {});
  static Value table(Loc loc = {});

  bool is(Kind k) const { return kind == k; }
  const Value* find(std::string_view key) const;
  Value* find(std::string_view key);
  Value& set(const std::string& key, Value v);  // insert (at the end) or replace
  bool erase(std::string_view key);
  std::vector<std::string> keys() const;

  // Typed reads; `what` names the key in the error ("train.lr").
  int64_t as_int(const std::string& what) const;
  double as_float(const std::string& what) const;  // accepts integers
  bool as_bool(const std::string& what) const;
  const std::string& as_string(const std::string& what) const;
  std::vector<int64_t> as_ints(const std::string& what) const;
  std::vector<double> as_floats(const std::string& what) const;
  std::vector<std::string> as_strings(const std::string& what) const;

  std::string repr() const;  // inline TOML: 3, "relu", [64, 128]
};

const char* kind_name(Value::Kind k);

std::string toml_quote(const std::string& s);  // a TOML basic string, escaped

// "; did you mean 'x'?" for the nearest candidate within a few edits, else "".
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

Value parse_toml_file(const std::filesystem::path& file);
Value parse_toml_string(std::string_view text, const std::string& source_name);

// Tables merge key by key (child wins); scalars and arrays replace.
void merge_into(Value& base, const Value& child);

// "train.lr=0.01", "vars.widths=[32,64]", "layers.3.out=128". The value is TOML when it
// parses as TOML, else a plain string (so --set vars.act=gelu works unquoted).
void apply_override(Value& root, const std::string& assignment);

// Replaces every string "$name" outside [vars] by vars.name. `builtins` adds values
// that come from elsewhere ($classes from the data section).
void substitute_vars(Value& root, const std::vector<std::pair<std::string, Value>>& builtins);

// Loads a graph file: follows `extends` chains, applies overrides, substitutes vars.
// `name` defaults to the file's stem unless the file itself sets it. `bases` replaces the
// `extends` of the file (bases[0]), of bases[0] (bases[1]), and so on; past its end the
// files' own `extends` apply. The study uses it to point variants at a stage's winner.
Value load_spec(const std::filesystem::path& file, const std::vector<std::string>& overrides = {},
                const std::vector<std::filesystem::path>& bases = {});

// The resolved tree as a TOML document (deterministic: same tree, same text).
std::string to_toml(const Value& root);

// Flattened "a.b[2].c" → repr, for diffs between two resolved configs.
std::vector<std::pair<std::string, std::string>> flatten(const Value& root);

}  // namespace engine
