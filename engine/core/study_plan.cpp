#include "engine/core/study_plan.hpp"

#include <fstream>
#include <regex>
#include <sstream>

#include "engine/core/files.hpp"
#include "engine/core/schema.hpp"

namespace engine {

namespace fs = std::filesystem;

bool is_study_file(const fs::path& file) { return parse_toml_file(file).find("stages") != nullptr; }

namespace {
const std::vector<KeyDef>& study_keys() {
  static const std::vector<KeyDef> keys{
      key_string("title", "Study", "the report's title"),
      key_string("report", "", "where the Markdown report goes (default <runs>/report.md)"),
      key_ints("seeds", std::vector<int64_t>{0}, "train.seed of each run of every graph (one run per seed)", 0),
      key_string("decide_on", "last5_mean",
                 "the statistic each stage decides on: last5_mean (mean val accuracy of the last 5 epochs) or "
                 "best_val (the maximum over epochs, biased upward)",
                 report::kDecisionStatistics),
      key_float("alpha", 0.05, "family-wise error rate of a stage's comparisons (Holm)", 1e-6),
      key_int("bootstrap_replicates", 10000, "replicates of the hierarchical bootstrap (seeds, then val images)", 100),
      key_int("bootstrap_seed", 0, "seed of the bootstrap, so the report is reproducible", 0),
      KeyDef{"stages", Type::Table, std::nullopt, "the stages, in order ([[stages]])", {}, {}},
  };
  return keys;
}

const std::vector<KeyDef>& stage_keys() {
  static const std::vector<KeyDef> keys{
      key_string("name", std::nullopt, "the stage's label in the report (\"3.1\")"),
      key_string("title", "", "what the stage varies, in words"),
      key_strings("graphs", std::nullopt, "graph files, relative to the study file"),
      key_string("extends", "", "\"winner\": every graph's own extends names the previous stage's winner",
                 {"", "winner"}),
      key_string("varies", "", "what the stage varies, which picks its computed answer in the report",
                 {"", "widths", "depth", "activation", "stem"}),
      key_string("question", "", "the question the stage answers, quoted in the report above its answer"),
      key_bool("ablation", false,
               "the first graph is a recipe and each other removes one lever: compared with the first, no winner"),
      key_bool("final", false, "evaluate this stage's winner on the test split"),
      key_ints("seeds", std::vector<int64_t>{}, "this stage's seeds (empty: the study's)", 0),
  };
  return keys;
}

StudyStage stage_of(Value st, size_t k, const fs::path& file, const std::vector<int64_t>& seeds) {
  std::string where = "stages[" + std::to_string(k) + "]";
  apply_schema(st, stage_keys(), where);
  StudyStage stage;
  stage.name = st.find("name")->s;
  stage.title = st.find("title")->s;
  stage.varies = st.find("varies")->s;
  stage.extends_winner = st.find("extends")->s == "winner";
  stage.final = st.find("final")->b;
  stage.question = st.find("question")->s;
  stage.ablation = st.find("ablation")->b;
  if (stage.ablation && (stage.final || stage.extends_winner))
    throw SpecError(st.find("ablation")->loc, where +
                                                  ": an ablation stage has no winner: it cannot be final or "
                                                  "extend one (its graphs extend the recipe by name)");
  stage.seeds = st.find("seeds")->as_ints(where + ".seeds");
  if (stage.seeds.empty()) stage.seeds = seeds;
  if (stage.extends_winner && k == 0)
    throw SpecError(st.find("extends")->loc, where + ": the first stage has no previous winner to extend");
  const Value& graphs = *st.find("graphs");
  for (const auto& g : graphs.items) {
    fs::path p = file.parent_path() / g.s;
    if (!fs::exists(p))
      throw SpecError(g.loc, where + ": graph file '" + g.s + "' not found (looked for " + p.string() + ")");
    stage.graphs.push_back(p);
  }
  if (stage.graphs.empty()) throw SpecError(graphs.loc, where + ": graphs is empty");
  return stage;
}
}  // namespace

Study load_study(const fs::path& file, const std::vector<std::string>& overrides) {
  Value v = parse_toml_file(file);
  for (const auto& o : overrides) apply_override(v, o);
  apply_schema(v, study_keys(), "study", {"stages"});
  Study s;
  s.file = file;
  s.title = v.find("title")->s;
  if (!v.find("report")->s.empty()) s.report = v.find("report")->s;
  s.rule.decide_on = v.find("decide_on")->s;
  s.rule.alpha = v.find("alpha")->as_float("alpha");
  if (s.rule.alpha >= 0.5)
    throw SpecError(v.find("alpha")->loc, "alpha = " + v.find("alpha")->repr() + ": expected below 0.5");
  s.rule.replicates = v.find("bootstrap_replicates")->i;
  s.rule.bootstrap_seed = static_cast<uint64_t>(v.find("bootstrap_seed")->i);
  std::vector<int64_t> seeds = v.find("seeds")->as_ints("seeds");
  if (seeds.empty()) throw SpecError(v.find("seeds")->loc, "study: seeds must name at least one seed");
  const Value& stages = *v.find("stages");
  if (!stages.is(Value::Kind::Array) || stages.items.empty())
    throw SpecError(stages.loc, "study: [[stages]] must list at least one stage");
  for (size_t k = 0; k < stages.items.size(); ++k) s.stages.push_back(stage_of(stages.items[k], k, file, seeds));
  return s;
}

DeclaredBase declared_base(const fs::path& graph) {
  Value v = parse_toml_file(graph);
  DeclaredBase d;
  d.graph = graph;
  d.loc = v.loc;
  if (const Value* e = v.find("extends")) {
    d.base = graph.parent_path() / e->as_string("extends");
    d.loc = e->loc;
  }
  return d;
}

bool same_file(const fs::path& a, const fs::path& b) {
  if (a.empty() || b.empty()) return a.empty() && b.empty();
  std::error_code ec;
  return fs::equivalent(a, b, ec);
}

void pin_base(const fs::path& graph, const fs::path& base) {
  std::ifstream file(graph, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  std::string name = fs::relative(base, graph.parent_path()).generic_string();
  std::string line = "extends = " + toml_quote(name);
  DeclaredBase d = declared_base(graph);
  std::istringstream in(text);
  std::string out, l;
  int n = 0;
  bool done = false;
  for (bool leading = true; std::getline(in, l);) {
    ++n;
    if (!d.base.empty() && n == d.loc.line) {
      l = std::regex_replace(l, std::regex(R"(extends\s*=\s*("[^"]*"|'[^']*'))"), line);
      done = true;
    } else if (d.base.empty() && leading && (l.empty() || l[0] != '#')) {
      out += line + "\n";
      leading = false;
      done = true;
    }
    out += l + "\n";
  }
  if (!done) out += line + "\n";
  write_file_atomic(graph, out);
}

std::string run_identity(const Value& spec) {
  Value v = spec;
  v.erase("name");
  v.erase("title");
  return hex64(hash_string(to_toml(v)));
}

}  // namespace engine
