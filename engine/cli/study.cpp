#include "engine/cli/study.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <iostream>
#include <list>
#include <map>
#include <optional>
#include <thread>

#include "engine/cli/jobs.hpp"
#include "engine/cli/slurm.hpp"
#include "engine/core/info.hpp"
#include "engine/core/report/decision.hpp"
#include "engine/core/report/report.hpp"
#include "engine/core/run_dir.hpp"
#include "engine/core/run_lock.hpp"
#include "engine/core/sections.hpp"
#include "engine/nn/dist/world.hpp"
#include "engine/nn/runner/run.hpp"

namespace engine {

namespace fs = std::filesystem;

namespace {
std::string stem(const fs::path& p) { return p.stem().string(); }

// "2026-11-29T12:18:24+00:00": the form the report reads back from the study's log.
std::string iso_now() {
  std::time_t t = std::time(nullptr);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S%z", std::localtime(&t));
  return buf;
}

fs::path seed_dir(const StudyOptions& o, const std::string& name, int64_t seed) {
  return fs::path(o.runs) / (name + "-s" + std::to_string(seed));
}

void print_stage_plan(const Study& s, size_t k) {
  const StudyStage& st = s.stages[k];
  std::cout << "stage " << st.name << (st.title.empty() ? "" : " (" + st.title + ")") << ":";
  for (const auto& g : st.graphs) std::cout << " " << stem(g);
  std::cout << "\n  seeds:";
  for (auto seed : st.seeds) std::cout << " " << seed;
  if (st.extends_winner)
    std::cout << "\n  each extends the winner of stage " << s.stages[k - 1].name
              << " (checked against the measurement before the stage runs)";
  if (st.final) std::cout << "\n  its winner is evaluated on the test split";
  std::cout << "\n";
}

// Every graph as written, so a typo fails before any training.
int validate_plan(const Study& s) {
  int checked = 0;
  for (size_t k = 0; k < s.stages.size(); ++k) {
    print_stage_plan(s, k);
    for (const auto& g : s.stages[k].graphs) {
      std::cout << "  " << check_line(load_graph(g).graph) << "\n";
      ++checked;
    }
  }
  return checked;
}

// The files of a stage that do not extend `winner`; with `pin`, they are edited to.
std::vector<DeclaredBase> check_bases(const StudyStage& st, const fs::path& winner, bool pin) {
  std::vector<DeclaredBase> wrong;
  for (const auto& g : st.graphs) {
    DeclaredBase d = declared_base(g);
    if (same_file(d.base, winner)) continue;
    if (pin) {
      pin_base(g, winner);
      std::cout << "[study] --pin: " << g.string() << " now extends " << winner.filename().string() << std::endl;
    } else {
      wrong.push_back(d);
    }
  }
  return wrong;
}

std::string mismatch_message(const StudyStage& st, const std::string& previous, const fs::path& winner,
                             const std::vector<DeclaredBase>& wrong) {
  std::string msg = "stage " + st.name + " builds on the winner of stage " + previous +
                    ", which the runs measured as " + winner.filename().string() +
                    ", but these files extend another graph:";
  for (const auto& d : wrong)
    msg += "\n  " + d.loc.str() + ": extends = \"" + (d.base.empty() ? "" : d.base.filename().string()) +
           "\"  ->  extends = \"" + winner.filename().string() + "\"";
  return msg +
         "\nMake that edit (or run the study again with --pin to have it made), then run the same command: "
         "finished runs are kept.";
}

// Trains every (graph, seed) of a stage that is not trained yet; a configuration already run
// (in this stage or an earlier one) is reused, not retrained. First it decides which runs the
// stage needs, then trains them: in this process one after the other, or with --jobs as
// `engine run` processes side by side. nullopt when stopped; code() says why.
class StageRunner {
 public:
  StageRunner(const StudyOptions& o, fs::path file) : o_(o), file_(std::move(file)) {}

  std::optional<std::vector<report::Variant>> run(const StudyStage& st, bool train) {
    std::vector<report::Variant> variants;
    std::vector<Pending> pending;
    for (const auto& g : st.graphs) {
      LoadedGraph loaded = load_graph(g);
      report::Variant v{g, loaded.graph.name, loaded.graph.title, st.seeds, {}, ""};
      for (auto seed : st.seeds) v.runs.push_back(plan_seed(g, loaded, seed, v, pending));
      variants.push_back(std::move(v));
    }
    if (train && o_.launcher == "slurm") {
      std::vector<Job> jobs = jobs_of(pending);
      if (!jobs.empty()) {
        submit_stage(st.name, jobs, file_, o_);
        submitted_ = true;
        return std::nullopt;
      }
    } else if (train) {
      code_ = o_.jobs > 1 ? train_in_jobs(pending) : train_here(pending);
    }
    if (code_ != 0) return std::nullopt;
    return variants;
  }

