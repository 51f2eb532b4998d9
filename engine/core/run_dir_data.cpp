#include "engine/core/files.hpp"
#include "engine/core/run_dir.hpp"
#include "engine/core/spec.hpp"

namespace engine {

namespace fs = std::filesystem;

void write_run_data(const fs::path& run_dir, const RunData& data) {
  Value t = Value::table();
  auto strings = [](const std::vector<std::string>& v) {
    Value a = Value::array();
    for (const auto& s : v) a.items.push_back(Value::of_string(s));
    return a;
  };
  auto numbers = [](const std::vector<double>& v) {
    Value a = Value::array();
    for (double x : v) a.items.push_back(Value::of_float(x));  // shortest round-trip text: exact
    return a;
  };
  t.set("wnids", strings(data.wnids));
  t.set("names", strings(data.names));
  t.set("mean", numbers(data.mean));
  t.set("std", numbers(data.std));
  write_file_atomic(
      run_dir / run_file::data,
      "# Classes in label order and the normalisation this run trained with (engine predict, export).\n" + to_toml(t));
}

std::optional<RunData> read_run_data(const fs::path& run_dir) {
  fs::path file = run_dir / run_file::data;
  if (!fs::exists(file)) return std::nullopt;
  Value t = read_toml(file);
  RunData d;
  auto need = [&](const char* key) -> const Value& {
    const Value* v = t.find(key);
    if (!v) throw UserError(file.string() + ": no '" + key + "'; delete the file to have it recomputed from the data");
    return *v;
  };
  d.wnids = need("wnids").as_strings("wnids");
  d.names = need("names").as_strings("names");
  d.mean = need("mean").as_floats("mean");
  d.std = need("std").as_floats("std");
  if (d.names.size() != d.wnids.size() || d.mean.size() != d.std.size() || (d.mean.size() != 3 && d.mean.size() != 1))
    throw UserError(file.string() +
                    ": expected as many names as wnids and 3 (RGB) or 1 (grey) values each for mean and std");
  return d;
}

}  // namespace engine
