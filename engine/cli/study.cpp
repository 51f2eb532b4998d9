#include "engine/cli/study.hpp"

#include <chrono>
#include <iostream>
#include <map>

#include "engine/core/sections.hpp"
#include "engine/core/info.hpp"
#include "engine/core/registry.hpp"
#include "engine/core/report/analysis.hpp"
#include "engine/core/report/report.hpp"
#include "engine/nn/runner/test_split.hpp"
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

// Validates every graph of every stage against each graph of the previous stage it might
// extend, so a typo or an impossible combination fails before any training.
int validate_plan(const Study& s) {
  int checked = 0;
  std::map<std::string, std::vector<fs::path>> lineage;  // graph → bases, first candidates
  for (size_t k = 0; k < s.stages.size(); ++k) {
    const StudyStage& st = s.stages[k];
    std::cout << "stage " << st.name << (st.title.empty() ? "" : " (" + st.title + ")") << ":";
    for (const auto& g : st.graphs) std::cout << " " << stem(g);
    if (st.extends_winner)
      std::cout << "\n  each extends the winner of stage " << s.stages[k - 1].name
                << " (best val accuracy; ties go to fewer parameters)";
    if (st.final) std::cout << "\n  its winner is evaluated on the test split";
    std::cout << "\n";
    for (const auto& g : st.graphs) {
      std::vector<fs::path> candidates;
      if (st.extends_winner) candidates = s.stages[k - 1].graphs;
      if (candidates.empty()) candidates.push_back({});
      for (const auto& base : candidates) {
        std::vector<fs::path> bases;
        if (!base.empty()) {
          bases.push_back(base);
          const auto& more = lineage[base.string()];
          bases.insert(bases.end(), more.begin(), more.end());
        }
        Graph graph = load_graph(g, {}, bases).graph;
        std::cout << "  " << check_line(graph) << (base.empty() ? "" : "  [on " + stem(base) + "]") << "\n";
        ++checked;
        if (lineage.find(g.string()) == lineage.end()) lineage[g.string()] = bases;
      }
    }
  }
  return checked;
}
}  // namespace

int run_study(const fs::path& file, const StudyOptions& o) {
  Study s = load_study(file);
  int checked = validate_plan(s);
  std::cout << checked << " graph combinations valid\n";
  if (o.dry_run) return 0;

  size_t total = 0, done = 0;
  for (const auto& st : s.stages) total += st.graphs.size();
  double seconds_per_run = 0;
  auto study_start = std::chrono::steady_clock::now();

  std::map<std::string, std::vector<fs::path>> lineage;
  fs::path previous_winner;
  for (const auto& st : s.stages) {
    std::vector<report::RunResult> results;
    for (const auto& g : st.graphs) {
      std::vector<fs::path> bases;
      if (st.extends_winner) {
        bases.push_back(previous_winner);
        const auto& more = lineage[previous_winner.string()];
        bases.insert(bases.end(), more.begin(), more.end());
      }
      lineage[g.string()] = bases;
      ++done;
      std::string eta = done > 1 ? ", ETA " + std::to_string(static_cast<int>(seconds_per_run * (total - done + 1) / 60)) + " min"
                                 : "";
      std::cout << "[study] stage " << st.name << ": " << stem(g) << " (run " << done << " of " << total << eta
                << (bases.empty() ? "" : ", on " + stem(bases[0])) << ")" << std::endl;
      RunOptions ro;
      ro.bases = bases;
      ro.data_root = o.data_root;
      Value spec_g = load_spec(g, {}, bases);
      ro.out = (fs::path(o.runs) / spec_g.find("name")->s).string();
      RunOutcome out = run_graph(g, ro);
      if (out.interrupted) {
        std::cout << "[study] interrupted; run the same command to resume\n";
        return 130;
      }
      results.push_back(report::read_run(out.dir));
      double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - study_start).count();
      seconds_per_run = elapsed / done;
    }
    size_t w = report::pick_winner(results);
    previous_winner = st.graphs[w];
    std::cout << "[study] stage " << st.name << " winner: " << results[w].name << " (best val acc "
              << 100 * results[w].best_val_acc << "%)" << std::endl;
    if (st.final) {
      TestOptions to;
      to.bases = lineage[previous_winner.string()];
      to.data_root = o.data_root;
      to.out = results[w].dir.string();
      TestOutcome t = test_graph(previous_winner, to);
      std::cout << "[study] test accuracy of " << results[w].name << ": " << 100 * t.accuracy << "%\n" << t.report;
    }
  }
  fs::path report_md = write_study_report(s, o.runs);
  std::cout << "[study] report: " << report_md.string() << "\n";
  return 0;
}

fs::path write_study_report(const Study& s, const std::string& runs_dir) {
  std::vector<report::StageSpec> stages;
  std::optional<fs::path> final_run;
  for (const auto& st : s.stages) {
    report::StageSpec spec{st.name, st.title, {}, st.varies};
    std::vector<report::RunResult> results;
    for (const auto& g : st.graphs) {
      fs::path dir = fs::path(runs_dir) / load_spec(g).find("name")->s;
      results.push_back(report::read_run(dir));
      spec.runs.push_back(dir);
    }
    if (st.final) final_run = results[report::pick_winner(results)].dir;
    stages.push_back(spec);
  }
  fs::path out = s.report.empty() ? fs::path(runs_dir) / "report.md" : s.report;
  report::ReportOptions ro;
  ro.title = s.title;
  report::write_report(out, stages, final_run, ro);
  return out;
}

}  // namespace engine
