#include "engine/core/spec.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include <toml++/toml.h>

#include "engine/core/files.hpp"
#include "engine/core/sections.hpp"

namespace engine {

namespace fs = std::filesystem;

std::string Loc::str() const {
  if (line <= 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(col);
}

SpecError::SpecError(const Loc& loc, const std::string& message)
    : UserError((loc.file.empty() ? message : loc.str() + ": " + message) +
                (loc.use.empty() ? "" : " (used at " + loc.use + ")")),
      loc_(loc) {}

// ---------------------------------------------------------------------------------------------
// Value

namespace {
Value make(Value::Kind kind, Loc loc) {
  Value x;
  x.kind = kind;
  x.loc = std::move(loc);
  return x;
}
}  // namespace

Value Value::of_int(int64_t v, Loc loc) {
  Value x = make(Kind::Int, std::move(loc));
  x.i = v;
  return x;
}
Value Value::of_float(double v, Loc loc) {
  Value x = make(Kind::Float, std::move(loc));
  x.f = v;
  return x;
}
Value Value::of_bool(bool v, Loc loc) {
  Value x = make(Kind::Bool, std::move(loc));
  x.b = v;
  return x;
}
Value Value::of_string(std::string v, Loc loc) {
  Value x = make(Kind::String, std::move(loc));
  x.s = std::move(v);
  return x;
}
Value Value::array(Loc loc) { return make(Kind::Array, std::move(loc)); }
Value Value::table(Loc loc) { return make(Kind::Table, std::move(loc)); }

const Value* Value::find(std::string_view key) const {
  for (const auto& [k, v] : fields)
    if (k == key) return &v;
  return nullptr;
}
Value* Value::find(std::string_view key) {
  for (auto& [k, v] : fields)
    if (k == key) return &v;
  return nullptr;
}
Value& Value::set(const std::string& key, Value v) {
  if (Value* old = find(key)) return *old = std::move(v);
  fields.emplace_back(key, std::move(v));
  return fields.back().second;
}
bool Value::erase(std::string_view key) {
  auto it = std::find_if(fields.begin(), fields.end(), [&](const auto& f) { return f.first == key; });
  if (it == fields.end()) return false;
  fields.erase(it);
  return true;
}
std::vector<std::string> Value::keys() const {
  std::vector<std::string> out;
  for (const auto& f : fields) out.push_back(f.first);
  return out;
}

const char* kind_name(Value::Kind k) {
  switch (k) {
    case Value::Kind::Int:
      return "an integer";
    case Value::Kind::Float:
      return "a number";
    case Value::Kind::Bool:
      return "a boolean";
    case Value::Kind::String:
      return "a string";
    case Value::Kind::Array:
      return "an array";
    case Value::Kind::Table:
      return "a table";
  }
  return "?";
}

namespace {
[[noreturn]] void wrong_kind(const Value& v, const std::string& what, const char* expected) {
  throw SpecError(v.loc, what + " must be " + expected + ", got " + kind_name(v.kind) + " (" + v.repr() + ")");
}
}  // namespace

int64_t Value::as_int(const std::string& what) const {
  if (kind != Kind::Int) wrong_kind(*this, what, "an integer");
  return i;
}
double Value::as_float(const std::string& what) const {
  if (kind == Kind::Int) return static_cast<double>(i);
  if (kind != Kind::Float) wrong_kind(*this, what, "a number");
  return f;
}
bool Value::as_bool(const std::string& what) const {
  if (kind != Kind::Bool) wrong_kind(*this, what, "true or false");
  return b;
}
const std::string& Value::as_string(const std::string& what) const {
  if (kind != Kind::String) wrong_kind(*this, what, "a string");
  return s;
}
namespace {
// Each item read with `read`, errors naming "what[k]".
template <class Read>
auto items_as(const Value& v, const std::string& what, const char* expected, Read read) {
  if (!v.is(Value::Kind::Array)) wrong_kind(v, what, expected);
  std::vector<decltype(read(v.items[0], what))> out;
  for (size_t k = 0; k < v.items.size(); ++k) out.push_back(read(v.items[k], what + "[" + std::to_string(k) + "]"));
  return out;
}
}  // namespace

std::vector<int64_t> Value::as_ints(const std::string& what) const {
  return items_as(*this, what, "an array of integers",
                  [](const Value& x, const std::string& w) { return x.as_int(w); });
}
std::vector<double> Value::as_floats(const std::string& what) const {
  return items_as(*this, what, "an array of numbers",
                  [](const Value& x, const std::string& w) { return x.as_float(w); });
}
std::vector<std::string> Value::as_strings(const std::string& what) const {
  return items_as(*this, what, "an array of strings",
                  [](const Value& x, const std::string& w) { return x.as_string(w); });
}

std::string toml_quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

namespace {
bool bare_key(const std::string& k) {
  return !k.empty() && std::all_of(k.begin(), k.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}
std::string key_text(const std::string& k) { return bare_key(k) ? k : toml_quote(k); }
}  // namespace

std::string Value::repr() const {
  switch (kind) {
    case Kind::Int:
      return std::to_string(i);
    case Kind::Float:
      return toml_float(f);
    case Kind::Bool:
      return b ? "true" : "false";
    case Kind::String:
      return toml_quote(s);
    case Kind::Array: {
      std::string out = "[";
      for (size_t k = 0; k < items.size(); ++k) out += (k ? ", " : "") + items[k].repr();
      return out + "]";
    }
    case Kind::Table: {
      std::string out = "{ ";
      for (size_t k = 0; k < fields.size(); ++k)
        out += (k ? ", " : "") + key_text(fields[k].first) + " = " + fields[k].second.repr();
      return out + (fields.empty() ? "}" : " }");
    }
  }
  return "";
}

// ---------------------------------------------------------------------------------------------
// did-you-mean

namespace {
// Optimal string alignment: a swapped pair of letters ("rleu") counts as one edit.
size_t edit_distance(std::string_view a, std::string_view b) {
  auto same = [](char x, char y) { return std::tolower(x) == std::tolower(y); };
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i)
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + !same(a[i - 1], b[j - 1])});
      if (i > 1 && j > 1 && same(a[i - 1], b[j - 2]) && same(a[i - 2], b[j - 1]))
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}
}  // namespace