  int code() const { return code_; }
  bool submitted() const { return submitted_; }  // to Slurm: the study goes on in a job of its own

 private:
  struct Pending {  // a run this stage trains (or finds complete)
    fs::path graph;
    std::string label;
    Value spec;  // as it will run
    RunOptions ro;
    double cost = 0;  // MACs per image x epochs, what --jobs balances
  };

  // The run directory of (g, seed); a configuration not run before is added to `pending`.
  fs::path plan_seed(const fs::path& g, const LoadedGraph& loaded, int64_t seed, report::Variant& v,
                     std::vector<Pending>& pending) {
    Value spec = loaded.spec;
    // The file's own seed needs no override, so its run's config.toml is `engine config FILE`.
    bool own_seed = spec.find("train")->find("seed")->i == seed;
    spec.find("train")->set("seed", Value::of_int(seed));
    std::string id = run_identity(spec);
    if (auto it = known_.find(id); it != known_.end()) {
      if (it->second.name != v.name) v.same_as = it->second.name;
      return it->second.dir;
    }
    RunOptions ro;
    if (!own_seed) ro.sets = {"train.seed=" + std::to_string(seed)};
    ro.runs = o_.runs;
    ro.out = seed_dir(o_, v.name, seed).string();
    ro.data_root = o_.data_root;
    known_[id] = Known{v.name, ro.out};
    const double cost =
        static_cast<double>(loaded.graph.macs) * static_cast<double>(spec.find("train")->find("epochs")->i);
    pending.push_back({g, v.name + ", seed " + std::to_string(seed), spec, ro, cost});
    return fs::path(ro.out);
  }

  int train_here(const std::vector<Pending>& pending) {
    for (const auto& p : pending) {
      std::cout << "[study] " << p.label << std::endl;
      if (run_graph(p.graph, p.ro).interrupted) return 130;
    }
    return 0;
  }

  // The runs not complete yet, as `engine run` command lines; `costs` gets theirs.
  std::vector<Job> jobs_of(const std::vector<Pending>& pending, std::vector<double>* costs = nullptr) {
    std::vector<Job> jobs;
    for (const auto& p : pending) {
      if (complete_as_planned(p)) {  // a process started only to say so would cost a second
        std::cout << "[study] " << p.label << ": already complete (" << p.ro.out << ")" << std::endl;
        continue;
      }
      // Absolute: a Slurm job may start elsewhere.
      Job job{p.label, {"run", fs::absolute(p.graph).lexically_normal().string(), "--run-dir", p.ro.out}, p.ro.out};
      for (const auto& s : p.ro.sets) job.args.insert(job.args.end(), {"--set", s});
      if (!p.ro.data_root.empty())
        job.args.insert(job.args.end(), {"--data", fs::absolute(p.ro.data_root).lexically_normal().string()});
      jobs.push_back(std::move(job));
      if (costs) costs->push_back(p.cost);
    }
    return jobs;
  }

  int train_in_jobs(const std::vector<Pending>& pending) {
    std::vector<double> costs;
    std::vector<Job> jobs = jobs_of(pending, &costs);
    const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    const std::vector<Wave> waves = plan_waves(costs, o_.jobs, cores);
    if (waves.size() > 1) {
      std::cout << "[study] side by side only within " << kBalance << "x of each other's cost (MACs x epochs):";
      for (const Wave& w : waves) {
        std::cout << " {";
        for (size_t k = 0; k < w.jobs.size(); ++k) std::cout << (k ? "; " : "") << jobs[w.jobs[k]].label;
        std::cout << "}";
      }
      std::cout << std::endl;
    }
    return run_jobs(jobs, waves);
  }

  // A finished run of this very configuration. Anything else (absent, partial, another config,
  // unreadable) is left to `engine run`, which resumes, extends or refuses it as it would alone.
  static bool complete_as_planned(const Pending& p) {
    try {
      RunDir dir(p.ro.out);
      if (!fs::exists(dir / run_file::summary) || !fs::exists(dir / run_file::last)) return false;
      // Key by key: a --set seed sits elsewhere in config.toml than in the planned spec.
      auto ran = flatten(dir.read_config()), planned = flatten(p.spec);
      std::sort(ran.begin(), ran.end());
      std::sort(planned.begin(), planned.end());
      return dir.read_result().complete && ran == planned;
    } catch (const std::exception&) {
      return false;
    }
  }

