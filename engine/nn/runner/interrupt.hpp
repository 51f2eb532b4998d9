#pragma once
// Ctrl-C (SIGINT) or SIGTERM (what schedulers and `docker stop` send) during training: a flag
// the loop reads between batches, so the run stops at a point it can resume from. A second
// signal of the same kind is not caught again: it ends the process at once.
#include <csignal>

namespace engine {

class InterruptScope {
 public:
  InterruptScope();  // clears the flag and catches SIGINT and SIGTERM until destroyed
  ~InterruptScope();
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

  static bool requested();

 private:
  struct sigaction previous_int_ {
  }, previous_term_{};
};

}  // namespace engine
