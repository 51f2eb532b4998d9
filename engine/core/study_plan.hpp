#pragma once
// A study file (graphs/study.toml) as a plan: stages of graph files, the seeds each is trained
// with, and which stages build on the previous stage's winner. A graph file is what runs: a
// stage that builds on a winner declares it in each file's `extends`, and the study checks the
// declaration against the measurement (declared_base / pin_base).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/core/report/decision.hpp"
#include "engine/core/spec.hpp"

namespace engine {

struct StudyStage {
  std::string name, title, varies, question;
  std::vector<std::filesystem::path> graphs;
  std::vector<int64_t> seeds;   // each graph is trained once per seed
  bool extends_winner = false;  // each graph extends the previous stage's winner, by file name
  bool final = false;           // test this stage's winner
  bool ablation = false;        // graphs[0] is a recipe, each other graph removes one lever
};

struct Study {
  std::filesystem::path file;
  std::string title;
  std::filesystem::path report;  // default <runs>/report.md
  report::DecisionRule rule;     // how every stage is decided (decide_on, alpha, bootstrap_*)
  std::vector<StudyStage> stages;
};

// `overrides` are --set assignments on the study file itself ("seeds=[0]").
Study load_study(const std::filesystem::path& file, const std::vector<std::string>& overrides = {});
// A study file lists [[stages]]; a graph file does not.
bool is_study_file(const std::filesystem::path& file);

// The `extends` a graph file declares, resolved against its folder; empty when it has none.
struct DeclaredBase {
  std::filesystem::path graph, base;
  Loc loc;  // of the extends value, or of the file when it has none
};
DeclaredBase declared_base(const std::filesystem::path& graph);
bool same_file(const std::filesystem::path& a, const std::filesystem::path& b);

// Rewrites the file's `extends = "..."` line to name `base` (relative to the file), keeping
// every other byte: comments, layout, the rest of that line. A file without extends gets one
// as its first line after the leading comments.
void pin_base(const std::filesystem::path& graph, const std::filesystem::path& base);

// What makes two runs the same run: the resolved spec without its name and title, and the seed.
std::string run_identity(const Value& completed_spec);

}  // namespace engine
