#pragma once
// `engine study --launcher slurm`: a stage's runs as one `sbatch --array` job, and the study
// itself again as a job that starts once every array task has succeeded (afterok). That job
// finds the stage complete, decides it and submits the next stage, and so on; the last one
// tests the winner and writes the report. Resubmitting the study submits only the runs not
// complete yet, as a local study skips finished runs.
#include <filesystem>
#include <string>
#include <vector>

#include "engine/cli/jobs.hpp"
#include "engine/cli/study.hpp"

namespace engine {

// Run directories and the engine executable must sit on storage every node sees: a relative
// run directory is refused, with the absolute path to give instead.
void check_slurm_paths(const StudyOptions& o);

// An earlier submission of this study (RUNS/slurm/jobs) with jobs still queued or running is a
// UserError naming them: two submissions would train the same runs twice.
void refuse_if_queued(const StudyOptions& o);

// "'it'\''s'": one word for the shell, whatever it holds.
std::string shell_quote(const std::string& word);

// The array job's script: task k runs jobs[k] (`engine run ...`), its output appended to the
// run directory's study-job.log as with --jobs.
std::string array_script(const std::string& stage, const std::vector<Job>& jobs, const std::string& exe,
                         const std::filesystem::path& runs);

// The continuation's script: `args` (engine study ... again) once the array job `after` succeeded;
// cancelled by Slurm when a task of it failed.
std::string continuation_script(const std::string& stage, const std::vector<std::string>& args, const std::string& exe,
                                const std::filesystem::path& runs);

// `engine study FILE --launcher slurm ...` with every path absolute: what the continuation runs.
std::vector<std::string> continuation_args(const std::filesystem::path& study_file, const StudyOptions& o);

// Submits both scripts (prints them with o.dry_run) and says what was submitted. Throws
// UserError when sbatch is missing or refuses a script (its message included).
void submit_stage(const std::string& stage, const std::vector<Job>& jobs, const std::filesystem::path& study_file,
                  const StudyOptions& o);

}  // namespace engine
