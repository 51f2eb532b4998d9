#include "engine/cli/study.hpp"

#include <chrono>
#include <iostream>
#include <map>
#include <optional>

#include "engine/core/sections.hpp"
#include "engine/core/info.hpp"
#include "engine/core/registry.hpp"
#include "engine/core/report/analysis.hpp"
#include "engine/core/report/report.hpp"
#include "engine/core/run_dir.hpp"
#include "engine/nn/runner/run.hpp"
#include "engine/core/schema.hpp"

namespace engine {

namespace fs = std::filesystem;

bool is_study_file(const fs::path& file) { return parse_toml_file(file).find("stages") != nullptr; }

Study load_study(const fs::path& file) {
  Value v = parse_toml_file(file);
  apply_schema(v,
               {key_string("title", "Study", "the report's title"),
                key_string("report", "", "where the Markdown report goes (default <runs>/report.md)"),
                KeyDef{"stages", Type::Table, std::nullopt, "the stages, in order ([[stages]])", {}, {}}},
               "study", {"stages"});
  Study s;
  s.file = file;
  s.title = v.find("title")->s;
  if (!v.find("report")->s.empty()) s.report = v.find("report")->s;
  const Value& stages = *v.find("stages");
  if (!stages.is(Value::Kind::Array) || stages.items.empty())
    throw SpecError(stages.loc, "study: [[stages]] must list at least one stage");
  for (size_t k = 0; k < stages.items.size(); ++k) {
    Value st = stages.items[k];
    std::string where = "stages[" + std::to_string(k) + "]";
    apply_schema(st,
                 {key_string("name", std::nullopt, "the stage's label in the report (\"3.1\")"),
                  key_string("title", "", "what the stage varies, in words"),
                  key_strings("graphs", std::nullopt, "graph files, relative to the study file"),
                  key_string("extends", "", "\"winner\": every graph extends the previous stage's winner",
                             {"", "winner"}),
                  key_string("varies", "", "\"depth\" words the report's overfitting trend by depth"),
                  key_bool("final", false, "evaluate this stage's winner on the test split")},
                 where);
    StudyStage stage;
    stage.name = st.find("name")->s;
    stage.title = st.find("title")->s;
    stage.varies = st.find("varies")->s;
    stage.extends_winner = st.find("extends")->s == "winner";
    stage.final = st.find("final")->b;
    if (stage.extends_winner && k == 0)
      throw SpecError(st.find("extends")->loc, where + ": the first stage has no previous winner to extend");
    const Value& graphs = *st.find("graphs");
    for (const auto& g : graphs.items) {
      fs::path p = file.parent_path() / g.s;
      if (!fs::exists(p)) throw SpecError(g.loc, where + ": graph file '" + g.s + "' not found (looked for " + p.string() + ")");
      stage.graphs.push_back(p);
    }
    if (stage.graphs.empty()) throw SpecError(graphs.loc, where + ": graphs is empty");
    s.stages.push_back(std::move(stage));
  }
  return s;
}

namespace {
std::string stem(const fs::path& p) { return p.stem().string(); }

// What each graph was built on. A graph that extends a winner gets the winner and then the
// winner's own bases, so a chain of stages resolves through every earlier winner.
class Lineage {
 public:
  // The bases of a graph built on `winner` (none for an empty path).
  std::vector<fs::path> bases_on(const fs::path& winner) const {
    if (winner.empty()) return {};
    std::vector<fs::path> bases{winner};
    const auto& more = of(winner);
    bases.insert(bases.end(), more.begin(), more.end());
    return bases;
  }
  const std::vector<fs::path>& of(const fs::path& graph) const {
    static const std::vector<fs::path> none;
    auto it = bases_.find(graph.string());
    return it == bases_.end() ? none : it->second;
  }
  bool has(const fs::path& graph) const { return bases_.count(graph.string()) > 0; }
  void record(const fs::path& graph, std::vector<fs::path> bases) { bases_[graph.string()] = std::move(bases); }

 private:
  std::map<std::string, std::vector<fs::path>> bases_;
};

void print_stage_plan(const Study& s, size_t k) {
  const StudyStage& st = s.stages[k];
  std::cout << "stage " << st.name << (st.title.empty() ? "" : " (" + st.title + ")") << ":";
  for (const auto& g : st.graphs) std::cout << " " << stem(g);
  if (st.extends_winner)
    std::cout << "\n  each extends the winner of stage " << s.stages[k - 1].name
              << " (best val accuracy; ties go to fewer parameters)";
  if (st.final) std::cout << "\n  its winner is evaluated on the test split";
  std::cout << "\n";
}

// Validates every graph of every stage against each graph of the previous stage it might
// extend, so a typo or an impossible combination fails before any training.
int validate_plan(const Study& s) {
  int checked = 0;
  Lineage lineage;  // the first candidate's, for the stages after
  for (size_t k = 0; k < s.stages.size(); ++k) {
    print_stage_plan(s, k);
    const StudyStage& st = s.stages[k];
    std::vector<fs::path> candidates{fs::path()};
    if (st.extends_winner) candidates = s.stages[k - 1].graphs;
    for (const auto& g : st.graphs)
      for (const auto& base : candidates) {
        std::vector<fs::path> bases = lineage.bases_on(base);
        Graph graph = load_graph(g, {}, bases).graph;
        std::cout << "  " << check_line(graph) << (base.empty() ? "" : "  [on " + stem(base) + "]") << "\n";
        ++checked;
        if (!lineage.has(g)) lineage.record(g, bases);
      }
  }
  return checked;
}

// "[study] stage ..." lines with an ETA from the mean time of the runs so far.
class StudyClock {
 public:
  explicit StudyClock(size_t total) : total_(total), start_(std::chrono::steady_clock::now()) {}
  void announce(const StudyStage& st, const fs::path& g, const std::vector<fs::path>& bases) {
    ++done_;
    std::string eta =
        done_ > 1 ? ", ETA " + std::to_string(static_cast<int>(seconds_per_run_ * (total_ - done_ + 1) / 60)) + " min"
                  : "";
    std::cout << "[study] stage " << st.name << ": " << stem(g) << " (run " << done_ << " of " << total_ << eta
              << (bases.empty() ? "" : ", on " + stem(bases[0])) << ")" << std::endl;
  }
  void finished() {
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    seconds_per_run_ = elapsed / done_;
  }

