#pragma once
// The execution plan of `engine run`: which memory format [train].memory_format = "auto" means
// for this graph on this machine, and which convolutions run in our kernels (below). Neither
// layout wins everywhere in LibTorch 1.13 (oneDNN's NHWC convolutions are faster; some
// elementwise kernels are slower on channels_last, the worst of them, GELU, is worked around in
// engine/kernels/kernels.hpp), so a few training steps of each are timed and the fastest kept.
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "engine/kernels/choose.hpp"
#include "engine/nn/runner/prepare.hpp"

namespace engine {

// Before prepare_model: replaces "auto" in p.train.memory_format by the chosen format, and sets
// p.conv_kernels to the measured convolution kernels (below), from
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

// What a trained run recorded in summary.toml: its format, precision and kernels setting ("" when
// none or unreadable) and its convolution choices. One light read, without metrics.csv.
struct RecordedPlan {
  std::string memory_format, precision, kernels;
  ConvChoices conv_kernels;
};
RecordedPlan recorded_plan(const RunDir& dir);

// What `dir`'s run recorded (summary.toml) replaces "auto" in t: its memory format and
// precision, so evaluating, predicting or resuming runs as it trained; its kernels setting and
// convolution choices are taken whatever t says (a run resumes with the kernels it began with).
// True when it recorded a memory format.
bool adopt_recorded_plan(TrainConfig& t, ConvChoices& conv_kernels, const RunDir& dir);

// The plan's other half, measured before the formats' steps (which then run with it): each
// convolution of the graph that a rule in engine/kernels/kernels.hpp sends to one of our kernels,
// timed against ATen's (engine/kernels/choose.hpp). Only on a CPU in bf16 channels_last with
// kernels = "auto", where the rules apply; nothing elsewhere.
std::vector<ConvTiming> measure_conv_kernels(const Prepared& p, const Hardware& hw);

}  // namespace engine
