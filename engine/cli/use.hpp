#pragma once
// The commands that use a trained run: engine predict and engine export.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace engine {

class Spellings;

class UseCommands {
 public:
  UseCommands(CLI::App& app, Spellings& spellings);  // adds predict and export to app
  std::optional<int> run() const;                    // the exit code when one of them was parsed

 private:
  int predict() const;
  int export_run() const;

  CLI::App *predict_ = nullptr, *export_ = nullptr;
  std::string run_, out_, data_, to_ = "pytorch", dir_;
  std::vector<std::string> inputs_, sets_;
  int64_t top_ = 5;
  bool json_ = false, tta_ = false;
};

}  // namespace engine
