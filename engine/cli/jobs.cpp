#include "engine/cli/jobs.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <iostream>
#include <list>
#include <thread>

#include "engine/cli/launch.hpp"
#include "engine/core/error.hpp"
#include "engine/core/run_lock.hpp"
#include "engine/nn/runner/run.hpp"

extern char** environ;

namespace engine {

namespace fs = std::filesystem;

namespace {
constexpr int kMaxJobs = 256;
std::atomic<pid_t> g_jobs[kMaxJobs];  // by slot; 0: free
std::atomic<bool> g_interrupted{false};

// As for --nproc's ranks: a Ctrl-C in the terminal has reached the jobs already (they share
// its process group), and a second SIGINT would end them mid-epoch.
extern "C" void forward_to_jobs(int sig, siginfo_t* info, void*) {
  g_interrupted = true;
  if (from_terminal(sig, info)) return;
  for (auto& pid : g_jobs)
    if (pid_t p = pid.load(); p > 0) kill(p, sig);
}

struct Forwarding {
  struct sigaction old_int {
  }, old_term{};
  Forwarding() {
    g_interrupted = false;
    struct sigaction forward {};
    forward.sa_sigaction = forward_to_jobs;
    forward.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&forward.sa_mask);
    sigaction(SIGINT, &forward, &old_int);
    sigaction(SIGTERM, &forward, &old_term);
  }
  ~Forwarding() {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
  }
};

std::string now_text() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", std::localtime(&t));
  return buf;
}

std::string threads_text(int n) { return std::to_string(n) + (n == 1 ? " thread" : " threads"); }

// The environment of a job: this one's, with its threads and the lock it inherits.
std::vector<std::string> job_environment(int threads, int lock_fd) {
  std::vector<std::string> env;
  const std::string threads_key = std::string(kThreadsEnv) + "=", lock_key = std::string(kInheritedLockEnv) + "=";
  for (char** e = environ; e && *e; ++e) {
    std::string entry = *e;
    if (entry.rfind(threads_key, 0) != 0 && entry.rfind(lock_key, 0) != 0) env.push_back(entry);
  }
  env.push_back(threads_key + std::to_string(threads));
  env.push_back(lock_key + std::to_string(lock_fd));
  return env;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> p;
  for (auto& s : strings) p.push_back(s.data());
  p.push_back(nullptr);
  return p;
}

// Starts `exe job.args...` with its output appended to the job's log; returns its pid. Only
// async-signal-safe calls between fork and exec: the study may have other threads.
pid_t start(const Job& job, const std::string& exe, int threads, int lock_fd, int slot) {
  const fs::path log = job.dir / kJobLog;
  int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0) throw UserError("cannot write " + log.string() + ": " + std::strerror(errno));
  std::vector<std::string> argv{exe};
  argv.insert(argv.end(), job.args.begin(), job.args.end());
  std::string command;
  for (const auto& a : argv) command += (command.empty() ? "" : " ") + a;
  const std::string header = "=== " + now_text() + " engine study started: " + command + " (" + kThreadsEnv + "=" +
                             std::to_string(threads) + ")\n";
  [[maybe_unused]] ssize_t written = ::write(out, header.data(), header.size());
  std::vector<std::string> env = job_environment(threads, lock_fd);
  std::vector<char*> cargv = pointers(argv), cenv = pointers(env);

  // Signals wait until the pid is in g_jobs, so each one reaches every job started.
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  std::cout.flush();
  pid_t pid = fork_child();
  if (pid == 0) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    dup2(out, 1);
    dup2(out, 2);
    fcntl(lock_fd, F_SETFD, 0);  // the lock stays open across exec
    execve(exe.c_str(), cargv.data(), cenv.data());
    const char msg[] = "error: cannot start the engine executable\n";
    [[maybe_unused]] ssize_t n = ::write(2, msg, sizeof msg - 1);
    _exit(127);
  }
  if (pid > 0) g_jobs[slot] = pid;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::close(out);
  if (pid < 0) throw std::runtime_error("fork failed for " + job.label + ": " + std::strerror(errno));
  return pid;
}