 private:
  size_t total_, done_ = 0;
  double seconds_per_run_ = 0;
  std::chrono::steady_clock::time_point start_;
};

// Trains one stage's graphs, each on `winner` when given; nullopt when interrupted.
std::optional<std::vector<RunResult>> run_stage(const StudyStage& st, const fs::path& winner, Lineage& lineage,
                                                const StudyOptions& o, StudyClock& clock) {
  std::vector<RunResult> results;
  for (const auto& g : st.graphs) {
    RunOptions ro;
    ro.bases = lineage.bases_on(winner);
    ro.runs = o.runs;
    ro.data_root = o.data_root;
    lineage.record(g, ro.bases);
    clock.announce(st, g, ro.bases);
    RunOutcome out = run_graph(g, ro);
    if (out.interrupted) return std::nullopt;
    results.push_back(RunDir(out.dir).read_result());
    clock.finished();
  }
  return results;
}

void test_winner(const fs::path& graph, const RunResult& run, const Lineage& lineage, const StudyOptions& o) {
  TestOptions to;
  to.bases = lineage.of(graph);
  to.data_root = o.data_root;
  to.out = run.dir.string();
  TestOutcome t = test_graph(graph, to);
  std::cout << "[study] test accuracy of " << run.name << ": " << 100 * t.accuracy << "%\n" << t.report;
}

// The report from the run directories of each stage, in the study's order.
fs::path write_report_of(const Study& s, const std::vector<std::vector<fs::path>>& dirs, const std::string& runs_dir) {
  std::vector<report::StageSpec> stages;
  std::optional<fs::path> final_run;
  for (size_t k = 0; k < s.stages.size(); ++k) {
    const StudyStage& st = s.stages[k];
    stages.push_back(report::StageSpec{st.name, st.title, dirs[k], st.varies});
    if (!st.final) continue;
    std::vector<RunResult> results;
    for (const auto& dir : dirs[k]) results.push_back(RunDir(dir).read_result());
    final_run = results[report::pick_winner(results)].dir;
  }
  fs::path out = s.report.empty() ? fs::path(runs_dir) / "report.md" : s.report;
  report::ReportOptions ro;
  ro.title = s.title;
  report::write_report(out, stages, final_run, ro);
  return out;
}
}  // namespace

int run_study(const fs::path& file, const StudyOptions& o) {
  Study s = load_study(file);
  int checked = validate_plan(s);
  std::cout << checked << " graph combinations valid\n";
  if (o.dry_run) return 0;

  size_t total = 0;
  for (const auto& st : s.stages) total += st.graphs.size();
  StudyClock clock(total);
  Lineage lineage;
  fs::path winner;  // the previous stage's
  std::vector<std::vector<fs::path>> dirs;
  for (const auto& st : s.stages) {
    auto results = run_stage(st, st.extends_winner ? winner : fs::path(), lineage, o, clock);
    if (!results) {
      std::cout << "[study] interrupted; run the same command to resume\n";
      return 130;
    }
    size_t w = report::pick_winner(*results);
    winner = st.graphs[w];
    std::cout << "[study] stage " << st.name << " winner: " << (*results)[w].name << " (best val acc "
              << 100 * (*results)[w].best_val_acc << "%)" << std::endl;
    if (st.final) test_winner(winner, (*results)[w], lineage, o);
    dirs.emplace_back();
    for (const auto& r : *results) dirs.back().push_back(r.dir);
  }
  fs::path report_md = write_report_of(s, dirs, o.runs);
  std::cout << "[study] report: " << report_md.string() << "\n";
  return 0;
}

fs::path write_study_report(const Study& s, const std::string& runs_dir) {
  RunInputs where;
  where.runs = runs_dir;
  std::vector<std::vector<fs::path>> dirs;
  for (const auto& st : s.stages) {
    dirs.emplace_back();
    for (const auto& g : st.graphs) dirs.back().push_back(run_dir_of(load_spec(g).find("name")->s, where));
  }
  return write_report_of(s, dirs, runs_dir);
}

}  // namespace engine
