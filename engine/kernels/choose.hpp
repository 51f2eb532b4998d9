#pragma once
// Which convolutions run in our kernels on this machine, measured: each case a rule sends to one
// of ours (ConvCaseLog lists them from a forward of the graph), forward + backward at the run's
// batch in ATen's kernel and in ours, taking turns. The runner's plan (runner/plan.cpp) caches
// and records the choices; a model takes them through KernelSettings.
#include <string>
#include <vector>

#include "engine/kernels/kernels.hpp"

namespace engine {

// Ours only when faster than ATen's by more than this share: a smaller difference is within
// what a few timed passes resolve on a loaded machine, and a tie goes to ATen.
inline constexpr double kKernelTieMargin = 0.05;

struct ConvTiming {
  std::string key;                  // ConvCase::key
  std::string kernel;               // ours, as the rules say
  double aten_ms = 0, ours_ms = 0;  // the fastest pass of each
  bool ours() const { return ours_ms < (1 - kKernelTieMargin) * aten_ms; }
};

// c forward (under CPU bf16 autocast, as a training step runs it) and backward, in ATen's kernel
// and in ours, `warmup` then `timed` passes each, taking turns.
ConvTiming time_conv_case(const ConvCase& c, int warmup, int timed);
ConvChoices conv_choices_of(const std::vector<ConvTiming>& timings);
// One line per convolution (for the log and engine time).
std::vector<std::string> conv_timing_lines(const std::vector<ConvTiming>& timings);

}  // namespace engine
