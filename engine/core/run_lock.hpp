#pragma once
// One engine process per run directory. `engine run`, `test` and `study` hold an flock on
// <dir>/engine.lock while they use the directory; the kernel drops it when the process ends,
// however it ends, so a killed run leaves no stale lock. The holder writes its pid and command
// into the file for the message a second process gets.
#include <cstdint>
#include <filesystem>

namespace engine {

inline constexpr const char* kRunLockFile = "engine.lock";
// A descriptor of a lock file the parent process holds: locking that file joins the lock.
inline constexpr const char* kInheritedLockEnv = "ENGINE_LOCK_FD";

class RunLock {
 public:
  // Creates `dir` if needed and locks it, or throws UserError naming the holder (pid, command,
  // since when) without touching anything else. A lock this process already holds on `dir`
  // is shared: a study holds its runs' directories while run and test take them again.
  explicit RunLock(const std::filesystem::path& dir);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

  // The locked directory was renamed away (--fresh) and the lock file went with it: lock the
  // new directory at the same path, then let go of the moved one.
  void relock();

  // The descriptor holding the lock. `engine study --jobs` hands it to the `engine run` it
  // starts for the directory (kInheritedLockEnv names it there), so the lock never lapses.
  int fd() const;

 private:
  std::filesystem::path dir_;
  uint64_t device_ = 0, inode_ = 0;  // of the lock file held
};

}  // namespace engine
