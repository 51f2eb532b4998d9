#pragma once
// Ctrl-C during training: a flag the loop reads between batches, so the run stops at a point
// it can resume from. A second Ctrl-C is not caught again.
namespace engine {

class InterruptScope {
 public:
  InterruptScope();  // clears the flag and catches SIGINT until destroyed
  ~InterruptScope();
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

  static bool requested();

 private:
  void (*previous_)(int) = nullptr;
};

}  // namespace engine
