#include "engine/cli/cli.hpp"

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <optional>

#include "engine/cli/conventions.hpp"
#include "engine/cli/jobs.hpp"
#include "engine/cli/json_views.hpp"
#include "engine/cli/launch.hpp"
#include "engine/cli/study.hpp"
#include "engine/cli/use.hpp"
#include "engine/core/draw.hpp"
#include "engine/core/info.hpp"
#include "engine/core/registry.hpp"
#include "engine/core/report/report.hpp"
#include "engine/core/run_dir.hpp"
#include "engine/core/sections.hpp"
#include "engine/core/spec.hpp"
#include "engine/nn/build_info.hpp"
#include "engine/nn/dist/world.hpp"
#include "engine/nn/runner/run.hpp"

namespace engine {

namespace fs = std::filesystem;

namespace {
struct Options {
  std::vector<std::string> files;
  std::vector<std::string> sets;
  std::string run_dir;  // --run-dir: a run directory read or trained into
  std::string output;   // -o/--output: the file a command writes
  std::string data;
  std::string help_topic;
  bool json = false;
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
  std::string runs = "runs";
  std::string launcher, partition, sbatch_args;
};

Graph graph_of(const std::string& file, const Options& o) { return load_graph(file, o.sets).graph; }

int cmd_check(const Options& o) {
  int failed = 0;
  std::vector<Graph> graphs;
  graphs.reserve(o.files.size());  // Checked points into it
  std::vector<Checked> checked;
  for (const auto& f : o.files) {
    Checked c;
    c.file = f;
    try {
      if (is_study_file(f)) {  // every graph it names, as written
        Study study = load_study(f);
        size_t n = 0;
        for (const auto& st : study.stages)
          for (const auto& g : st.graphs) check_head(load_graph(g, o.sets)), ++n;
        c.study_stages = study.stages.size(), c.study_graphs = n;
        if (!o.json) std::cout << f << ": ok  study, " << study.stages.size() << " stages, " << n << " graphs\n";
      } else {
        LoadedGraph loaded = load_graph(f, o.sets);
        check_head(loaded);
        c.graph = &graphs.emplace_back(std::move(loaded.graph));
        if (!o.json) std::cout << check_line(*c.graph) << "\n";
      }
    } catch (const UserError& e) {
      c.error = e.what();
      if (!o.json) std::cout << "error: " << e.what() << "\n";
      ++failed;
    }
    checked.push_back(c);
  }
  if (o.json)
    std::cout << check_json(checked);
  else if (o.files.size() > 1)
    std::cout << o.files.size() - failed << " ok, " << failed << " failed\n";
  return failed ? 2 : 0;
}

// info and draw: each file in turn; one that fails is reported and the others still go.
template <class Fn>
int each_graph(const Options& o, Fn&& fn) {
  int failed = 0;
  for (const auto& f : o.files) try {
      fn(graph_of(f, o));
    } catch (const UserError& e) {
      std::cerr << "error: " << e.what() << "\n";
      ++failed;
    }
  return failed ? 2 : 0;
}

int cmd_info(const Options& o) {
  if (!o.json)
    return each_graph(o, [&](const Graph& g) {
      if (o.files.size() > 1) std::cout << "\n";
      std::cout << layer_table(g) << "\n" << printed_model(g) << "\n";
    });
  std::vector<Graph> graphs;
  std::vector<std::string> models;
  int code = each_graph(o, [&](const Graph& g) { graphs.push_back(g), models.push_back(printed_model(g)); });
  std::vector<const Graph*> list;
  for (const auto& g : graphs) list.push_back(&g);
  std::cout << info_json(list, models);
  return code;
}

int cmd_draw(const Options& o) {
  if (o.files.size() > 1 && !o.output.empty())
    throw UserError("engine draw -o names one file but " + std::to_string(o.files.size()) +
                    " graphs were given: leave -o out to write each to runs/<name>/architecture.svg");
  return each_graph(o, [&](const Graph& g) {
    fs::path out = o.output.empty() ? fs::path("runs") / g.name / "architecture.svg" : fs::path(o.output);
    draw_graph(g, out, o.expand);
    std::cout << "wrote " << out.string() << "\n";
  });
}

int cmd_run(const Options& o) {
  RunOptions r;
  r.sets = o.sets;
  r.out = o.run_dir;
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
  t.out = o.run_dir;
  t.data_root = o.data;
  t.samples = o.samples;
  t.tta = o.tta;
  TestOutcome out = test_graph(o.files.at(0), t);
  std::cout << out.report << "\ntest accuracy " << 100 * out.accuracy << "% (without flip TTA "
            << 100 * out.tta.without_tta << "%, with " << 100 * out.tta.with_tta
            << "%; reported: " << (out.tta.used ? "with" : "without") << "); files in " << out.dir.string() << "\n";
  return 0;
}

// A study file gives the stages and seeds. Otherwise each argument is one run: a run directory
// (named as its directory, its graph read from its config.toml) or a graph file read from
// runs/<name>, as engine run left it; grouped into stages by graph name ("3.1-A" → "3.1").
int cmd_report(const Options& o) {
  fs::path written;
  if (o.files.size() == 1 && !fs::is_directory(o.files[0]) && is_study_file(o.files[0])) {
    Study s = load_study(o.files[0], o.sets);
    if (!o.output.empty()) s.report = o.output;
    StudyOptions so;
    written = write_study_report(s, so);
  } else {
    std::vector<report::StageSpec> stages;
    std::optional<fs::path> final_run;
    for (const auto& f : o.files) {
      const bool is_run = fs::is_directory(f);
      const fs::path config = fs::path(f) / run_file::config;
      if (is_run && !fs::is_regular_file(config))
        throw UserError(f + " is a directory but not a run directory: it has no " + run_file::config +
                        " (engine run writes one)");
      const Value spec = is_run ? RunDir(f).read_config() : load_spec(f);
      const std::string name = spec.find("name")->s, stage = name.substr(0, name.find('-'));
      if (stages.empty() || stages.back().name != stage) stages.push_back(report::StageSpec{stage, "", {}});
      const fs::path dir = is_run ? fs::path(f) : fs::path("runs") / name;
      const std::string shown = is_run ? fs::path(f).lexically_normal().filename().string() : name;
      const Value* title = spec.find("title");
      stages.back().variants.push_back(report::Variant{is_run ? config : fs::path(f),
                                                       shown.empty() ? name : shown,
                                                       title ? title->s : "",
                                                       {RunDir(dir).read_result().seed},
                                                       {dir},
                                                       ""});
      if (stage == "final") final_run = dir, stages.back().final = true;
    }
    written = o.output.empty() ? fs::path("runs/report.md") : fs::path(o.output);
    report::write_report(written, stages, final_run);
  }
  std::cout << "wrote " << written.string() << "\n";
  return 0;
}

int cmd_config(const Options& o) {
  // Layer errors are reported here too; limits are not (the point may be to see why).
  const Value spec = load_graph(o.files.at(0), o.sets, {}, false).spec;
  std::cout << (o.json ? config_json(spec) : annotated_toml(spec));
  return 0;
}

std::string version_text() {
  std::string text;
  for (const auto& [what, value] : build_info()) text += what + " " + value + "\n";
  return text.substr(0, text.size() - 1);  // CLI11 ends it with a newline
}

// `engine help [CMD]`: the app's help, or the command's.
int cmd_help(const CLI::App& app, const std::string& topic) {
  if (topic.empty()) {  // app.help() would show the help command's own, the one parsed
    std::cout << app.get_formatter()->make_help(&app, app.get_name(), CLI::AppFormatMode::Normal);
    return 0;
  }
  const std::vector<std::string> names = command_names(app);
  if (std::find(names.begin(), names.end(), topic) == names.end()) {
    std::cerr << "error: engine help: unknown command '" << topic << "'" << did_you_mean(topic, names) << "\n";
    return 2;
  }
  std::cout << app.get_subcommand(topic)->help(app.get_name());
  return 0;
}
}  // namespace

int cli_main(int argc, char** argv) {
  CLI::App app{"engine: declarative graph-config networks on LibTorch: validate, draw, train, evaluate"};
  app.require_subcommand(1);
  app.set_version_flag("--version", version_text, "engine, LibTorch, CUDA and oneDNN versions");
  app.option_defaults()->always_capture_default();  // help shows each option's default
  Options o;
  Spellings spellings;
  auto add_json = [&](CLI::App* c, const char* what) {
    c->add_flag("--json", o.json, std::string("one JSON object on stdout: ") + what + " (docs/cli.md)");
  };
  auto add_sets = [&](CLI::App* c) {
    c->add_option("--set", o.sets, "override a key after inheritance, e.g. --set train.lr=0.01 (repeatable)");
  };

  // The graph, its run directory and the data: what run and test both read.
  auto add_run_io = [&](CLI::App* c) {
    c->add_option("file", o.files, "graph file")->required();
    c->add_option("--run-dir", o.run_dir, "run directory (default runs/<name>)");
    spellings.old(c, "--out", "--run-dir", o.run_dir);
    c->add_option("--data", o.data, "dataset root (else $ENGINE_DATA, else [data].root)");
  };

  auto* check = app.add_subcommand("check", "validate graph files: params, channels, MACs, output shape");
  check->add_option("files", o.files, "graph or study files")->required();
  add_sets(check);
  add_json(check, "files[] with ok, kind, graph or error; ok and failed counts");
  auto* info = app.add_subcommand("info", "per-node table (shapes, params, MACs) and print(model)");
  info->add_option("files", o.files, "graph files")->required();
  add_sets(info);
  add_json(info, "graphs[] with totals, nodes[] and model");
  auto* draw = app.add_subcommand("draw", "draw the graph with Graphviz");
  draw->add_option("files", o.files, "graph files")->required();
  draw->add_option("-o,--output", o.output,
                   "output .svg/.png/.pdf/.dot, one graph only (default runs/<name>/architecture.svg)");
  spellings.old(draw, "--out", "-o/--output", o.output);
  draw->add_flag("--expand", o.expand, "draw the layers inside every block");
  add_sets(draw);
  auto* config = app.add_subcommand("config", "print the fully resolved graph (extends, vars, overrides, defaults)");
  config->add_option("file", o.files, "graph file")->required();
  add_sets(config);
  add_json(config, "the resolved graph, its sections as keys");
  auto* ops = app.add_subcommand("ops", "list every op with its parameters");
  add_json(ops, "ops[] with name, kind, doc, inputs and params[]");
  auto* help = app.add_subcommand("help", "show the help of engine, or of one command");
  help->add_option("command", o.help_topic, "a command, e.g. run");

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
  report->add_option("files", o.files, "a study file, or run directories and graph files (read from runs/<name>)")
      ->required();
  report->add_option("-o,--output", o.output, "report path (default runs/report.md)");
  spellings.old(report, "--out", "-o/--output", o.output);
  report->add_option("--set", o.sets, "override a key of the study file, e.g. --set seeds=[0]");
  auto* study = app.add_subcommand("study", "run a whole ablation study: stages, winners, test, report");
  study->add_option("file", o.files, "study file")->required();
  study->add_flag("--dry-run", o.dry_run, "print the plan and validate every graph; train nothing");
  study->add_option("--data", o.data, "dataset root (else $ENGINE_DATA, else [data].root)");
  study->add_flag("--pin", o.pin, "when a stage's files extend another graph than the measured winner, edit them");
  study->add_option("--set", o.sets, "override a key of the study file, e.g. --set seeds=[0] (repeatable)");
  UseCommands use(app, spellings);  // predict, export
  study->add_option("--nproc", o.nproc, nproc_help)->check(CLI::Range(1, 256));
  const std::string jobs_help = fmt::format(
      "train up to N runs of a stage at once, as `engine run` processes on cores/N threads each, when their costs "
      "(MACs x epochs) are within {}x of each other (else one alone on all cores); output in each run's "
      "study-job.log",
      kBalance);
  study->add_option("--jobs", o.jobs, jobs_help)->check(CLI::Range(1, 256));
  study->add_option("--runs", o.runs, "where the run directories go (default runs)");
  study
      ->add_option("--launcher", o.launcher,
                   "slurm: each stage's runs as one sbatch --array job, the study going on in a job that "
                   "starts once they all succeeded (docs/distributed.md)")
      ->check(CLI::IsMember({"slurm"}));
  study->add_option("--partition", o.partition, "--launcher slurm: the partition the jobs go to");
  study->add_option("--sbatch-args", o.sbatch_args,
                    "--launcher slurm: more sbatch options, e.g. \"-c 4 --time=2:00:00\"");

  for (auto* c : app.get_subcommands({}))  // an empty list's default says nothing
    for (auto* opt : c->get_options())
      if (opt->get_default_str() == "[]") opt->default_str("");

  spdlog::set_pattern("[%H:%M:%S] %v");
  const std::vector<std::string> names = command_names(app);
  if (argc > 1 && argv[1][0] != '-') {  // CLI11 would only say "A subcommand is required"
    if (std::find(names.begin(), names.end(), argv[1]) == names.end()) {
      std::string list;
      for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
      std::cerr << "error: unknown command '" << argv[1] << "'" << did_you_mean(argv[1], names)
                << " (commands: " << list << ")\n";
      return 2;
    }
  }
  // CLI11 would say "The following argument was not expected" without a suggestion.
  if (argc > 1) {
    const CLI::App* cmd = argv[1][0] == '-' ? &app : app.get_subcommand(argv[1]);
    if (auto e = unknown_flag(*cmd, std::vector<std::string>(argv + (argv[1][0] == '-' ? 1 : 2), argv + argc))) {
      std::cerr << *e << "\n";
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  for (const auto& w : spellings.warnings()) std::cerr << w << "\n";
  if (help->parsed()) return cmd_help(app, o.help_topic);
  // One file, or a loop over them: never a second file silently ignored.
  const std::pair<CLI::App*, const char*> single[] = {
      {config, "engine config prints one resolved graph"},
      {run, "train one graph per command, or a whole study with engine study"},
      {test, "one run per command"},
      {time, "one graph per command"},
      {study, "one study file"}};
  for (const auto& [cmd, instead] : single)
    if (cmd->parsed())
      if (auto e = one_file(cmd->get_name(), o.files, instead)) {
        std::cerr << "error: " << *e << "\n";
        return 2;
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
    if (study->parsed() && !o.launcher.empty() && (o.jobs > 1 || o.nproc > 1))
      throw UserError(
          "--launcher slurm runs each run as a Slurm array task on the cores Slurm gives it "
          "(--sbatch-args \"-c N\"): --jobs and --nproc do not apply");
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
      so.runs = o.runs;
      so.launcher = o.launcher;
      so.partition = o.partition;
      so.sbatch_args = o.sbatch_args;
      return run_study(o.files.at(0), so);
    }
    if (ops->parsed()) {
      std::cout << (o.json ? ops_json(default_registry()) : ops_catalogue(default_registry()));
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
