#include "engine/cli/slurm.hpp"

#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include "engine/cli/launch.hpp"
#include "engine/core/error.hpp"

namespace engine {

namespace fs = std::filesystem;

namespace {
std::string words(const std::vector<std::string>& argv) {
  std::string line;
  for (const auto& a : argv) line += (line.empty() ? "" : " ") + shell_quote(a);
  return line;
}

std::string header(const std::string& name, const fs::path& runs, const std::string& output) {
  return "#!/bin/bash\n# Written by engine study --launcher slurm.\n#SBATCH --job-name=" + name +
         "\n#SBATCH --output=" + (runs / "slurm" / output).string() +
         "\n#SBATCH --chdir=" + fs::current_path().string() + "\n";
}

// A shell command's stdout and stderr, trailing newlines dropped; `status` as from wait().
std::string capture(const std::string& command, int& status) {
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) throw UserError("cannot run " + command);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  status = pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// `sbatch --parsable ... script`; returns the job id. The user's --sbatch-args are shell words.
std::string sbatch(const std::string& options, const fs::path& script) {
  const std::string command = "sbatch --parsable " + options + " " + shell_quote(script.string());
  int status = 0;
  const std::string out = capture(command, status);
  if (status != 0) {
    std::string hint = WEXITSTATUS(status) == 127 ? " (is Slurm installed here? tools/slurm-local starts one)" : "";
    throw UserError("sbatch failed" + hint + ": " + command + "\n" + out);
  }
  return out.substr(0, out.find(';'));  // "id;cluster" on a federation
}

// The study's jobs, one "ARRAY NEXT" line per submitted stage, so that a second submission can
// see the first still queued.
fs::path jobs_file(const StudyOptions& o) { return fs::path(o.runs) / "slurm" / "jobs"; }

void write(const fs::path& file, const std::string& text) {
  std::ofstream out(file);
  out << text;
  if (!out) throw UserError("cannot write " + file.string());
}
}  // namespace

std::string shell_quote(const std::string& word) {
  if (!word.empty() &&
      word.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@") ==
          std::string::npos)
    return word;
  std::string q = "'";
  for (char c : word) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

void check_slurm_paths(const StudyOptions& o) {
  if (fs::path(o.runs).is_absolute()) return;
  throw UserError("--launcher slurm: the run directories go under '" + o.runs +
                  "', a relative path, but Slurm runs them on other nodes, maybe in another directory: give "
                  "--runs " +
                  fs::absolute(o.runs).lexically_normal().string() +
                  " (on storage every node sees, as the engine executable and the data must be)");
}

void refuse_if_queued(const StudyOptions& o) {
  std::ifstream in(jobs_file(o));
  std::vector<std::string> ours;
  for (std::string id; in >> id;) ours.push_back(id);
  if (ours.empty()) return;
  int status = 0;
  const std::string queued = capture("squeue -h --me -o %F", status);  // %F: an array task's job
  if (status != 0) return;                                             // no Slurm to ask: sbatch will say so
  const char* self = std::getenv("SLURM_JOB_ID");                      // the study's own job, going on
  std::set<std::string> still;                                         // an array job is listed once per task
  std::istringstream lines(queued);
  for (std::string id; lines >> id;)
    if (std::find(ours.begin(), ours.end(), id) != ours.end() && (!self || id != self)) still.insert(id);
  std::string active;
  for (const auto& id : still) active += (active.empty() ? "" : ",") + id;
  if (!active.empty())
    throw UserError("this study is already submitted: its jobs " + active + " are still queued or running (squeue -j " +
                    active + "); wait for them (the study goes on by itself), or scancel " + active +
                    " and run this command again");
}

std::string array_script(const std::string& stage, const std::vector<Job>& jobs, const std::string& exe,
                         const fs::path& runs) {
  std::string s = header("study-" + stage, runs, "%x-%A_%a.out");
  s += "#SBATCH --array=0-" + std::to_string(jobs.size() - 1) + "\n";
  s += "set -e\ncase $SLURM_ARRAY_TASK_ID in\n";
  for (size_t k = 0; k < jobs.size(); ++k) {
    std::vector<std::string> argv{exe};
    argv.insert(argv.end(), jobs[k].args.begin(), jobs[k].args.end());
    const std::string dir = shell_quote(jobs[k].dir.string()), log = shell_quote((jobs[k].dir / kJobLog).string());
    s += "  " + std::to_string(k) + ")  # " + jobs[k].label + "\n    mkdir -p " + dir +
         "\n    echo \"=== $(date '+%F %T') " +
         "slurm job ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID} on $(hostname)\" >> " + log + "\n    exec " +
         words(argv) + " >> " + log + " 2>&1 ;;\n";
  }
  return s + "esac\n";
}

std::string continuation_script(const std::string& stage, const std::vector<std::string>& args, const std::string& exe,
                                const fs::path& runs) {
  std::vector<std::string> argv{exe};
  argv.insert(argv.end(), args.begin(), args.end());
  return header("study-after-" + stage, runs, "%x-%j.out") + "exec " + words(argv) + "\n";
}

std::vector<std::string> continuation_args(const fs::path& study_file, const StudyOptions& o) {
  std::vector<std::string> a{
      "study", fs::absolute(study_file).lexically_normal().string(), "--launcher", "slurm", "--runs", o.runs};
  if (!o.data_root.empty()) a.insert(a.end(), {"--data", fs::absolute(o.data_root).lexically_normal().string()});
  for (const auto& s : o.sets) a.insert(a.end(), {"--set", s});
  if (o.pin) a.push_back("--pin");
  if (!o.partition.empty()) a.insert(a.end(), {"--partition", o.partition});
  if (!o.sbatch_args.empty()) a.insert(a.end(), {"--sbatch-args", o.sbatch_args});
  return a;
}

void submit_stage(const std::string& stage, const std::vector<Job>& jobs, const fs::path& study_file,
                  const StudyOptions& o) {
  const fs::path runs = o.runs;
  const std::string exe = self_executable();
  const std::string array = array_script(stage, jobs, exe, runs);
  const std::string next = continuation_script(stage, continuation_args(study_file, o), exe, runs);
  std::string options = o.partition.empty() ? "" : "--partition=" + shell_quote(o.partition);
  if (!o.sbatch_args.empty()) options += (options.empty() ? "" : " ") + o.sbatch_args;
  const fs::path array_file = runs / "slurm" / (stage + "-runs.sh"), next_file = runs / "slurm" / (stage + "-after.sh");
  if (o.dry_run) {
    std::cout << "[study] --dry-run: would submit stage " << stage << "'s " << jobs.size() << " runs as\n  sbatch "
              << options << (options.empty() ? "" : " ") << array_file.string() << "\n"
              << array << "[study] and, once they all succeeded,\n  sbatch " << options << (options.empty() ? "" : " ")
              << "--dependency=afterok:<that job> --kill-on-invalid-dep=yes " << next_file.string() << "\n"
              << next;
    return;
  }
  for (const auto& job : jobs)  // a run an earlier submission started: its task failed or was cancelled
    if (fs::exists(job.dir / kJobLog))
      std::cout << "[study] " << job.label
                << ": not complete after an earlier submission (its output: " << (job.dir / kJobLog).string()
                << "); submitted again" << std::endl;
  fs::create_directories(runs / "slurm");
  write(array_file, array);
  write(next_file, next);
  const std::string array_id = sbatch(options, array_file);
  const std::string next_id =
      sbatch(options + (options.empty() ? "" : " ") + "--dependency=afterok:" + array_id + " --kill-on-invalid-dep=yes",
             next_file);
  std::ofstream(jobs_file(o), std::ios::app) << array_id << " " << next_id << "\n";
  std::cout << "[study] stage " << stage << ": " << jobs.size() << (jobs.size() == 1 ? " run" : " runs")
            << " submitted as Slurm array job " << array_id << " (" << array_file.string()
            << "); the study goes on in job " << next_id << " once they all succeeded (squeue -j " << array_id << ","
            << next_id << ")" << std::endl;
  std::cout << "[study] a run that fails or is cancelled cancels job " << next_id
            << ": its output is in its run directory's " << kJobLog << "; run the same command again to submit "
            << "only the runs not complete" << std::endl;
}

}  // namespace engine
