#pragma once
// Errors the user can fix (bad graph, bad data, bad run directory) exit with code 2;
// anything else that escapes is an internal failure (exit 1).
#include <stdexcept>
#include <string>

namespace engine {

class UserError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace engine