std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates) {
  if (word.size() > 64) return "";  // no name is that long; the table would cost length squared
  const std::string* best = nullptr;
  size_t best_d = std::max<size_t>(2, word.size() / 3) + 1;  // close enough to be a typo
  for (const auto& c : candidates) {
    size_t gap = c.size() > word.size() ? c.size() - word.size() : word.size() - c.size();
    if (gap >= best_d) continue;  // at least that many edits: skip long candidates cheaply
    size_t d = edit_distance(word, c);
    if (d < best_d) best_d = d, best = &c;
  }
  return best ? "; did you mean '" + *best + "'?" : "";
}

// ---------------------------------------------------------------------------------------------
// TOML → Value

namespace {
// toml++ 3.3 (Debian 12) has two faults on untrusted text, which prepare_for_toml works around:
// - It reaches __builtin_unreachable when it asks whether a character of U+00A1..U+0499,
//   U+2C5E..U+2FFF, U+3001..U+3057 or U+FB26..U+FEFE is whitespace (marzer/tomlplusplus#190,
//   #295). It asks of every character outside strings and comments, where TOML allows none of
//   them (so they are errors here first); of every character of a value that starts like a
//   number, quotes included (1"µ"); and in a """string""" of the character after a backslash
//   (an invalid escape: an error here) and of the first one after a line-ending backslash's
//   blanks (written as an escape, \u00B5, for it).
// - It recurses once per table level, so a 30 KB dotted key overflows its stack: the keys of
//   one line, or of one multi-line array, may have at most 1000 dots. Dots in strings and
//   comments, and one between digits per token (1.5), do not count.
bool toml_unsafe(char32_t c) {
  return (c >= 0xA1 && c <= 0x499) || (c >= 0x2C5E && c <= 0x2FFF) || (c >= 0x3001 && c <= 0x3057) ||
         (c >= 0xFB26 && c <= 0xFEFE);
}

// The well-formed two- or three-byte character at s[i] and its length, else {0, 1}.
std::pair<char32_t, size_t> utf8_at(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<char32_t>(static_cast<unsigned char>(s[i + k])); };
  size_t n = byte(0) >= 0xC2 && byte(0) < 0xE0 ? 2 : byte(0) >= 0xE0 && byte(0) < 0xF0 ? 3 : 1;
  if (n == 1 || i + n > s.size()) return {0, 1};
  for (size_t k = 1; k < n; ++k)
    if ((byte(k) & 0xC0) != 0x80) return {0, 1};
  char32_t c = n == 2 ? (byte(0) & 0x1F) << 6 | (byte(1) & 0x3F)
                      : (byte(0) & 0x0F) << 12 | (byte(1) & 0x3F) << 6 | (byte(2) & 0x3F);
  if (n == 3 && c < 0x800) return {0, 1};  // overlong: toml++ rejects it
  return {c, n};
}

