#pragma once
// `engine run --nproc N` (and study): N ranks of this engine on this host, started with the
// launcher contract torchrun would set (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR=127.0.0.1,
// MASTER_PORT = a free port), each on one thread (ENGINE_RANK_THREADS=1) unless the command line
// sets train.threads.
#include <signal.h>
#include <sys/types.h>

#include <string>
#include <vector>

namespace engine {

// Runs `engine args...` (args without --nproc) as ranks 0..nproc-1 and waits for all of them.
// Ctrl-C reaches every rank from the terminal; a SIGINT or SIGTERM sent to this process is passed
// on. Returns 0, or rank 0's exit code if it failed, else the first failing rank's.
int launch_local_ranks(int nproc, const std::vector<std::string>& args);

// fork() for a child engine process (ranks, study jobs). In the child, it dies with this process
// (SIGTERM when the parent goes) and SIGINT/SIGTERM have their default actions again; a child
// whose parent is already gone exits. Returns as fork() does; only async-signal-safe calls.
pid_t fork_child();

// Whether a SIGINT came from the terminal: it then reached every child in the process group
// already, and passing it on would end them mid-epoch.
bool from_terminal(int sig, const siginfo_t* info);

// This engine's executable ($ENGINE_EXE when set: tests drive the CLI from another binary).
std::string self_executable();
// A waitpid status in words ("exited with 2", "was killed by signal 9"), and as an exit code
// (128 + the signal when killed).
std::string describe_exit(int status);
int exit_code_of(int status);

}  // namespace engine
