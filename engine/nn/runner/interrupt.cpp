#include "engine/nn/runner/interrupt.hpp"

#include <atomic>
#include <csignal>

namespace engine {

namespace {
std::atomic<bool> g_interrupted{false};
extern "C" void on_sigint(int) { g_interrupted = true; }
}  // namespace

InterruptScope::InterruptScope() {
  g_interrupted = false;
  previous_ = std::signal(SIGINT, on_sigint);
}

InterruptScope::~InterruptScope() { std::signal(SIGINT, previous_); }

bool InterruptScope::requested() { return g_interrupted; }

}  // namespace engine
