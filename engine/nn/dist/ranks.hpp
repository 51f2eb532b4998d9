#pragma once
// What a run does differently as one of several ranks, beside the collectives: its log and the
// line that states the batch and learning-rate rule. (SIGTERM stops every rank like Ctrl-C:
// InterruptScope catches both, and the trainer agrees on the stop.)
#include <memory>
#include <string>

#include <spdlog/spdlog.h>

#include "engine/core/sections.hpp"
#include "engine/nn/dist/process_group.hpp"

namespace engine::dist {

// Ranks other than 0 log warnings and errors only, to stderr, as "[rank k] ..."; rank 0 logs the run.
std::shared_ptr<spdlog::logger> rank_logger(const ProcessGroup& g);

// "data parallel: 2 ranks ...": the global batch, each rank's share and the lr rule.
std::string batch_line(const ProcessGroup& g, const TrainConfig& t);

}  // namespace engine::dist
