#include "engine/cli/conventions.hpp"

#include <CLI/CLI.hpp>

#include "engine/core/spec.hpp"  // did_you_mean

namespace engine {

void Spellings::old(CLI::App* cmd, const std::string& old, const std::string& now, std::string& target) {
  CLI::Option* o = cmd->add_option(old, target, "old spelling of " + now)->group("");
  old_.push_back({o, cmd->get_name(), old, now});
}

std::vector<std::string> Spellings::warnings() const {
  std::vector<std::string> out;
  for (const auto& o : old_)
    if (o.option->count())
      out.push_back("warning: engine " + o.command + " " + o.old + " is now " + o.now +
                    "; the old spelling still works in this release only (docs/cli.md)");
  return out;
}

std::optional<std::string> unknown_flag(const CLI::App& cmd, const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (a == "--") break;
    if (a.size() < 3 || a.compare(0, 2, "--") != 0) continue;
    const std::string name = a.substr(0, a.find('='));
    if (cmd.get_option_no_throw(name)) continue;
    std::vector<std::string> known;
    for (const CLI::Option* o : cmd.get_options())
      if (!o->get_group().empty())  // old spellings are not suggested
        for (const auto& l : o->get_lnames()) known.push_back("--" + l);
    const std::string where = cmd.get_parent() ? "engine " + cmd.get_name() : "engine";
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    return "error: " + where + " has no option '" + name + "'" + did_you_mean(name, known) + " (options: " + list +
           "; engine help" + (cmd.get_parent() ? " " + cmd.get_name() : "") + ")";
  }
  return std::nullopt;
}

std::optional<std::string> one_file(const std::string& command, const std::vector<std::string>& files,
                                    const std::string& instead) {
  if (files.size() <= 1) return std::nullopt;
  std::string list;
  for (const auto& f : files) list += " " + f;
  return "engine " + command + " takes one file, got " + std::to_string(files.size()) + ":" + list + " (" + instead +
         ")";
}

std::vector<std::string> command_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const auto* c : app.get_subcommands({})) {
    names.push_back(c->get_name());
    for (const auto& alias : c->get_aliases()) names.push_back(alias);
  }
  return names;
}

}  // namespace engine