std::string prepare_for_toml(std::string_view text, const std::string& name) {
  enum { Plain, Comment, Basic, Literal, MultiBasic, MultiLiteral } state = Plain;
  bool escaped = false, skipping = false, number = false, number_dot = false;
  size_t number_start = 0;
  int line = 1, col = 0, dots = 0, brackets = 0;
  std::string out;
  out.reserve(text.size());
  auto fail = [&](const std::string& what) { throw SpecError(Loc{name, line, col}, "TOML syntax error: " + what); };
  auto digit = [&](size_t j) { return j < text.size() && std::isdigit(static_cast<unsigned char>(text[j])); };
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = text[i];
    auto [code, n] = utf8_at(text, i);
    std::string character(text.substr(i, n));
    bool unsafe = n > 1 && toml_unsafe(code);
    if ((c & 0xC0) != 0x80) ++col;  // a column per character, as toml++ counts
    if (c == '\n') {
      ++line, col = 0;
      if (brackets == 0) dots = 0;
    }
    size_t quotes = 0;  // more quotes of an opening or closing """ or ''' to copy as they are
    bool triple = i + 2 < text.size() && text[i + 1] == text[i] && text[i + 2] == text[i];
    switch (state) {
      case Plain:
        if (unsafe) fail("unexpected '" + character + "' outside a string or comment");
        // A number runs to the next blank, comma, bracket or #, and past one blank after a date.
        if (number && (blank(c) || c == ',' || c == ']' || c == '}' || c == '#') &&
            !(c == ' ' && i - number_start == 10 && text[number_start + 4] == '-' && text[number_start + 7] == '-'))
          number = false;
        else if (!number && (std::isdigit(c) || c == '+' || c == '-') &&
                 (i == 0 || blank(text[i - 1]) || std::strchr("=[{,", text[i - 1])))
          number = true, number_start = i;
        if (c == '.') {
          if (digit(i - 1) && digit(i + 1) && !number_dot)
            number_dot = true;
          else if (++dots > 1000)
            fail("more than 1000 dots in the keys of one line");
        } else if (!std::isalnum(c) && c != '_' && c != '-' && c != '+' && c != ':') {
          number_dot = false;
        }
        if (c == '[' || c == '{') ++brackets;
        if ((c == ']' || c == '}') && brackets > 0) --brackets;
        if (c == '#') {
          state = Comment;
        } else if ((c == '"' || c == '\'') && !number) {
          state = c == '"' ? (triple ? MultiBasic : Basic) : (triple ? MultiLiteral : Literal);
          quotes = triple ? 2 : 0;
        }
        break;
      case Comment:
        if (c == '\n') state = Plain;
        break;
      case Basic:
      case MultiBasic:
        if (escaped) {
          escaped = false;
          if (unsafe && state == MultiBasic) fail("unknown escape sequence '\\" + character + "'");
          skipping = state == MultiBasic && blank(c);
        } else if (!(skipping && blank(c))) {
          if (skipping && unsafe) {
            char escape[16];
            std::snprintf(escape, sizeof escape, "\\u%04X", static_cast<unsigned>(code));
            out += escape;
            i += n - 1;
            skipping = false;
            continue;
          }
          skipping = false;
          if (c == '\\')
            escaped = true;
          else if (state == Basic && (c == '"' || c == '\n'))
            state = Plain;
          else if (state == MultiBasic && c == '"' && triple)
            state = Plain, quotes = 2;
        }
        break;
      case Literal:
        if (c == '\'' || c == '\n') state = Plain;
        break;
      case MultiLiteral:
        if (c == '\'' && triple) state = Plain, quotes = 2;
        break;
    }
    // A closing """ or ''' may follow up to two quotes that belong to the string.
    if (quotes && state == Plain)
      while (quotes < 4 && i + quotes + 1 < text.size() && text[i + quotes + 1] == text[i]) ++quotes;
    out.append(text.substr(i, n + quotes));
    i += n - 1 + quotes, col += static_cast<int>(quotes);
  }
  return out;
}

