#pragma once
// Where this process sits among the ranks of a data-parallel run, as the launcher's environment
// says: torchrun's contract (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) or Slurm's
// (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, the first host of SLURM_JOB_NODELIST). Torch-free,
// so the command layer can ask it too.
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>

namespace engine::dist {

struct WorldInfo {
  int rank = 0, size = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string source;  // "RANK/WORLD_SIZE" or "Slurm", for messages
  bool distributed() const { return size > 1; }
};

// One process (size 1) when no launcher variable is set. A partial or invalid set (RANK without
// WORLD_SIZE, RANK >= WORLD_SIZE, a port out of range) is a UserError naming the variable.
// RANK/WORLD_SIZE wins over Slurm's variables; MASTER_PORT defaults to 29500 (under Slurm,
// 29500 + SLURM_JOB_ID % 10000, so that jobs sharing a node do not collide).
WorldInfo world_from_env();

// "node[01-04,07],gpu2" -> "node01": the host of Slurm's task 0, which serves the rendezvous.
std::string first_slurm_host(const std::string& nodelist);

// The threads this process should use, as its launcher says: OMP_NUM_THREADS (torchrun sets it
// to 1), else SLURM_CPUS_PER_TASK (sbatch/srun -c), else, for one of several ranks, `cores`
// shared by the ranks on this host (LOCAL_WORLD_SIZE, SLURM_NTASKS_PER_NODE, the leading count of
// SLURM_TASKS_PER_NODE, else all ranks); under Slurm `cores` is the job's SLURM_CPUS_ON_NODE.
// nullopt when no launcher says anything: a process alone uses every core. A value that is not a count >= 1 is a
// UserError naming the variable.
std::optional<int> launcher_threads(int cores);

// How long a collective waits for the other ranks before failing: ENGINE_DIST_TIMEOUT seconds
// (tests use a few), 60 by default.
std::chrono::milliseconds collective_timeout();

// "[rank 1] " on ranks other than 0, "" otherwise: the prefix of their messages.
std::string rank_prefix();

// Rank 0, or a process started alone: the one that writes files meant for people.
bool root_process();

// A collective failed: another rank exited, or did not answer within the timeout.
class DistError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Whether this build has c10d's Gloo backend (libgloo-dev at configure time); without it a run
// with more than one rank is refused. Defined in process_group.cpp.
bool gloo_available();

}  // namespace engine::dist
