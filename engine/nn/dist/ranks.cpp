#include "engine/nn/dist/ranks.hpp"

#include <spdlog/sinks/stdout_sinks.h>

#include <cstdio>

namespace engine::dist {

std::shared_ptr<spdlog::logger> rank_logger(const ProcessGroup& g) {
  auto log = std::make_shared<spdlog::logger>("rank", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  log->set_pattern("[%H:%M:%S] [rank " + std::to_string(g.rank()) + "] %v");
  log->set_level(spdlog::level::warn);
  spdlog::set_default_logger(log);  // the data pipeline's warnings too
  return log;
}

std::string batch_line(const ProcessGroup& g, const TrainConfig& t) {
  const int64_t n = t.batch_size, ranks = g.size();
  const std::string share =
      n % ranks == 0 ? std::to_string(n / ranks) : std::to_string(n / ranks) + "-" + std::to_string(n / ranks + 1);
  char lr[32];
  std::snprintf(lr, sizeof lr, "%g", t.lr);
  return "data parallel on " + std::to_string(ranks) + " ranks: train.batch_size " + std::to_string(n) +
         " is the global batch, " + share + " images per rank per step; lr " + lr +
         " as set (not scaled: the gradient is the global batch's mean); BatchNorm uses each rank's own images";
}

}  // namespace engine::dist
