#include "engine/nn/runner/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>

namespace engine {

Progress::Progress(int64_t epoch, int64_t epochs, int64_t batches)
    : on_(isatty(STDERR_FILENO)),
      epoch_(epoch),
      epochs_(epochs),
      batches_(batches),
      start_(std::chrono::steady_clock::now()) {}

Progress::~Progress() {
  if (on_) std::fprintf(stderr, "\r%80s\r", "");
}

void Progress::update(int64_t done, int64_t images) {
  if (!on_) return;
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = images / std::max(s, 1e-9);
  int width = 24, filled = static_cast<int>(width * done / std::max<int64_t>(batches_, 1));
  std::fprintf(stderr, "\r epoch %lld/%lld [%s%s] %lld/%lld  %.0f img/s  ETA %.0fs   ", static_cast<long long>(epoch_),
               static_cast<long long>(epochs_), std::string(filled, '#').c_str(),
               std::string(width - filled, '.').c_str(), static_cast<long long>(done), static_cast<long long>(batches_),
               rate, s / std::max<int64_t>(done, 1) * (batches_ - done));
}

}  // namespace engine
