#pragma once
// What every command shares (docs/cli.md): one spelling per meaning, old spellings that still
// work for one release with a warning, a did-you-mean for an unknown flag, and `engine help CMD`.
#include <optional>
#include <string>
#include <vector>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace engine {

// `--run-dir DIR` names a run directory to read or train into, `-o/--output PATH` a file or
// directory a command writes. Old spellings are added hidden from the help and warned about.
class Spellings {
 public:
  // Adds `old` to `cmd` as another way to set `target`, which `now` sets in the help.
  void old(CLI::App* cmd, const std::string& old, const std::string& now, std::string& target);
  // "warning: ..." for each old spelling used on this command line.
  std::vector<std::string> warnings() const;

 private:
  struct Old {
    CLI::Option* option;
    std::string command, old, now;
  };
  std::vector<Old> old_;
};

// The error for the first `--flag` of args that `cmd` (or the app, before a command) does not
// know, with the nearest known flag; nullopt when all are known. Values after `--` are left alone.
std::optional<std::string> unknown_flag(const CLI::App& cmd, const std::vector<std::string>& args);

// The error for a command that takes one file given several, or nullopt.
std::optional<std::string> one_file(const std::string& command, const std::vector<std::string>& files,
                                    const std::string& instead);

// The names a user may type as a command: every subcommand and alias.
std::vector<std::string> command_names(const CLI::App& app);

}  // namespace engine
