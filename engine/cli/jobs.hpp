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

// Jobs that run side by side, each with kThreadsEnv = threads; the next wave starts when all
// of this one have ended.
struct Wave {
  std::vector<size_t> jobs;  // indices into the job list
  int threads = 1;
};

// Side by side pays only among runs of about equal cost. Two runs on one thread each train
// ~1.2x the images per second of one run on both cores (tools/bench-jobs), but when one ends
// first the other goes on alone on its one thread: with those figures a pair whose costs differ
// by more than ~1.4x ends later than the same two runs one after the other on all cores
// (the Stem stage, 1:3.7, measured: 342 s side by side, 298 s one after the other).
inline constexpr double kBalance = 1.25;  // below the break-even: cost (MACs x epochs) only approximates time

// Costliest first: groups of up to `parallel` jobs whose costs are within kBalance of each other
// run side by side on cores/size threads; a job with no such partner runs alone on all cores.
std::vector<Wave> plan_waves(const std::vector<double>& costs, int parallel, int cores);

// Runs the waves in order, printing a line when each job starts and ends. A SIGINT or SIGTERM
// sent to this process is passed on to the jobs (a Ctrl-C in the terminal reaches them itself);
// when one fails, no more start and the others finish. Returns 0, 130 when interrupted, else
// the exit code of the first job that failed.
int run_jobs(const std::vector<Job>& jobs, const std::vector<Wave>& waves);

}  // namespace engine
