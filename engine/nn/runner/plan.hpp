#pragma once
// The execution plan of `engine run`: which memory format [train].memory_format = "auto" means
// for this graph on this machine. Neither layout wins everywhere in LibTorch 1.13 (oneDNN's NHWC
// convolutions are faster; some elementwise kernels are slower on channels_last, the worst of
// them, GELU, is worked around in engine/nn/kernels.hpp), so a few training steps of each are
// timed and the fastest kept.
#include <string>

#include <spdlog/spdlog.h>

#include "engine/nn/runner/prepare.hpp"

namespace engine {

// Before prepare_model: replaces "auto" in p.train.memory_format by the chosen format, from
//  - the run being resumed (its summary.toml records the format it trained with: a resume stays exact),
//  - else <runs>/.cache/plans.toml, keyed by graph, batch, precision, CPU or GPU model, threads
//    and LibTorch,
//  - else by timing warm-up + timed steps of each candidate on a fresh model and random batch,
//    which leaves the seeded state of the real run untouched; the choice is then cached.
// Kept as "auto" (channels_last, as before) with several ranks and for non-image inputs.
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
bool adopt_recorded_format(std::string& memory_format, const RunDir& dir);

}  // namespace engine
