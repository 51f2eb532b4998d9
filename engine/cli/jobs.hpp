#pragma once
// `engine study --jobs N`: the runs of a stage as `engine run` processes of this executable, up
// to N at once. Side by side on few threads each they train more images per second in all than
// one after the other on every core (small convolutions scale poorly over threads).
#include <filesystem>
#include <string>
#include <vector>

namespace engine {

// One `engine run`: its arguments after the executable, and its run directory, where its
// output goes (kJobLog) and whose lock the study holds and hands to it.
struct Job {
  std::string label;  // "w-narrow, seed 1", for the study's lines
  std::vector<std::string> args;
  std::filesystem::path dir;
};

// Its stdout and stderr; train.log beside it is the runner's own log, which the run appends to.
inline constexpr const char* kJobLog = "study-job.log";

// Runs the jobs, `parallel` at a time, each with kThreadsEnv = `threads`, printing a line when
// each starts and ends. A SIGINT or SIGTERM sent to this process is passed on to the jobs (a
// Ctrl-C in the terminal reaches them itself); when one fails, no more start and the others
// finish. Returns 0, 130 when interrupted, else the exit code of the first job that failed.
int run_jobs(const std::vector<Job>& jobs, int parallel, int threads);

}  // namespace engine
