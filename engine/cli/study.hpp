#pragma once
// `engine study`: the whole ablation chain from one TOML file (engine/core/study_plan.hpp).
// Stages run in order; every graph once per seed, identical configurations once; each stage is
// decided over its seeds with a paired test (engine/core/report/decision.hpp); a stage that
// builds on the previous winner must say so in its files' `extends`, which the study checks
// (and with --pin, edits); the final stage's winner is evaluated on the test split.
#include <filesystem>
#include <string>
#include <vector>

#include "engine/core/study_plan.hpp"

namespace engine {

struct StudyOptions {
  std::string data_root;
  std::string runs = "runs";      // where run directories go
  std::vector<std::string> sets;  // --set on the study file ("seeds=[0]")
  bool dry_run = false;           // print the plan and validate every graph; train nothing
  bool pin = false;               // rewrite a stage's extends lines to the measured winner
  int jobs = 1;                   // runs of a stage trained at once, as `engine run` processes (engine/cli/jobs.hpp)
  std::string launcher;           // "" (this machine) or "slurm" (engine/cli/slurm.hpp)
  std::string partition;          // --launcher slurm: sbatch --partition
  std::string sbatch_args;        // --launcher slurm: more sbatch options, as shell words
};

// Returns 0 when every run completed, 130 when interrupted, 2 when a stage's files do not
// extend the measured winner (the message names the files and the edit); with --jobs, a run
// that failed stops the study with its exit code. With --launcher slurm it returns 0 once the
// first stage not complete is submitted.
int run_study(const std::filesystem::path& file, const StudyOptions& options);

// The report of a study from the run directories already there (no training).
std::filesystem::path write_study_report(const Study& study, const StudyOptions& options);

// Why --jobs and --nproc do not go together.
std::string jobs_with_ranks();

}  // namespace engine