  struct Known {
    std::string name;
    fs::path dir;
  };
  const StudyOptions& o_;
  fs::path file_;
  bool submitted_ = false;
  std::map<std::string, Known> known_;  // run identity -> its first variant and directory
  int code_ = 0;
};

void test_winner(const report::Variant& v, const StudyOptions& o) {
  for (size_t k = 0; k < v.runs.size(); ++k) {
    TestOptions to;
    to.sets = {"train.seed=" + std::to_string(v.seeds[k])};
    to.data_root = o.data_root;
    to.out = v.runs[k].string();
    TestOutcome t = test_graph(v.graph, to);
    std::cout << "[study] test accuracy of " << v.name << " seed " << v.seeds[k] << ": " << 100 * t.accuracy << "%\n"
              << t.report;
  }
}

// Runs (or, with train = false, only collects) every stage; returns the report's path, or an
// exit code when the study stopped.
struct Outcome {
  int code = 0;
  fs::path report;
  bool submitted = false;  // to Slurm, which goes on with the study
};

Outcome run_stages(const Study& s, const StudyOptions& o, bool train, const fs::path& file = {}) {
  StageRunner runner(o, file);
  std::vector<report::StageSpec> specs;
  std::optional<fs::path> final_run;
  fs::path winner;
  std::vector<fs::path> carried;  // the previous winner's runs: its variant in the next stage is the incumbent
  for (size_t k = 0; k < s.stages.size(); ++k) {
    const StudyStage& st = s.stages[k];
    if (st.extends_winner && train && !o.dry_run) {
      auto wrong = check_bases(st, winner, o.pin);
      if (!wrong.empty()) {
        std::cerr << "error: " << mismatch_message(st, s.stages[k - 1].name, winner, wrong) << "\n";
        return {2, {}};
      }
    }
    auto variants = runner.run(st, train);
    if (!variants) return {runner.code(), {}, runner.submitted()};
    specs.push_back(report::StageSpec{st.name, st.title, *variants, st.varies, st.question, st.ablation, st.final,
                                      s.rule, carried});
    if (st.ablation) continue;  // compared with its recipe; nothing builds on it
    report::StageDecision d = report::decide_stage(specs.back());
    const report::Variant& w = (*variants)[d.winner];
    winner = w.graph;
    carried = w.runs;
    std::cout << "[study] stage " << st.name << " goes on with " << w.name << "\n";
    if (st.final) {
      if (train) test_winner(w, o);
      final_run = w.runs.front();
    }
  }
  fs::path out = s.report.empty() ? fs::path(o.runs) / "report.md" : s.report;
  report::ReportOptions ro;
  ro.title = s.title;
  ro.study_log = fs::path(o.runs) / "study.log";
  if (dist::root_process()) report::write_report(out, specs, final_run, ro);  // rank 0 writes for all ranks
  return {0, out};
}
}  // namespace

std::string jobs_with_ranks() {
  return "--jobs runs several single-process runs side by side and --nproc (or a launcher's RANK/WORLD_SIZE) "
         "trains each run on several ranks: both share out this host's cores, so use one of them";
}

int run_study(const fs::path& file, const StudyOptions& o) {
  if (o.jobs < 1) throw UserError("--jobs " + std::to_string(o.jobs) + ": at least 1 run at a time");
  Study s = load_study(file, o.sets);
  int checked = validate_plan(s);
  std::cout << checked << " graphs valid\n";
  if (o.launcher == "slurm") check_slurm_paths(o);
  if (o.launcher == "slurm" && !o.dry_run) refuse_if_queued(o);
  if (o.dry_run && o.launcher != "slurm") return 0;
  if (o.jobs > 1 && dist::world_from_env().distributed()) throw UserError(jobs_with_ranks());
  if (o.pin && dist::world_from_env().distributed())
    throw UserError(
        "--pin edits graph files while the ranks read them: pin in one process (without --nproc), then "
        "run the study on several ranks");
  // Every run directory of the study, locked before anything trains: a run or another study in
  // one of them stops this one at once, and it stops them until this one ends. Rank 0 locks
  // for all ranks.
  std::list<RunLock> locks;
  for (const auto& st : s.stages) {
    if (!dist::root_process() || !o.launcher.empty()) break;  // Slurm's jobs lock their own, later
    for (const auto& g : st.graphs) {
      const std::string name = load_graph(g).graph.name;
      for (auto seed : st.seeds) locks.emplace_back(seed_dir(o, name, seed));
    }
  }
  std::cout << "[study] started " << iso_now() << std::endl;
  Outcome out = run_stages(s, o, true, file);
  if (out.submitted) return 0;
  std::cout << "[study] ended " << iso_now() << ", exit " << out.code << std::endl;
  if (out.code == 130) std::cout << "[study] interrupted; run the same command to resume\n";
  if (out.code == 0) std::cout << "[study] report: " << out.report.string() << "\n";
  return out.code;
}

fs::path write_study_report(const Study& s, const StudyOptions& o) { return run_stages(s, o, false).report; }

}  // namespace engine
