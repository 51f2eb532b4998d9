#include "engine/cli/launch.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "engine/core/error.hpp"
#include "engine/nn/dist/world.hpp"

namespace engine {

namespace {
constexpr int kMaxRanks = 256;
pid_t g_ranks[kMaxRanks];
std::atomic<int> g_started{0};

// Passes on signals sent to the launcher alone; Ctrl-C in the terminal already reached every rank
// (they share its process group), and a second SIGINT would kill them mid-epoch.
extern "C" void forward_signal(int sig, siginfo_t* info, void*) {
  if (from_terminal(sig, info)) return;
  for (int k = 0; k < g_started; ++k) kill(g_ranks[k], sig);
}

int free_port() {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof a;
  if (s < 0 || bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(s, reinterpret_cast<sockaddr*>(&a), &size) != 0)
    throw std::runtime_error("no free TCP port on 127.0.0.1 for the ranks' rendezvous");
  close(s);
  return ntohs(a.sin_port);
}

}  // namespace

pid_t fork_child() {
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid != 0) return pid;
  prctl(PR_SET_PDEATHSIG, SIGTERM);  // a killed parent takes its children with it
  if (getppid() != parent) _exit(1);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  return 0;
}

bool from_terminal(int sig, const siginfo_t* info) { return sig == SIGINT && info && info->si_code == SI_KERNEL; }

std::string self_executable() {
  if (const char* exe = std::getenv("ENGINE_EXE")) return exe;
  char path[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) throw std::runtime_error("cannot find this executable (/proc/self/exe) to start it again");
  return std::string(path, static_cast<size_t>(n));
}

std::string describe_exit(int status) {
  if (WIFSIGNALED(status)) return "was killed by signal " + std::to_string(WTERMSIG(status));
  return "exited with " + std::to_string(WEXITSTATUS(status));
}

int exit_code_of(int status) { return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status); }

int launch_local_ranks(int nproc, const std::vector<std::string>& args) {
  if (nproc > kMaxRanks) throw UserError("--nproc " + std::to_string(nproc) + ": at most " + std::to_string(kMaxRanks));
  if (dist::world_from_env().distributed())
    throw UserError(
        "--nproc: this process is already one of several ranks (RANK/WORLD_SIZE or Slurm variables "
        "are set); start either the ranks or the launcher");
  if (!dist::gloo_available())
    throw UserError("--nproc " + std::to_string(nproc) +
                    " needs c10d's Gloo backend, and this engine was built "
                    "without it: install libgloo-dev (apt-get install libgloo-dev) and rebuild");
  const std::string exe = self_executable();
  std::vector<std::string> argv{exe};
  argv.insert(argv.end(), args.begin(), args.end());
  bool threads_set = false;
  for (const auto& a : args) threads_set |= a.find("train.threads=") != std::string::npos;
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  const std::string port = std::to_string(free_port());

  struct sigaction forward {
  }, old_int{}, old_term{};
  forward.sa_sigaction = forward_signal;
  forward.sa_flags = SA_SIGINFO | SA_RESTART;
  sigaction(SIGINT, &forward, &old_int);
  sigaction(SIGTERM, &forward, &old_term);
  std::cout.flush();
  for (int rank = 0; rank < nproc; ++rank) {
    pid_t pid = fork_child();
    if (pid == 0) {
      setenv("RANK", std::to_string(rank).c_str(), 1);
      setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
      setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      setenv("MASTER_ADDR", "127.0.0.1", 1);
      setenv("MASTER_PORT", port.c_str(), 1);
      if (!threads_set) setenv("ENGINE_RANK_THREADS", "1", 1);  // read by prepare_model
      execv(exe.c_str(), cargv.data());
      std::cerr << "error: cannot start " << exe << " as rank " << rank << "\n";
      _exit(127);
    }
    if (pid < 0) {
      std::cerr << "error: fork failed for rank " << rank << "\n";
      forward_signal(SIGTERM, nullptr, nullptr);
      break;
    }
    g_ranks[rank] = pid;
    g_started = rank + 1;
  }

  // Wait for every rank. Once one fails, the others stop by themselves within the collective
  // timeout; past it (and a margin) they are killed, so the launcher never hangs.
  const int started = g_started;
  std::vector<int> status(started, -1);
  int left = started;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  bool killed = false;
  while (left > 0) {
    int st = 0;
    pid_t pid = waitpid(-1, &st, WNOHANG);
    if (pid > 0) {
      for (int k = 0; k < started; ++k)
        if (g_ranks[k] == pid) {
          status[k] = st;
          --left;
          if (exit_code_of(st) != 0 && deadline == std::chrono::steady_clock::time_point::max())
            deadline = std::chrono::steady_clock::now() + dist::collective_timeout() + std::chrono::seconds(15);
        }
      continue;
    }
    if (!killed && std::chrono::steady_clock::now() > deadline) {
      killed = true;
      for (int k = 0; k < started; ++k)
        if (status[k] == -1) {
          std::cerr << "engine: rank " << k << " still running past the collective timeout after another rank "
                    << "failed; killing it\n";
          kill(g_ranks[k], SIGKILL);
        }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  g_started = 0;

  int result = started == nproc ? 0 : 1;
  for (int k = 0; k < started; ++k) {
    if (exit_code_of(status[k]) == 0) continue;
    const int code = exit_code_of(status[k]);  // 1, 2 and 130 come with the rank's own message
    if (code != 1 && code != 2 && code != 130)
      std::cerr << "engine: rank " << k << " of " << nproc << " " << describe_exit(status[k]) << "\n";
    if (result == 0) result = exit_code_of(status[k]);
  }
  return result;
}

}  // namespace engine
