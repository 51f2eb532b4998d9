#include "engine/cli/use.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "engine/cli/conventions.hpp"
#include "engine/core/pytorch_source.hpp"
#include "engine/nn/use/export.hpp"
#include "engine/nn/use/predict.hpp"

namespace engine {

namespace {
std::string percent(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%6.2f%%", 100 * p);
  return buf;
}

std::string json_number(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", p);
  return buf;
}

std::string json_line(const ImagePrediction& r) {
  std::string s = "{\"file\": " + json_quote(r.file);
  if (!r.error.empty()) return s + ", \"error\": " + json_quote(r.error) + "}";
  s += ", \"top\": [";
  for (size_t k = 0; k < r.top.size(); ++k)
    s += std::string(k ? ", " : "") + "{\"label\": " + std::to_string(r.top[k].label) +
         ", \"wnid\": " + json_quote(r.top[k].wnid) + ", \"name\": " + json_quote(r.top[k].name) +
         ", \"probability\": " + json_number(r.top[k].probability) + "}";
  return s + "]}";
}

// Messages of the data pipeline (an older run's statistics recomputed) go to stderr, so
// stdout holds only the results (--json).
void log_to_stderr() {
  auto log = std::make_shared<spdlog::logger>("use", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  log->set_pattern("[%H:%M:%S] %v");
  spdlog::set_default_logger(log);
}
}  // namespace

UseCommands::UseCommands(CLI::App& app, Spellings& spellings) {
  predict_ = app.add_subcommand("predict", "classify image files with a trained run's best.pt");
  predict_->add_option("run", run_, "run directory (runs/<name>) or the graph file it was trained from")->required();
  predict_->add_option("images", inputs_, "JPEG/PNG files of any size, or directories (walked)")->required();
  predict_->add_option("--top", top_, "classes shown per image")->check(CLI::PositiveNumber);
  predict_->add_flag("--json", json_, "one JSON object per image on stdout, for scripts");
  predict_->add_flag("--tta", tta_, "average the logits of each image and its horizontal flip");
  predict_->add_option("--run-dir", out_, "run directory of a graph file (default runs/<name>)");
  spellings.old(predict_, "--out", "--run-dir", out_);
  predict_->add_option("--data", data_, "dataset root: read only for runs trained before data.toml existed");
  predict_->add_option("--set", sets_, "override a key of the graph, e.g. --set train.threads=1 (repeatable)");

  export_ = app.add_subcommand("export",
                               "write a trained run as a PyTorch module (model.py, weights.pt, classes.json) or ONNX");
  export_->add_option("run", run_, "run directory (runs/<name>) or the graph file it was trained from")->required();
  export_->add_option("--to", to_, "pytorch, or onnx (also model.onnx, through torch.onnx.export)")
      ->check(CLI::IsMember({"pytorch", "onnx"}));
  export_->add_option("-o,--output", dir_, "output directory (default <run>/export)");
  export_->add_option("--data", data_, "dataset root: read only for runs trained before data.toml existed");
  export_->add_option("--set", sets_, "override a key of the graph (repeatable)");
}

std::optional<int> UseCommands::run() const {
  if (predict_->parsed()) return predict();
  if (export_->parsed()) return export_run();
  return std::nullopt;
}

int UseCommands::predict() const {
  log_to_stderr();
  PredictOptions o;
  o.source = RunSource{sets_, out_, data_};
  o.top = top_;
  o.tta = tta_;
  PredictSummary s = predict_images(run_, inputs_, o, [&](const ImagePrediction& r) {
    if (!r.error.empty()) std::cerr << "error: " << r.file << ": " << r.error << "\n";
    if (json_) {
      std::cout << json_line(r) << "\n";
    } else if (r.error.empty()) {
      std::cout << r.file << "\n";
      for (const auto& c : r.top)
        std::cout << "  " << percent(c.probability) << "  " << c.wnid << "  " << c.name << "\n";
    }
  });
  std::cout.flush();
  if (!s.note.empty()) std::cerr << "note: " << s.note << "\n";
  char line[256];
  std::snprintf(line, sizeof line, "%lld images in %.3f s (%.0f img/s) on %s%s", static_cast<long long>(s.predicted),
                s.seconds, s.predicted / std::max(s.seconds, 1e-9), s.device.c_str(), tta_ ? ", with flip TTA" : "");
  std::cerr << line << "; " << (s.run / "best.pt").string() << " (epoch " << s.best_epoch << ")"
            << (s.failed ? "; " + std::to_string(s.failed) + " file(s) could not be read" : "") << "\n";
  return s.failed ? 2 : 0;
}

int UseCommands::export_run() const {
  log_to_stderr();
  ExportOptions o;
  o.source = RunSource{sets_, "", data_};
  o.to = to_;
  o.dir = dir_;
  ExportOutcome out = engine::export_run(run_, o);
  if (!out.note.empty()) std::cerr << "note: " << out.note << "\n";
  for (const auto& f : out.files)
    if (f != "model.onnx") std::cout << "wrote " << (out.dir / f).string() << "\n";
  std::cout << out.python_output;  // onnx: model.py --onnx says what it wrote and what onnx.checker found
  return 0;
}

}  // namespace engine
