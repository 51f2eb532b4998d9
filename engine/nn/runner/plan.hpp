#pragma once
// The execution plan of `engine run`: which memory format [train].memory_format = "auto" means
// for this graph on this machine, and which convolutions run in our kernels (below). Neither
// layout wins everywhere in LibTorch 1.13 (oneDNN's NHWC convolutions are faster; some
// elementwise kernels are slower on channels_last, the worst of them, GELU, is worked around in
// engine/nn/kernels.hpp), so a few training steps of each are timed and the fastest kept.
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "engine/nn/kernels.hpp"
#include "engine/nn/runner/prepare.hpp"

namespace engine {

// Before prepare_model: replaces "auto" in p.train.memory_format by the chosen format, and sets
// p.conv_kernels (and conv2d's choices) to the measured convolution kernels (below), from
//  - the run being resumed (its summary.toml records the format and kernels it trained with: a
//    resume stays exact),
//  - else <runs>/.cache/plans.toml, keyed by graph, batch, precision, CPU or GPU model, threads
//    and LibTorch,
//  - else by timing the kernels, then warm-up + timed steps of each format on a fresh model and
//    random batch, which leaves the seeded state of the real run untouched; the plan is then cached.
// Kept as "auto" (channels_last, as before) and the kernel rules alone with several ranks, for
// non-image inputs and with an explicit format.
void plan_memory_format(Prepared& p, spdlog::logger& log);

// Contiguous only when its fastest step beats channels_last's by more than the margin; a
// smaller difference is a tie, and ties go to channels_last, what "auto" meant before plans
// were measured. On an H200 (tools/gpu-bench) the formats' fastest steps differed by 0-7% on
// three graphs, either way, contiguous ahead by 3% at most (3.1-A, channels_last/contiguous:
// 10.3/10.3, then 10.6/11.3 ms, then 12.2/12.5 on another machine). On this CPU
// channels_last wins by 30-40% (the plans in the study's log), far outside the margin.
inline constexpr double kPlanTieMargin = 0.05;
bool choose_contiguous(double channels_last_ms, double contiguous_ms);

// "auto" becomes the format `dir`'s run recorded, so evaluating, predicting or resuming runs in
// the layout it trained in; true when it did. Any other value, or no record, is left as it is.
// The convolution kernels it recorded are set too (none recorded: the rules alone).
bool adopt_recorded_plan(std::string& memory_format, const RunDir& dir);

// The plan's other half, measured before the formats' steps (which then run with it): each
// convolution of the graph that a rule in engine/nn/kernels.hpp sends to one of our kernels,
// forward + backward at the real batch against ATen's, taking turns (2 warm-up, 4 timed). Only
// on a CPU in bf16 channels_last, where the rules apply; nothing elsewhere. Leaves conv2d on the
// rules alone (no choices set): the caller sets the ones it keeps.
struct ConvTiming {
  std::string key;                  // ConvCase::key
  std::string kernel;               // ours, as the rules say
  double aten_ms = 0, ours_ms = 0;  // the fastest pass of each
  bool ours() const;                // our kernel only when faster by more than kPlanTieMargin
};
std::vector<ConvTiming> measure_conv_kernels(const Prepared& p, const Hardware& hw);
ConvChoices conv_choices_of(const std::vector<ConvTiming>& timings);
// One line per convolution (for the log and engine time).
std::vector<std::string> conv_timing_lines(const std::vector<ConvTiming>& timings);

}  // namespace engine