Loc loc_of(const toml::node& n, const std::string& fallback_file) {
  const auto& src = n.source();
  return Loc{src.path ? *src.path : fallback_file, static_cast<int>(src.begin.line),
             static_cast<int>(src.begin.column)};
}

Value convert(const toml::node& n, const std::string& file) {
  Loc loc = loc_of(n, file);
  if (auto t = n.as_table()) {
    Value v = Value::table(loc);
    for (const auto& [k, child] : *t) v.fields.emplace_back(std::string(k.str()), convert(child, file));
    // toml++ keeps keys sorted; the user wrote them in an order worth keeping.
    std::stable_sort(v.fields.begin(), v.fields.end(), [](const auto& a, const auto& b) {
      return std::tie(a.second.loc.line, a.second.loc.col) < std::tie(b.second.loc.line, b.second.loc.col);
    });
    return v;
  }
  if (auto a = n.as_array()) {
    Value v = Value::array(loc);
    for (const auto& child : *a) v.items.push_back(convert(child, file));
    return v;
  }
  if (auto x = n.as_integer()) return Value::of_int(x->get(), loc);
  if (auto x = n.as_floating_point()) return Value::of_float(x->get(), loc);
  if (auto x = n.as_boolean()) return Value::of_bool(x->get(), loc);
  if (auto x = n.as_string()) return Value::of_string(x->get(), loc);
  throw SpecError(loc, "dates and times are not used in graph files");
}

Value parse_text(std::string_view text, const std::string& name) {
  std::string prepared = prepare_for_toml(text, name);
  try {
    toml::table t = toml::parse(std::string_view(prepared), name);
    Value v = convert(t, name);
    v.loc = Loc{name, 1, 1};
    return v;
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw SpecError(Loc{name, static_cast<int>(b.line), static_cast<int>(b.column)},
                    "TOML syntax error: " + std::string(e.description()));
  }
}
}  // namespace

Value parse_toml_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::error_code ec;
  if (!in || !fs::is_regular_file(file, ec))
    throw UserError(file.string() + ": cannot open graph file (does it exist?)");
  // Graph files are kilobytes: a path to something else must not fill the memory.
  if (auto size = fs::file_size(file, ec); !ec && size > (1u << 20))
    throw UserError(file.string() + ": over 1 MiB, too large for a graph file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_text(ss.str(), file.string());
}

Value parse_toml_string(std::string_view text, const std::string& source_name) { return parse_text(text, source_name); }

// ---------------------------------------------------------------------------------------------
// extends, overrides, vars

void merge_into(Value& base, const Value& child) {
  for (const auto& [k, v] : child.fields) {
    Value* old = base.find(k);
    if (old && old->is(Value::Kind::Table) && v.is(Value::Kind::Table))
      merge_into(*old, v);
    else
      base.set(k, v);
  }
}

namespace {
void set_loc(Value& v, const Loc& loc) {
  v.loc = loc;
  for (auto& item : v.items) set_loc(item, loc);
  for (auto& [k, f] : v.fields) set_loc(f, loc);
}
void set_use(Value& v, const std::string& use) {
  v.loc.use = use;
  for (auto& item : v.items) set_use(item, use);
  for (auto& [k, f] : v.fields) set_use(f, use);
}
}  // namespace

void apply_override(Value& root, const std::string& assignment) {
  Loc loc{"--set " + assignment};
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) throw SpecError(loc, "expected KEY.PATH=VALUE, e.g. --set train.lr=0.01");
  std::string path = assignment.substr(0, eq), text = assignment.substr(eq + 1);

  Value value;
  try {
    value = parse_text("v = " + text, loc.file).fields.at(0).second;
  } catch (const SpecError&) {
    value = Value::of_string(text);  // unquoted words are strings: --set vars.act=gelu
  }
  set_loc(value, loc);  // the whole value was written on the command line, not at "v = "'s columns

  std::vector<std::string> parts;
  std::stringstream ss(path);
  for (std::string p; std::getline(ss, p, '.');) parts.push_back(p);

  Value* cur = &root;
  for (size_t k = 0; k < parts.size(); ++k) {
    const std::string& p = parts[k];
    bool last = k + 1 == parts.size();
    if (cur->is(Value::Kind::Array)) {
      size_t idx = 0;
      auto r = std::from_chars(p.data(), p.data() + p.size(), idx);
      if (r.ec != std::errc() || r.ptr != p.data() + p.size() || idx >= cur->items.size())
        throw SpecError(
            loc, "'" + p + "' is not an index of this array (it has " + std::to_string(cur->items.size()) + " items)");
      if (last) cur->items[idx] = value;
      cur = &cur->items[idx];
    } else if (cur->is(Value::Kind::Table)) {
      if (last) {
        cur->set(p, value);
      } else {
        Value* next = cur->find(p);
        cur = next ? next : &cur->set(p, Value::table(loc));
      }
    } else {
      throw SpecError(loc, "'" + parts[k - 1] + "' is " + kind_name(cur->kind) + ", not a table");
    }
  }
}

