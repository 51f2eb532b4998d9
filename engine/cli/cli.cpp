#include "engine/cli/cli.hpp"

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <optional>

#include "engine/cli/jobs.hpp"
#include "engine/cli/launch.hpp"
#include "engine/cli/study.hpp"
#include "engine/cli/use.hpp"
#include "engine/core/draw.hpp"
#include "engine/core/info.hpp"
#include "engine/core/registry.hpp"
#include "engine/core/report/report.hpp"
#include "engine/core/sections.hpp"
#include "engine/core/spec.hpp"
#include "engine/nn/dist/world.hpp"
#include "engine/nn/runner/run.hpp"

namespace engine {

namespace fs = std::filesystem;

namespace {
struct Options {
  std::vector<std::string> files;
  std::vector<std::string> sets;
  std::string out;
  std::string data;
  bool expand = false;
  bool fresh = false;
  bool dry_run = false;
  bool pin = false;
  int64_t stop_after = 0;
  int samples = 10;
  bool tta = false;
  int nproc = 1;
  int jobs = 1;
  int64_t batch = 0;
  int iterations = 10;
  std::string device;
};

Graph graph_of(const std::string& file, const Options& o) { return load_graph(file, o.sets).graph; }

int cmd_check(const Options& o) {
  int failed = 0;
  for (const auto& f : o.files) {
    try {
      if (is_study_file(f)) {  // every graph it names, as written
        Study study = load_study(f);
        size_t graphs = 0;
        for (const auto& st : study.stages)
          for (const auto& g : st.graphs) check_head(load_graph(g, o.sets)), ++graphs;
        std::cout << f << ": ok  study, " << study.stages.size() << " stages, " << graphs << " graphs\n";
        continue;
      }
      LoadedGraph loaded = load_graph(f, o.sets);
      check_head(loaded);
      std::cout << check_line(loaded.graph) << "\n";
    } catch (const UserError& e) {
      std::cout << "error: " << e.what() << "\n";
      ++failed;
    }
  }
  if (o.files.size() > 1) std::cout << o.files.size() - failed << " ok, " << failed << " failed\n";
  return failed ? 2 : 0;
}

int cmd_info(const Options& o) {
  Graph g = graph_of(o.files.at(0), o);
  std::cout << layer_table(g) << "\n" << printed_model(g) << "\n";
  return 0;
}

int cmd_draw(const Options& o) {
  Graph g = graph_of(o.files.at(0), o);
  fs::path out = o.out.empty() ? fs::path("runs") / g.name / "architecture.svg" : fs::path(o.out);
  draw_graph(g, out, o.expand);
  std::cout << "wrote " << out.string() << "\n";
  return 0;
}

int cmd_run(const Options& o) {
  RunOptions r;
  r.sets = o.sets;
  r.out = o.out;
  r.data_root = o.data;
  r.fresh = o.fresh;
  r.stop_after = o.stop_after;
  RunOutcome out = run_graph(o.files.at(0), r);
  return out.interrupted ? 130 : 0;
}

int cmd_time(const Options& o) {
  TimeOptions t;
  t.sets = o.sets;
  t.batch = o.batch;
  t.iterations = o.iterations;
  t.device = o.device;
  std::cout << time_graph(o.files.at(0), t).text;
  return 0;
}

int cmd_test(const Options& o) {
  TestOptions t;
  t.sets = o.sets;
  t.out = o.out;
  t.data_root = o.data;
  t.samples = o.samples;
  t.tta = o.tta;
  TestOutcome out = test_graph(o.files.at(0), t);
  std::cout << out.report << "\ntest accuracy " << 100 * out.accuracy << "% (without flip TTA "
            << 100 * out.tta.without_tta << "%, with " << 100 * out.tta.with_tta
            << "%; reported: " << (out.tta.used ? "with" : "without") << "); files in " << out.dir.string() << "\n";
  return 0;
}

// A study file gives the stages and seeds; graph files are grouped by name ("3.1-A" → stage
// "3.1") and read from runs/<name>, as engine run left them.
int cmd_report(const Options& o) {
  fs::path written;
  if (o.files.size() == 1 && is_study_file(o.files[0])) {
    Study s = load_study(o.files[0], o.sets);
    if (!o.out.empty()) s.report = o.out;
    StudyOptions so;
    written = write_study_report(s, so);
  } else {
    std::vector<report::StageSpec> stages;
    std::optional<fs::path> final_run;
    for (const auto& f : o.files) {
      const Value spec = load_spec(f);
      const std::string name = spec.find("name")->s, stage = name.substr(0, name.find('-'));
      if (stages.empty() || stages.back().name != stage) stages.push_back(report::StageSpec{stage, "", {}});
      const fs::path dir = fs::path("runs") / name;
      const Value* title = spec.find("title");
      stages.back().variants.push_back(
          report::Variant{f, name, title ? title->s : "", {RunDir(dir).read_result().seed}, {dir}, ""});
      if (stage == "final") final_run = dir, stages.back().final = true;
    }
    written = o.out.empty() ? fs::path("runs/report.md") : fs::path(o.out);
    report::write_report(written, stages, final_run);
  }
  std::cout << "wrote " << written.string() << "\n";
  return 0;
}

int cmd_config(const Options& o) {
  // Layer errors are reported here too; limits are not (the point may be to see why).
  std::cout << annotated_toml(load_graph(o.files.at(0), o.sets, {}, false).spec);
  return 0;
}
}  // namespace

int cli_main(int argc, char** argv) {
  CLI::App app{"engine: declarative graph-config networks on LibTorch: validate, draw, train, evaluate"};
  app.require_subcommand(1);
  Options o;
  auto add_sets = [&](CLI::App* c) {
    c->add_option("--set", o.sets, "override a key after inheritance, e.g. --set train.lr=0.01 (repeatable)");
  };

  // The graph, its run directory and the data: what run and test both read.
  auto add_run_io = [&](CLI::App* c) {
    c->add_option("file", o.files, "graph file")->required();
    c->add_option("--out", o.out, "run directory (default runs/<name>)");
    c->add_option("--data", o.data, "dataset root (else $ENGINE_DATA, else [data].root)");
  };

  auto* check = app.add_subcommand("check", "validate graph files: params, channels, MACs, output shape");
  check->add_option("files", o.files, "graph files")->required();
  add_sets(check);
  auto* info = app.add_subcommand("info", "per-node table (shapes, params, MACs) and print(model)");
  info->add_option("file", o.files, "graph file")->required();
  add_sets(info);
  auto* draw = app.add_subcommand("draw", "draw the graph with Graphviz");
  draw->add_option("file", o.files, "graph file")->required();
  draw->add_option("-o,--out", o.out, "output .svg/.png/.pdf/.dot (default runs/<name>/architecture.svg)");
  draw->add_flag("--expand", o.expand, "draw the layers inside every block");
  add_sets(draw);
  auto* config = app.add_subcommand("config", "print the fully resolved graph (extends, vars, overrides, defaults)");
  config->add_option("file", o.files, "graph file")->required();
  add_sets(config);
  auto* ops = app.add_subcommand("ops", "list every op with its parameters");

  auto* run = app.add_subcommand("run", "train a graph; rerunning resumes, a finished run is left as it is");
  run->alias("train");
  add_run_io(run);
  run->add_flag("--fresh", o.fresh, "start over; an existing run directory is moved aside to <dir>.prev-N");
  run->add_option("--stop-after", o.stop_after, "train at most N epochs now; the same command resumes later");
  add_sets(run);
  const char* nproc_help =
      "train on N local ranks (data parallel over c10d, one thread each unless "
      "train.threads is set); train.batch_size stays the global batch";
  run->add_option("--nproc", o.nproc, nproc_help)->check(CLI::Range(1, 256));
  auto* test = app.add_subcommand("test", "evaluate a trained run's best.pt on the test split");
  add_run_io(test);
  test->add_option("--samples", o.samples, "test images drawn in samples.png");
  test->add_flag("--tta", o.tta, "report flip TTA accuracy (as [train].test_tta = true); both are recorded");
  add_sets(test);
  auto* time = app.add_subcommand("time", "time every node forward and backward, and the training step (caffe time)");
  time->add_option("file", o.files, "graph file")->required();
  time->add_option("--batch", o.batch, "images per step (default train.batch_size)")->check(CLI::Range(1, 1 << 20));
  time->add_option("--iterations", o.iterations, "timed steps, after 2 warm-up steps")->check(CLI::Range(1, 100000));
  time->add_option("--device", o.device, "cpu, cuda or auto (default train.device)")
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}));
  add_sets(time);
  auto* report = app.add_subcommand("report", "compare runs in one Markdown report");
  report->add_option("files", o.files, "a study file, or graph files whose runs to compare")->required();
  report->add_option("-o,--out", o.out, "report path (default runs/report.md)");
  report->add_option("--set", o.sets, "override a key of the study file, e.g. --set seeds=[0]");
  auto* study = app.add_subcommand("study", "run a whole ablation study: stages, winners, test, report");
  study->add_option("file", o.files, "study file")->required();
  study->add_flag("--dry-run", o.dry_run, "print the plan and validate every graph; train nothing");
  study->add_option("--data", o.data, "dataset root (else $ENGINE_DATA, else [data].root)");
  study->add_flag("--pin", o.pin, "when a stage's files extend another graph than the measured winner, edit them");
  study->add_option("--set", o.sets, "override a key of the study file, e.g. --set seeds=[0] (repeatable)");
  UseCommands use(app);  // predict, export
  study->add_option("--nproc", o.nproc, nproc_help)->check(CLI::Range(1, 256));
  const std::string jobs_help = fmt::format(
      "train up to N runs of a stage at once, as `engine run` processes on cores/N threads each, when their costs "
      "(MACs x epochs) are within {}x of each other (else one alone on all cores); output in each run's "
      "study-job.log",
      kBalance);
  study->add_option("--jobs", o.jobs, jobs_help)->check(CLI::Range(1, 256));

  spdlog::set_pattern("[%H:%M:%S] %v");
  if (argc > 1 && argv[1][0] != '-') {  // CLI11 would only say "A subcommand is required"
    std::vector<std::string> names;
    for (const auto* c : app.get_subcommands({})) {
      names.push_back(c->get_name());
      for (const auto& alias : c->get_aliases()) names.push_back(alias);
    }
    if (std::find(names.begin(), names.end(), argv[1]) == names.end()) {
      std::string list;
      for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
      std::cerr << "error: unknown command '" << argv[1] << "'" << did_you_mean(argv[1], names)
                << " (commands: " << list << ")\n";
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  // Ranks other than 0 print errors only; rank 0 speaks for the run.
  const std::string rank = dist::rank_prefix();
  // One write per message: the ranks share stderr, and a line written piecewise interleaves
  // with another rank's ("[rank 1] error: error: training diverged ...").
  auto fail = [&rank](const char* kind, const char* what, int code) {
    std::cerr << (rank + kind + what + "\n") << std::flush;
    return code;
  };
  struct Quiet {
    bool on;
    ~Quiet() {
      if (on) std::cout.clear();
    }
  } quiet{!rank.empty()};
  if (quiet.on) std::cout.setstate(std::ios::badbit);
  try {
    if (study->parsed() && o.jobs > 1 && o.nproc > 1) throw UserError(jobs_with_ranks());
    if (o.nproc > 1 && (run->parsed() || study->parsed())) {
      std::vector<std::string> args;
      for (int k = 1; k < argc; ++k) {
        std::string a = argv[k];
        if (a == "--nproc")
          ++k;
        else if (a.rfind("--nproc=", 0) != 0)
          args.push_back(a);
      }
      return launch_local_ranks(o.nproc, args);
    }
    if (check->parsed()) return cmd_check(o);
    if (info->parsed()) return cmd_info(o);
    if (draw->parsed()) return cmd_draw(o);
    if (config->parsed()) return cmd_config(o);
    if (run->parsed()) return cmd_run(o);
    if (test->parsed()) return cmd_test(o);
    if (time->parsed()) return cmd_time(o);
    if (report->parsed()) return cmd_report(o);
    if (auto code = use.run()) return *code;
    if (study->parsed()) {
      StudyOptions so;
      so.data_root = o.data;
      so.dry_run = o.dry_run;
      so.pin = o.pin;
      so.sets = o.sets;
      so.jobs = o.jobs;
      return run_study(o.files.at(0), so);
    }
    if (ops->parsed()) {
      std::cout << ops_catalogue(default_registry());
      return 0;
    }
  } catch (const UserError& e) {
    return fail("error: ", e.what(), 2);
  } catch (const fs::filesystem_error& e) {  // names the path and the cause, for the user to fix (a full disk)
    return fail("error: ", e.what(), 2);
  } catch (const dist::DistError& e) {
    return fail("error: ", e.what(), 1);
  } catch (const std::exception& e) {
    return fail("internal error: ", e.what(), 1);
  }
  return 0;
}

}  // namespace engine
