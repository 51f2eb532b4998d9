// What the engine does when the world misbehaves: a second process in a run directory,
// signals, full or read-only disks, damaged checkpoints, too little memory. Most cases run the
// engine binary as a child process, as a user or a scheduler would.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <functional>
#include <map>
#include <thread>
#include <utility>

#include "engine/core/memory.hpp"
#include "engine/core/run_dir.hpp"
#include "engine/core/run_lock.hpp"
#include "tests/support.hpp"

using namespace engine;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// A child process; its stdout and stderr go to files beside `log`. One not waited for (a check
// failed) is killed with the scope.
struct Child {
  pid_t pid = -1;
  fs::path out, err;
  Child() = default;
  Child(Child&& other) noexcept : pid(std::exchange(other.pid, -1)), out(other.out), err(other.err) {}
  ~Child() {
    if (pid > 0) ::kill(pid, SIGKILL), ::waitpid(pid, nullptr, 0);
  }
  std::string stderr_text() const { return test::read_file(err); }
};

Child spawn(const std::vector<std::string>& args, const fs::path& log, const fs::path& cwd = {}) {
  Child c;
  c.out = log.string() + ".out";
  c.err = log.string() + ".err";
  std::vector<char*> argv;  // built before fork: the child may only exec
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  c.pid = ::fork();
  REQUIRE(c.pid >= 0);
  if (c.pid == 0) {
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    int out = ::open(c.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = ::open(c.err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(out, 1);
    ::dup2(err, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return c;
}

// The exit code, 128 + N for a signal, -1 after `timeout` seconds (the child is then killed).
int wait_exit(Child& c, double timeout = 120) {
  auto start = Clock::now();
  for (;;) {
    int status = 0;
    if (::waitpid(c.pid, &status, WNOHANG) == c.pid) {
      c.pid = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (seconds_since(start) > timeout) return -1;  // killed with the Child
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

bool wait_until(const std::function<bool()>& done, double timeout = 60) {
  auto start = Clock::now();
  while (!done()) {
    if (seconds_since(start) > timeout) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// metrics.csv without the timing columns (seconds, img_per_s), which no two runs share.
std::string without_timings(const fs::path& run) {
  std::istringstream in(test::read_file(run / "metrics.csv"));
  std::string line, out;
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    std::istringstream cells(line);
    for (std::string cell; std::getline(cells, cell, ',');) fields.push_back(cell);
    for (size_t k = 0; k < fields.size(); ++k)
      if (k != 6 && k != 7) out += fields[k] + ",";
    out += "\n";
  }
  return out;
}

// Epochs 1..n, each once, every row whole (read_metrics refuses anything else).
void check_epochs_once(const fs::path& run, size_t n) {
  std::vector<EpochRow> rows = RunDir(run).read_metrics();
  REQUIRE(rows.size() == n);
  for (size_t k = 0; k < n; ++k) CHECK(rows[k].epoch == static_cast<int>(k + 1));
}

std::vector<fs::path> temp_files(const fs::path& run) {
  std::vector<fs::path> found;
  for (const auto& e : fs::directory_iterator(run))
    if (e.path().extension() == ".tmp") found.push_back(e.path());
  return found;
}

// The files that hold a run's state, byte for byte.
std::map<std::string, std::string> state_of(const fs::path& run) {
  std::map<std::string, std::string> files;
  for (const char* name : {"last.pt", "best.pt", "metrics.csv", "summary.toml"})
    files[name] = test::read_file(run / name);
  return files;
}

struct Fixture {
  test::TempDir dir{"engine-robust"};
  fs::path data = dir / "data";
  fs::path graph;
  explicit Fixture(int train_per_class = 24) {
    test::write_tiny_dataset(data, 3, train_per_class);
    graph = dir.write("tiny.toml", test::tiny_graph("tiny"));
  }
  // `engine run` of the tiny graph into `out` (relative to the fixture), as an argument list.
  std::vector<std::string> run_args(const std::string& out, std::vector<std::string> sets = {},
                                    bool binary = true) const {
    std::vector<std::string> args{"run", graph.string(), "--run-dir", (dir / out).string(), "--data", data.string()};
    if (binary) args.insert(args.begin(), ENGINE_BINARY);
    for (auto& s : sets) args.insert(args.end(), {"--set", s});
    return args;
  }
};

// Epochs of many small steps (half a second or more each), to act in the middle of one.
const std::vector<std::string> kSlow{"train.epochs=2", "train.batch_size=2"};
constexpr int kSlowImages = 40;  // train images per class for kSlow

// Sets an environment variable for one scope.
struct EnvVar {
  std::string name;
  EnvVar(std::string n, const std::string& value) : name(std::move(n)) { ::setenv(name.c_str(), value.c_str(), 1); }
  ~EnvVar() { ::unsetenv(name.c_str()); }
};

// A mount that goes away with the scope, even when a check fails.
struct Mount {
  fs::path at;
  ~Mount() {
    if (!at.empty()) ::umount2(at.c_str(), MNT_DETACH);
  }
};
}  // namespace

TEST_SUITE("robustness") {
  TEST_CASE(
      "a second run, test or study of a directory in use stops at once naming the holder; the first run is untouched") {
    Fixture f(kSlowImages);
    const fs::path run = f.dir / "runs" / "tiny-s0";  // where a study puts the graph's seed-0 run
    Child first = spawn(f.run_args("runs/tiny-s0", kSlow), f.dir / "first");
    REQUIRE(wait_until([&] { return fs::exists(run / "last.pt"); }));
    // Frozen mid-epoch, so the probes below cannot outlast it however slow the machine is; it
    // holds its lock all the same.
    ::kill(first.pid, SIGSTOP);
    const std::string holder = "(pid " + std::to_string(first.pid) + ": `" + std::string(ENGINE_BINARY) + " run ";
    const std::string before = test::read_file(run / "metrics.csv");

    auto start = Clock::now();
    Child second = spawn(f.run_args("runs/tiny-s0", kSlow), f.dir / "second");
    int code = wait_exit(second, 60);
    double seconds = seconds_since(start);
    MESSAGE("second run refused after " << seconds << " s");
    CHECK(code == 2);
    CHECK(seconds < 10);
    CHECK(second.stderr_text().find(run.string() + " is in use by another engine process " + holder) !=
          std::string::npos);
    CHECK(test::read_file(run / "metrics.csv") == before);

    Child tester =
        spawn({ENGINE_BINARY, "test", f.graph.string(), "--run-dir", run.string(), "--data", f.data.string()},
              f.dir / "tester");
    CHECK(wait_exit(tester, 60) == 2);
    CHECK(tester.stderr_text().find("is in use by another engine process " + holder) != std::string::npos);
    CHECK_FALSE(fs::exists(run / "test"));

    // A study locks all of its run directories before it trains any.
    f.dir.write("other.toml", test::tiny_graph("other"));
    f.dir.write("study.toml", "[[stages]]\nname = \"1\"\ngraphs = [\"other.toml\", \"tiny.toml\"]\n");
    Child study =
        spawn({ENGINE_BINARY, "study", "study.toml", "--data", f.data.string()}, f.dir / "study", f.dir.path());
    CHECK(wait_exit(study, 60) == 2);
    CHECK(study.stderr_text().find("is in use by another engine process " + holder) != std::string::npos);
    CHECK_FALSE(fs::exists(f.dir / "runs" / "other-s0"));  // locked first, then left as it was: absent

    ::kill(first.pid, SIGCONT);
    CHECK(wait_exit(first) == 0);
    check_epochs_once(run, 2);
    CHECK(temp_files(run).empty());
  }

  TEST_CASE("a lock is shared within one process and follows --fresh to the new directory") {
    test::TempDir dir{"engine-lock"};
    const fs::path run = dir / "run", moved = dir / "run.prev-1";
    auto locked = [](const fs::path& d) {  // as another process sees it: through another open of the file
      int fd = ::open((d / kRunLockFile).c_str(), O_RDWR);
      if (fd < 0) return false;
      bool held = ::flock(fd, LOCK_EX | LOCK_NB) != 0;
      ::close(fd);
      return held;
    };
    {
      RunLock lock(run);
      CHECK(locked(run));
      CHECK(test::read_file(run / kRunLockFile).rfind("pid " + std::to_string(::getpid()) + "\ncommand ", 0) == 0);
      { RunLock again(run); }  // a study's run, then its test
      CHECK(locked(run));
      fs::rename(run, moved);
      lock.relock();
      CHECK(locked(run));
      CHECK_FALSE(locked(moved));
      CHECK(fs::exists(moved / kRunLockFile));
    }
    CHECK_FALSE(locked(run));
    CHECK_FALSE(fs::exists(run));  // created by the lock and left empty: removed with it
  }

  TEST_CASE("a run killed with SIGKILL leaves no stale lock: the next run resumes at once") {
    Fixture f(kSlowImages);
    const fs::path run = f.dir / "run";
    Child killed = spawn(f.run_args("run", kSlow), f.dir / "killed");
    REQUIRE(wait_until([&] { return fs::exists(run / "last.pt"); }));
    ::kill(killed.pid, SIGKILL);
    CHECK(wait_exit(killed) == 128 + SIGKILL);
    CHECK(fs::exists(run / kRunLockFile));
    auto r = test::run_cli(f.run_args("run", kSlow, false));
    INFO(r.err);
    CHECK(r.code == 0);
    check_epochs_once(run, 2);
  }

  TEST_CASE("SIGINT or SIGTERM mid-epoch: exit 130, only whole epochs kept, the rerun equals an uninterrupted run") {
    Fixture f(kSlowImages);
    REQUIRE(test::run_cli(f.run_args("whole", kSlow, false)).code == 0);
    for (int sig : {SIGINT, SIGTERM}) {
      CAPTURE(sig);
      const std::string name = sig == SIGINT ? "int" : "term";
      const fs::path run = f.dir / name;
      Child c = spawn(f.run_args(name, kSlow), f.dir / name);
      REQUIRE(wait_until([&] { return fs::exists(run / "last.pt"); }));
      ::kill(c.pid, sig);  // epoch 1 is committed, epoch 2 begins: it takes half a second or more
      CHECK(wait_exit(c) == 130);
      check_epochs_once(run, 1);
      CHECK(test::read_file(run / "train.log").find("interrupted during epoch 2") != std::string::npos);
      CHECK(temp_files(run).empty());

      Child rerun = spawn(f.run_args(name, kSlow), f.dir / (name + "-rerun"));
      CHECK(wait_exit(rerun) == 0);
      check_epochs_once(run, 2);
      CHECK(without_timings(run) == without_timings(f.dir / "whole"));
    }
  }

  TEST_CASE("SIGTERM to a study with --jobs reaches its runs: exit 130, whole epochs kept, no run left behind") {
    Fixture f(kSlowImages);
    for (std::string name : {"a", "b"})  // kSlow's epochs in the graph files a study reads; two configs, two runs
      f.dir.write(name + ".toml", "extends = \"tiny.toml\"\nname = \"" + name + "\"\n[train]\nbatch_size = 2\n" +
                                      (name == "b" ? "[vars]\nwidth = 4\n" : ""));
    f.dir.write("study.toml", "[[stages]]\nname = \"1\"\ngraphs = [\"a.toml\", \"b.toml\"]\n");
    const std::vector<std::string> args{ENGINE_BINARY, "study", "study.toml", "--data", f.data.string(), "--jobs", "2"};
    const fs::path a = f.dir / "runs" / "a-s0", b = f.dir / "runs" / "b-s0";
    Child study = spawn(args, f.dir / "study", f.dir.path());
    REQUIRE(wait_until([&] { return fs::exists(a / "last.pt") || fs::exists(b / "last.pt"); }));
    ::kill(study.pid, SIGTERM);  // one run is in epoch 2; the other in epoch 1 or 2
    const fs::path ahead = fs::exists(a / "last.pt") ? a : b;
    CHECK(wait_exit(study) == 130);
    const std::string out = test::read_file(f.dir / "study.out");
    CAPTURE(out);
    CHECK(out.find("interrupted; run the same command to resume") != std::string::npos);
    for (const auto& run : {a, b}) CHECK_NOTHROW(RunLock{run});  // no job outlived the study holding its directory
    check_epochs_once(ahead, 1);
    CHECK(test::read_file(ahead / "train.log").find("interrupted during epoch 2") != std::string::npos);
    Child rerun = spawn(args, f.dir / "rerun", f.dir.path());
    CHECK(wait_exit(rerun) == 0);
    check_epochs_once(a, 2);
    check_epochs_once(b, 2);
  }

  TEST_CASE(
      "a file-size limit (EFBIG) stops the run naming the file and the cause; the last epoch's state stays; the rerun "
      "resumes") {
    Fixture f;
    REQUIRE(test::run_cli(f.run_args("whole", {}, false)).code == 0);
    std::vector<std::string> first = f.run_args("run", {}, false);
    first.insert(first.end(), {"--stop-after", "1"});
    REQUIRE(test::run_cli(first).code == 0);
    const fs::path run = f.dir / "run";
    auto state = state_of(run);
    // Half a checkpoint: metrics.csv and summary.toml still fit, best.pt or last.pt does not.
    const auto blocks = fs::file_size(run / "last.pt") / 2 / 512;
    REQUIRE(fs::file_size(run / "summary.toml") < blocks * 512);
    std::vector<std::string> args{"/bin/sh", "-c", "ulimit -f " + std::to_string(blocks) + " && exec \"$0\" \"$@\""};
    for (const auto& a : f.run_args("run")) args.push_back(a);
    Child limited = spawn(args, f.dir / "limited");
    CHECK(wait_exit(limited) == 2);
    const std::string err = limited.stderr_text();
    INFO(err);
    CHECK(err.find("error: cannot write " + run.string() + "/") != std::string::npos);
    CHECK(err.find(".pt: " + std::string(std::strerror(EFBIG))) != std::string::npos);
    CHECK(err.find(run.string() + " keeps epoch 1 as its last complete one; run the same command again") !=
          std::string::npos);
    CHECK(state_of(run) == state);
    CHECK(temp_files(run).empty());

    REQUIRE(test::run_cli(f.run_args("run", {}, false)).code == 0);
    check_epochs_once(run, 2);
    CHECK(without_timings(run) == without_timings(f.dir / "whole"));
  }

  TEST_CASE(
      "a full disk (ENOSPC on a small tmpfs) and a directory that becomes read-only stop the run cleanly (root only)") {
    Fixture f(kSlowImages);
    Mount tmpfs;
    const fs::path mnt = f.dir / "mnt";
    fs::create_directories(mnt);
    if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=2m") != 0) {
      MESSAGE("skipped: cannot mount a tmpfs here (" << std::strerror(errno) << ")");
      return;
    }
    tmpfs.at = mnt;
    // Pinned: "auto" measures per runs folder (here two), and the two could pick different formats.
    const std::string format = "train.memory_format=channels_last";
    REQUIRE(test::run_cli(f.run_args("whole", {format}, false)).code == 0);
    const fs::path run = mnt / "run";
    const std::vector<std::string> on_tmpfs{"data.cache=false", format};  // the decoded images would not fit
    std::vector<std::string> first = f.run_args("mnt/run", on_tmpfs, false);
    first.insert(first.end(), {"--stop-after", "1"});
    REQUIRE(test::run_cli(first).code == 0);
    auto state = state_of(run);
    {
      int fd = ::open((mnt / "filler").c_str(), O_WRONLY | O_CREAT, 0644);
      std::string block(1 << 16, 'x');
      while (::write(fd, block.data(), block.size()) > 0) {
      }
      ::close(fd);
    }
    Child full = spawn(f.run_args("mnt/run", on_tmpfs), f.dir / "full");
    CHECK(wait_exit(full) == 2);
    std::string err = full.stderr_text();
    INFO(err);
    CHECK(err.find("error: cannot write " + run.string() + "/") != std::string::npos);
    CHECK(err.find(std::strerror(ENOSPC)) != std::string::npos);
    CHECK(state_of(run) == state);
    CHECK(temp_files(run).empty());
    fs::remove(mnt / "filler");
    REQUIRE(test::run_cli(f.run_args("mnt/run", on_tmpfs, false)).code == 0);
    check_epochs_once(run, 2);
    CHECK(without_timings(run) == without_timings(f.dir / "whole"));

    // Read-only from the middle of epoch 2 on: a read-only bind mount over the run directory.
    const fs::path ro = f.dir / "ro";
    Child c = spawn(f.run_args("ro", kSlow), f.dir / "ro");
    REQUIRE(wait_until([&] { return fs::exists(ro / "last.pt"); }));
    Mount bind;
    REQUIRE(::mount(ro.c_str(), ro.c_str(), nullptr, MS_BIND, nullptr) == 0);
    bind.at = ro;
    REQUIRE(::mount(nullptr, ro.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) == 0);
    CHECK(wait_exit(c) == 2);
    err = c.stderr_text();
    CHECK(err.find("error: cannot write " + (ro / "metrics.csv").string() + ": " + std::strerror(EROFS)) !=
          std::string::npos);
    // Read-only from the start: the lock file cannot be opened for writing.
    Child again = spawn(f.run_args("ro", kSlow), f.dir / "ro-again");
    CHECK(wait_exit(again) == 2);
    CHECK(again.stderr_text().find("cannot lock the run directory " + ro.string() + ": " +
                                   (ro / kRunLockFile).string() + ": " + std::strerror(EROFS)) != std::string::npos);
    ::umount2(ro.c_str(), MNT_DETACH);
    bind.at.clear();
    check_epochs_once(ro, 1);
    CHECK(RunDir(ro).read_result().epochs == 1);
    REQUIRE(test::run_cli(f.run_args("ro", kSlow, false)).code == 0);
    check_epochs_once(ro, 2);
  }

  TEST_CASE("a truncated or corrupt checkpoint is named with the way on, not a LibTorch stack") {
    Fixture f;
    std::vector<std::string> first = f.run_args("run", {}, false);
    first.insert(first.end(), {"--stop-after", "1"});
    REQUIRE(test::run_cli(first).code == 0);
    const fs::path run = f.dir / "run";
    const std::string last = test::read_file(run / "last.pt"), best = test::read_file(run / "best.pt");
    auto check_refused = [&](const std::vector<std::string>& args, const std::string& file, const std::string& fix) {
      auto r = test::run_cli(args);
      INFO(r.err);
      CHECK(r.code == 2);
      CHECK(r.err.find("error: " + (run / file).string() + ": truncated or corrupt checkpoint (") != std::string::npos);
      CHECK(r.err.find(fix) != std::string::npos);
      CHECK(r.err.find("Exception raised from") == std::string::npos);
      CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    };
    const std::string delete_it = "Delete it to train this run again from epoch 1";
    std::ofstream(run / "last.pt", std::ios::binary) << last.substr(0, last.size() / 2);
    check_refused(f.run_args("run", {}, false), "last.pt", delete_it);
    std::ofstream(run / "last.pt", std::ios::binary) << std::string(last.size(), '\x5a');
    check_refused(f.run_args("run", {}, false), "last.pt", delete_it);
    std::ofstream(run / "last.pt", std::ios::binary) << "";
    check_refused(f.run_args("run", {}, false), "last.pt", "--fresh");

    std::ofstream(run / "best.pt", std::ios::binary) << best.substr(0, best.size() - 100);
    check_refused({"test", f.graph.string(), "--run-dir", run.string(), "--data", f.data.string()}, "best.pt",
                  "Retrain with engine run --fresh");

    // The advice works: without last.pt the run trains again from epoch 1.
    fs::remove(run / "last.pt");
    REQUIRE(test::run_cli(f.run_args("run", {}, false)).code == 0);
    check_epochs_once(run, 2);
  }

  TEST_CASE(
      "a dataset larger than the memory limit is refused before decoding, with the figures; the peak is recorded") {
    Fixture f;
    // A garbage image: had decoding started, it would be the error.
    std::ofstream(f.data / "train" / "n00001000" / "images" / "n00001000_0.JPEG", std::ios::binary) << "garbage";
    {
      EnvVar limit("ENGINE_MEMORY_LIMIT_MB", "0.1");
      auto r = test::run_cli(f.run_args("run", {}, false));
      INFO(r.err);
      CHECK(r.code == 2);
      CHECK(r.err.find("error: data: 72 images of 3x32x32 decoded need 0.2 MB of memory, more than the 0.1 MB "
                       "available (ENGINE_MEMORY_LIMIT_MB); ") != std::string::npos);
      CHECK_FALSE(fs::exists(f.dir / "run" / "metrics.csv"));
      // No decoded-image cache (.cache/ itself may hold the measured plan of memory_format = "auto").
      bool decoded = false;
      if (fs::exists(f.dir / ".cache"))
        for (const auto& entry : fs::directory_iterator(f.dir / ".cache"))
          decoded |= entry.path().filename().string().rfind("tiny-imagenet", 0) == 0;
      CHECK_FALSE(decoded);
    }
    {
      EnvVar limit("ENGINE_MEMORY_LIMIT_MB", "lots");
      auto r = test::run_cli(f.run_args("run", {}, false));
      CHECK(r.code == 2);
      CHECK(r.err.find("ENGINE_MEMORY_LIMIT_MB = 'lots' is not a positive number of megabytes") != std::string::npos);
    }
    MemoryLimit detected = available_memory();
    CHECK(detected.bytes > 0);
    CHECK_FALSE(detected.source.empty());

    test::write_tiny_dataset(f.data);  // whole again
    REQUIRE(test::run_cli(f.run_args("run", {}, false)).code == 0);
    RunResult r = RunDir(f.dir / "run").read_result();
    CHECK(r.peak_rss_mb > 10);              // a LibTorch process
    CHECK(r.peak_rss_mb <= peak_rss_mb());  // this process's peak so far bounds the run's
    CHECK(test::read_file(f.dir / "run" / "summary.toml").find("peak_rss_mb = ") != std::string::npos);
  }
}