namespace {
constexpr size_t kMaxSubstituted = 100'000;

size_t count_values(const Value& v) {
  size_t n = 1;
  for (const auto& item : v.items) n += count_values(item);
  for (const auto& [k, f] : v.fields) n += count_values(f);
  return n;
}

// `budget` bounds the values all substitutions copy: a large array used many times would
// otherwise grow a small file into gigabytes.
void substitute(Value& v, const Value& vars, const std::vector<std::pair<std::string, Value>>& builtins,
                size_t& budget) {
  if (v.is(Value::Kind::String) && v.s.size() > 1 && v.s[0] == '$') {
    // "$name" or "$name[i]" (an item of an array variable).
    std::string name = v.s.substr(1);
    std::string digits;  // the index, if any
    if (auto open = name.find('['); open != std::string::npos && name.back() == ']') {
      digits = name.substr(open + 1, name.size() - open - 2);
      if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos)
        throw SpecError(v.loc, "'" + v.s + "': an index must be a plain number, as in $widths[0]");
      name = name.substr(0, open);
    }
    const Value* found = nullptr;
    for (const auto& [k, b] : builtins)
      if (k == name) found = &b;
    if (!found) found = vars.find(name);
    if (!found) {
      std::vector<std::string> known = vars.keys();
      for (const auto& b : builtins) known.push_back(b.first);
      throw SpecError(v.loc, "unknown variable '$" + name + "'" + did_you_mean(name, known) +
                                 " (variables come from [vars]" +
                                 (builtins.empty() ? "" : " and $" + builtins[0].first) + ")");
    }
    const Value* chosen = found;
    if (!digits.empty()) {
      size_t index = 0;  // too many digits for size_t is past the end too
      auto r = std::from_chars(digits.data(), digits.data() + digits.size(), index);
      if (!found->is(Value::Kind::Array) || r.ec != std::errc() || index >= found->items.size())
        throw SpecError(v.loc, "'" + v.s + "': $" + name + " is " + found->repr() + ", which has no item " + digits);
      chosen = &found->items[index];
    }
    size_t copies = count_values(*chosen);
    if (copies > budget)
      throw SpecError(v.loc, "'" + v.s + "': variables expand to over " + std::to_string(kMaxSubstituted) +
                                 " values in all; no graph needs that many");
    budget -= copies;
    Loc use = v.loc;
    std::string ref = v.s;
    v = *chosen;
    // Errors about the value point where it was written, then where it is used; a builtin
    // ($classes) was written nowhere, so it points at the use.
    if (v.loc.file.empty())
      v.loc = use;
    else
      set_use(v, use.str() + " through " + ref);
    return;
  }
  for (auto& item : v.items) substitute(item, vars, builtins, budget);
  for (auto& [k, f] : v.fields) substitute(f, vars, builtins, budget);
}
}  // namespace

void substitute_vars(Value& root, const std::vector<std::pair<std::string, Value>>& builtins) {
  Value vars = root.find("vars") ? *root.find("vars") : Value::table();
  if (!vars.is(Value::Kind::Table)) throw SpecError(vars.loc, "[vars] must be a table");
  size_t budget = kMaxSubstituted;
  for (auto& [k, f] : root.fields)
    if (k != "vars") substitute(f, vars, builtins, budget);
}

