#pragma once
// `engine study`: the whole ablation chain from one TOML file. Stages run in order; a stage
// may point its graphs at the previous stage's winner (best val accuracy, ties to fewer
// params), the final stage's winner is evaluated on the test split, and the report is written.
#include <filesystem>
#include <string>
#include <vector>

namespace engine {

struct StudyStage {
  std::string name, title, varies;
  std::vector<std::filesystem::path> graphs;
  bool extends_winner = false;  // each graph extends the previous stage's winner
  bool final = false;           // test this stage's winner
};

struct Study {
  std::filesystem::path file;
  std::string title;
  std::filesystem::path report;  // default runs/report.md
  std::vector<StudyStage> stages;
};

Study load_study(const std::filesystem::path& file);
// A study file lists [[stages]]; a graph file does not.
bool is_study_file(const std::filesystem::path& file);

struct StudyOptions {
  std::string data_root;
  std::string runs = "runs";  // where run directories go
  bool dry_run = false;       // print the plan and validate every graph; train nothing
};

// The report of a study from the run directories already there (no training).
std::filesystem::path write_study_report(const Study& study, const std::string& runs_dir);

// Returns 0 when every run completed, 130 when interrupted.
int run_study(const std::filesystem::path& file, const StudyOptions& options);

}  // namespace engine
