#include "engine/cli.hpp"

#include <CLI/CLI.hpp>
#include <iostream>

#include "engine/config.hpp"
#include "engine/draw.hpp"
#include "engine/info.hpp"
#include "engine/model.hpp"
#include "engine/registry.hpp"
#include "engine/spec.hpp"

namespace engine {

namespace fs = std::filesystem;

namespace {
struct Options {
  std::vector<std::string> files;
  std::vector<std::string> sets;
  std::string out;
  bool expand = false;
};

Graph load_graph(const std::string& file, const Options& o) {
  return build_graph(load_spec(file, o.sets), default_registry());
}

int cmd_check(const Options& o) {
  int failed = 0;
  for (const auto& f : o.files) {
    try {
      std::cout << check_line(load_graph(f, o)) << "\n";
    } catch (const UserError& e) {
      std::cout << "error: " << e.what() << "\n";
      ++failed;
    }
  }
  if (o.files.size() > 1) std::cout << o.files.size() - failed << " ok, " << failed << " failed\n";
  return failed ? 2 : 0;
}

int cmd_info(const Options& o) {
  Graph g = load_graph(o.files.at(0), o);
  GraphModule model = build_model(g);
  std::cout << layer_table(g) << "\n" << model_text(*model) << "\n";
  return 0;
}

int cmd_draw(const Options& o) {
  Graph g = load_graph(o.files.at(0), o);
  fs::path out = o.out.empty() ? fs::path("runs") / g.name / "architecture.svg" : fs::path(o.out);
  draw_graph(g, out, o.expand);
  std::cout << "wrote " << out.string() << "\n";
  return 0;
}

int cmd_config(const Options& o) {
  Value spec = load_spec(o.files.at(0), o.sets);
  complete_sections(spec);
  build_graph(spec, default_registry(), false);  // report layer errors here too
  std::cout << annotated_toml(spec);
  return 0;
}
}  // namespace

int cli_main(int argc, char** argv) {
  CLI::App app{"engine: declarative graph-config networks on LibTorch: validate, draw, train, evaluate"};
  app.require_subcommand(1);
  Options o;
  auto add_sets = [&](CLI::App* c) {
    c->add_option("--set", o.sets, "override a key after inheritance, e.g. --set train.lr=0.01 (repeatable)");
  };

  auto* check = app.add_subcommand("check", "validate graph files: params, channels, MACs, output shape");
  check->add_option("files", o.files, "graph files")->required();
  add_sets(check);
  auto* info = app.add_subcommand("info", "per-node table (shapes, params, MACs) and print(model)");
  info->add_option("file", o.files, "graph file")->required();
  add_sets(info);
  auto* draw = app.add_subcommand("draw", "draw the graph with Graphviz");
  draw->add_option("file", o.files, "graph file")->required();
  draw->add_option("-o,--out", o.out, "output .svg/.png/.pdf/.dot (default runs/<name>/architecture.svg)");
  draw->add_flag("--expand", o.expand, "draw the layers inside every block");
  add_sets(draw);
  auto* config = app.add_subcommand("config", "print the fully resolved graph (extends, vars, overrides, defaults)");
  config->add_option("file", o.files, "graph file")->required();
  add_sets(config);
  auto* ops = app.add_subcommand("ops", "list every op with its parameters");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  try {
    if (check->parsed()) return cmd_check(o);
    if (info->parsed()) return cmd_info(o);
    if (draw->parsed()) return cmd_draw(o);
    if (config->parsed()) return cmd_config(o);
    if (ops->parsed()) {
      std::cout << ops_catalogue(default_registry());
      return 0;
    }
  } catch (const UserError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "internal error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace engine