struct Running {
  size_t job;
  pid_t pid;
  int slot;
  std::chrono::steady_clock::time_point since;
};

// Prints how a job ended; the first failure is kept in `failed` (its exit code) and `failed_job`.
void ended(const Job& job, const Running& run, int status, size_t others_running, int& failed,
           std::string& failed_job) {
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - run.since).count();
  const int code = exit_code_of(status);
  const bool stopped = code == 130 || (code != 0 && g_interrupted);  // by a signal: not the run's fault
  const char* how = code == 0 ? "done" : stopped ? "interrupted" : "failed";
  std::cout << "[study] " << job.label << ": " << how << ", " << describe_exit(status) << " after "
            << static_cast<int64_t>(seconds + 0.5) << " s";
  if (code != 0 && !stopped) std::cout << "; its output: " << (job.dir / kJobLog).string();
  std::cout << std::endl;
  if (code == 0 || failed) return;
  failed = code;
  failed_job = job.label + " (" + (job.dir / kJobLog).string() + ")";
  if (!stopped && others_running > 0)
    std::cout << "[study] no more runs start; waiting for the " << others_running << " still running" << std::endl;
}
}  // namespace

std::vector<Wave> plan_waves(const std::vector<double>& costs, int parallel, int cores) {
  std::vector<size_t> order(costs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return costs[a] > costs[b]; });
  const size_t width = static_cast<size_t>(std::clamp(parallel, 1, kMaxJobs));
  std::vector<Wave> waves;
  for (size_t i = 0; i < order.size();) {
    size_t k = std::min(width, order.size() - i);
    // Sorted: the group's first job is its costliest and its last the cheapest.
    while (k > 1 && costs[order[i]] > kBalance * costs[order[i + k - 1]]) --k;
    waves.push_back(
        {{order.begin() + static_cast<std::ptrdiff_t>(i), order.begin() + static_cast<std::ptrdiff_t>(i + k)},
         std::max(1, cores / static_cast<int>(k))});
    i += k;
  }
  return waves;
}

int run_jobs(const std::vector<Job>& jobs, const std::vector<Wave>& waves) {
  if (jobs.empty()) return 0;
  const std::string exe = self_executable();
  // The study holds every run directory's lock; each job shares it instead of taking its own.
  std::list<RunLock> locks;
  std::vector<int> lock_fds;
  for (const auto& job : jobs) lock_fds.push_back(locks.emplace_back(job.dir).fd());

  Forwarding forwarding;
  std::list<Running> running;
  int failed = 0;
  std::string failed_job;
  for (const Wave& wave : waves) {
    if (g_interrupted || failed) break;
    for (size_t slot = 0; slot < wave.jobs.size() && !g_interrupted; ++slot) {
      const size_t j = wave.jobs[slot];
      const Job& job = jobs[j];
      pid_t pid = start(job, exe, wave.threads, lock_fds[j], static_cast<int>(slot));
      running.push_back({j, pid, static_cast<int>(slot), std::chrono::steady_clock::now()});
      std::cout << "[study] " << job.label << ": started (pid " << pid << ", " << threads_text(wave.threads)
                << "; output in " << (job.dir / kJobLog).string() << ")" << std::endl;
    }
    while (!running.empty()) {
      for (auto it = running.begin(); it != running.end();) {
        int status = 0;
        pid_t r = waitpid(it->pid, &status, WNOHANG);
        if (r == 0 || (r < 0 && errno == EINTR)) {
          ++it;
          continue;
        }
        if (r < 0) status = 1 << 8;  // not our child any more: cannot say how it ended
        g_jobs[it->slot] = 0;
        ended(jobs[it->job], *it, status, running.size() - 1, failed, failed_job);
        it = running.erase(it);
      }
      if (!running.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  if (g_interrupted) return 130;
  if (failed && failed != 130)
    std::cerr << "error: the study stopped because " << failed_job << " failed with exit " << failed
              << "; finished runs are kept: fix the cause and run the same command to resume\n";
  return failed;
}

}  // namespace engine
