#pragma once
// One line per epoch, redrawn in place, when stderr is a terminal; nothing otherwise, so logs
// stay clean.
#include <chrono>
#include <cstdint>

namespace engine {

class Progress {
 public:
  Progress(int64_t epoch, int64_t epochs, int64_t batches);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  void update(int64_t done, int64_t images);

 private:
  bool on_;
  int64_t epoch_, epochs_, batches_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace engine