namespace {
Value load_chain(const fs::path& file, std::vector<fs::path>& stack, const std::vector<fs::path>& bases, size_t depth) {
  Value v = parse_toml_file(file);
  fs::path canon = fs::weakly_canonical(file);
  Value* ext = v.find("extends");
  if (depth < bases.size()) {
    if (!ext) ext = &v.set("extends", Value::of_string("", Loc{file.string(), 1, 1}));
    ext->s = fs::relative(fs::absolute(bases[depth]), fs::absolute(file).parent_path()).string();
  }
  if (!ext) return v;
  const std::string& rel = ext->as_string("extends");
  fs::path parent = file.parent_path() / rel;
  std::error_code ec;  // a name too long or a NUL in it is no file either, not an internal error
  if (rel.find('\0') != std::string::npos || !fs::is_regular_file(parent, ec))
    throw SpecError(ext->loc, "extends '" + rel + "': " + (fs::exists(parent, ec) ? "not a file" : "no such file") +
                                  " (looked for " + parent.string() + ")");
  stack.push_back(canon);
  fs::path parent_canon = fs::weakly_canonical(parent);
  if (std::find(stack.begin(), stack.end(), parent_canon) != stack.end()) {
    std::string chain;
    for (const auto& p : stack) chain += p.filename().string() + " -> ";
    throw SpecError(ext->loc, "extends '" + rel + "' makes a loop: " + chain + parent.filename().string());
  }
  Value base = load_chain(parent, stack, bases, depth + 1);
  stack.pop_back();
  v.erase("extends");
  merge_into(base, v);
  return base;
}

// Graphs nest a few levels. Bounding the resolved graph (--set paths and $vars can deepen a
// file's tree) keeps what `engine config` prints, a [a.b.c] header per table, within
// prepare_for_toml's limits, so it parses again.
void check_depth(const Value& v, int depth = 0) {
  if (depth > 100) throw SpecError(v.loc, "tables and arrays nest more than 100 levels deep");
  for (const auto& item : v.items) check_depth(item, depth + 1);
  for (const auto& [k, f] : v.fields) check_depth(f, depth + 1);
}

}  // namespace

Value load_spec(const fs::path& file, const std::vector<std::string>& overrides, const std::vector<fs::path>& bases) {
  std::vector<fs::path> stack;
  Value root = load_chain(file, stack, bases, 0);
  root.loc = Loc{file.string(), 1, 1};  // the graph is this file, whatever it extends
  // A variant that does not name itself must not inherit its parent's name (and run directory);
  // the merged name's location says which file wrote it.
  const Value* name = root.find("name");
  if (!name || name->loc.file != file.string())
    root.set("name", Value::of_string(file.stem().string(), Loc{file.string(), 1, 1}));
  for (const auto& o : overrides) apply_override(root, o);
  substitute_vars(root, {{"classes", Value::of_int(class_count(root))}});
  check_depth(root);
  return root;
}

// ---------------------------------------------------------------------------------------------
// Value → TOML

namespace {
bool is_table_array(const Value& v) {
  return v.is(Value::Kind::Array) && !v.items.empty() &&
         std::all_of(v.items.begin(), v.items.end(), [](const Value& x) { return x.is(Value::Kind::Table); });
}

void emit(std::string& out, const Value& t, const std::string& prefix) {
  for (const auto& [k, v] : t.fields)
    if (!v.is(Value::Kind::Table) && !is_table_array(v)) out += key_text(k) + " = " + v.repr() + "\n";
  for (const auto& [k, v] : t.fields) {
    std::string path = prefix.empty() ? key_text(k) : prefix + "." + key_text(k);
    if (v.is(Value::Kind::Table)) {
      out += "\n[" + path + "]\n";
      emit(out, v, path);
    } else if (is_table_array(v)) {
      for (const auto& item : v.items) {
        out += "\n[[" + path + "]]\n";
        emit(out, item, path);
      }
    }
  }
}

void flatten_into(std::vector<std::pair<std::string, std::string>>& out, const Value& v, const std::string& path) {
  if (v.is(Value::Kind::Table)) {
    for (const auto& [k, f] : v.fields) flatten_into(out, f, path.empty() ? k : path + "." + k);
  } else if (is_table_array(v)) {
    for (size_t i = 0; i < v.items.size(); ++i) flatten_into(out, v.items[i], path + "[" + std::to_string(i) + "]");
  } else {
    out.emplace_back(path, v.repr());
  }
}
}  // namespace

std::string to_toml(const Value& root) {
  std::string out;
  emit(out, root, "");
  return out;
}

std::vector<std::pair<std::string, std::string>> flatten(const Value& root) {
  std::vector<std::pair<std::string, std::string>> out;
  flatten_into(out, root, "");
  return out;
}

}  // namespace engine
