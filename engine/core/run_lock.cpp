#include "engine/core/run_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "engine/core/error.hpp"

namespace engine {

namespace fs = std::filesystem;

namespace {
// The lock files this process holds, by (device, inode), with how many RunLocks share each:
// flock conflicts with a second open of the same file even in the same process.
struct Held {
  int fd = -1;
  int users = 0;
  fs::path dir;
  bool created = false;  // the directory did not exist before the lock
};
std::mutex g_mutex;
std::map<std::pair<uint64_t, uint64_t>, Held> g_held;

std::string command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && text.back() == '\0') text.pop_back();
  for (char& c : text)
    if (c == '\0' || c == '\n') c = ' ';
  return text.empty() ? "?" : text;
}

std::string now_text() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", std::localtime(&t));
  return buf;
}

// Best effort: the lock itself is what excludes; this text only explains it to the next process.
void write_holder(int fd) {
  std::string text =
      "pid " + std::to_string(::getpid()) + "\ncommand " + command_line() + "\nsince " + now_text() + "\n";
  if (::ftruncate(fd, 0) != 0) return;
  [[maybe_unused]] ssize_t n = ::pwrite(fd, text.data(), text.size(), 0);
}

std::string field(const std::string& text, const std::string& name) {
  size_t at = text.rfind(name + " ", 0) == 0 ? 0 : text.find("\n" + name + " ");
  if (at == std::string::npos) return "";
  at = text.find(' ', at + 1) + 1;
  return text.substr(at, text.find('\n', at) - at);
}

// The holder writes its note just after locking: give it a moment before saying "unknown".
std::string holder_of(int fd) {
  std::string text;
  for (int attempt = 0; attempt < 20; ++attempt) {
    char buf[4096];
    ssize_t n = ::pread(fd, buf, sizeof buf, 0);
    text.assign(buf, n > 0 ? static_cast<size_t>(n) : 0);
    if (text.find("\nsince ") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  std::string pid = field(text, "pid");
  if (pid.empty()) return "pid unknown";
  return "pid " + pid + ": `" + field(text, "command") + "`, since " + field(text, "since");
}

// The lock file descriptor a parent process passed on (kInheritedLockEnv): its flock is the
// parent's, already held. -1 when none, or when it is not an open file.
int inherited_fd() {
  const char* text = std::getenv(kInheritedLockEnv);
  if (!text || !*text) return -1;
  char* end = nullptr;
  long fd = std::strtol(text, &end, 10);
  struct stat st {};
  if (*end != '\0' || fd < 0 || fd > INT_MAX || ::fstat(static_cast<int>(fd), &st) != 0) return -1;
  return static_cast<int>(fd);
}

bool same_file(int fd, const struct stat& other) {
  struct stat st {};
  return fd >= 0 && ::fstat(fd, &st) == 0 && st.st_dev == other.st_dev && st.st_ino == other.st_ino;
}

[[noreturn]] void cannot_lock(const fs::path& dir, const std::string& why) {
  throw UserError("cannot lock the run directory " + dir.string() + ": " + why);
}

// Locks <dir>/engine.lock (or joins this process's lock on it); returns its (device, inode).
std::pair<uint64_t, uint64_t> acquire(const fs::path& dir) {
  std::error_code ec;
  const bool existed = fs::is_directory(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) cannot_lock(dir, ec.message());
  const fs::path path = dir / kRunLockFile;
  for (int attempt = 0; attempt < 10; ++attempt) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) cannot_lock(dir, path.string() + ": " + std::strerror(errno));
    struct stat opened {};
    ::fstat(fd, &opened);
    std::pair<uint64_t, uint64_t> key{opened.st_dev, opened.st_ino};
    std::lock_guard<std::mutex> guard(g_mutex);
    if (auto it = g_held.find(key); it != g_held.end()) {
      ::close(fd);
      ++it->second.users;
      return key;
    }
    if (const int parent = inherited_fd(); same_file(parent, opened)) {
      ::close(fd);
      g_held[key] = Held{parent, 1, dir, false};
      return key;
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      if (err != EWOULDBLOCK) {
        ::close(fd);
        cannot_lock(dir, path.string() + ": " + std::strerror(err));
      }
      std::string holder = holder_of(fd);
      ::close(fd);
      throw UserError(dir.string() + " is in use by another engine process (" + holder +
                      "). Nothing was changed; wait for it to finish or stop it, or use another directory "
                      "(--run-dir DIR).");
    }
    // Between open and flock the file may have been moved away with its directory (--fresh):
    // only the file the path names now counts.
    struct stat named {};
    if (::stat(path.c_str(), &named) != 0 || named.st_dev != opened.st_dev || named.st_ino != opened.st_ino) {
      ::close(fd);
      continue;
    }
    write_holder(fd);
    g_held[key] = Held{fd, 1, dir, !existed};
    return key;
  }
  cannot_lock(dir, "its lock file keeps being replaced");
}

// A directory the lock created and nothing else used (a study's run that another seed's run
// stood in for) goes again, removed while still locked: a process waiting on the lock file then
// finds it gone and starts over.
void remove_if_unused(const Held& held) {
  std::error_code ec;
  for (fs::directory_iterator it(held.dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().filename() != kRunLockFile) return;
  if (ec) return;
  fs::remove(held.dir / kRunLockFile, ec);
  fs::remove(held.dir, ec);
}

void release(std::pair<uint64_t, uint64_t> key) {
  std::lock_guard<std::mutex> guard(g_mutex);
  auto it = g_held.find(key);
  if (it == g_held.end() || --it->second.users > 0) return;
  if (it->second.created) remove_if_unused(it->second);
  ::close(it->second.fd);  // drops the flock
  g_held.erase(it);
}
}  // namespace

RunLock::RunLock(const fs::path& dir) : dir_(dir) { std::tie(device_, inode_) = acquire(dir_); }

RunLock::~RunLock() { release({device_, inode_}); }

int RunLock::fd() const {
  std::lock_guard<std::mutex> guard(g_mutex);
  auto it = g_held.find({device_, inode_});
  return it == g_held.end() ? -1 : it->second.fd;
}

void RunLock::relock() {
  auto moved = std::make_pair(device_, inode_);
  std::tie(device_, inode_) = acquire(dir_);
  {
    std::lock_guard<std::mutex> guard(g_mutex);  // its path now names the new directory
    if (auto it = g_held.find(moved); it != g_held.end()) it->second.created = false;
  }
  release(moved);
}

}  // namespace engine
