// libFuzzer target over the graph language: TOML → extends/vars/--set → sections → validator
// → the check line and layer table.
// The input is up to three files split by lines "#---": the graph (g.toml), then a.toml and
// b.toml, which it may extend; base.toml, a small valid graph with [vars], is always there.
// Leading lines "#set KEY=VALUE" are --set overrides (and TOML comments, so lines still count).
// A UserError is the expected answer to a bad graph; anything else escaping, a sanitizer
// report or a resolved graph whose printed config does not resolve the same way is a bug.
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/core/graph.hpp"
#include "engine/core/info.hpp"
#include "engine/core/sections.hpp"
#include "engine/core/spec.hpp"

namespace fs = std::filesystem;

namespace {
const char* kBase = R"(name = "base"
[input]
shape = [3, 16, 16]
[vars]
width = 8
widths = [8, 16]
act = "relu"
[[layers]]
op = "conv2d"
out = "$width"
kernel = 3
[[layers]]
op = "resnet_stages"
widths = "$widths"
blocks = [1]
act = "$act"
[[layers]]
op = "adaptive_avgpool2d"
[[layers]]
op = "flatten"
[[layers]]
op = "linear"
out = "$classes"
)";

fs::path dir;

void write(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  dir = fs::temp_directory_path() / ("fuzz_graph-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  write(dir / "base.toml", kBase);
  std::atexit([] { fs::remove_all(dir); });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> overrides;
  for (size_t at = 0; input.compare(at, 5, "#set ") == 0;) {
    size_t end = input.find('\n', at);
    overrides.push_back(input.substr(at + 5, end == std::string::npos ? std::string::npos : end - at - 5));
    at = end == std::string::npos ? input.size() : end + 1;
  }
  std::vector<std::string> files;
  for (size_t at = 0;;) {
    size_t sep = input.find("\n#---\n", at);
    files.push_back(input.substr(at, sep == std::string::npos ? std::string::npos : sep + 1 - at));
    if (sep == std::string::npos || files.size() == 3) break;
    at = sep + 6;
  }
  files.resize(3);  // every file rewritten: nothing carries over from the previous input
  write(dir / "g.toml", files[0]);
  write(dir / "a.toml", files[1]);
  write(dir / "b.toml", files[2]);

  engine::LoadedGraph loaded;
  try {
    loaded = engine::load_graph(dir / "g.toml", overrides);
  } catch (const engine::UserError&) {
    return 0;
  }
  engine::check_line(loaded.graph);  // what `engine check` and `engine info` print
  engine::layer_table(loaded.graph);
  // `engine config` prints the resolved graph; that text must resolve to the same graph.
  std::string printed = engine::to_toml(loaded.spec);
  write(dir / "printed.toml", printed);
  engine::LoadedGraph again;
  try {
    again = engine::load_graph(dir / "printed.toml");
  } catch (const engine::UserError& e) {
    std::fprintf(stderr, "printed config does not resolve: %s\n---\n%s", e.what(), printed.c_str());
    std::abort();
  }
  auto keys_values = [](const engine::Value& spec) {  // printing puts plain keys before tables
    auto flat = engine::flatten(spec);
    std::sort(flat.begin(), flat.end());
    return flat;
  };
  if (keys_values(again.spec) != keys_values(loaded.spec) || again.graph.params != loaded.graph.params ||
      again.graph.macs != loaded.graph.macs) {
    std::fprintf(stderr, "printed config resolves differently\n---\n%s", printed.c_str());
    std::abort();
  }
  return 0;
}
