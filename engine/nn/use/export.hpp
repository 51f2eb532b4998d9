#pragma once
// `engine export RUN --to pytorch|onnx`: the trained model outside the engine. Writes
// model.py (engine/core/export.hpp), weights.pt (a plain state_dict, torch.load reads it as a
// dict whose keys match model.py's modules) and classes.json; for onnx also model.onnx, made
// by running model.py through torch.onnx.export with a Python that has torch. Torch-free header.
#include <filesystem>
#include <string>
#include <vector>

#include "engine/nn/use/trained_run.hpp"

namespace engine {

struct ExportOptions {
  RunSource source;
  std::string to = "pytorch";  // "pytorch" or "onnx"
  std::string dir;             // default <run>/export
  std::string python;          // for onnx; default export_python()
};

struct ExportOutcome {
  std::filesystem::path dir;
  std::vector<std::string> files;  // written, in dir
  std::string python_output;       // onnx: what `model.py --onnx` printed
  std::string note;                // TrainedRun::note
};

ExportOutcome export_run(const std::string& run_or_graph, const ExportOptions& options);

// $ENGINE_PYTHON, else /usr/bin/python3 (Debian's, where python3-torch installs torch; the
// python3 on PATH may be another one).
std::string export_python();

// Runs `python args...` and returns its exit status and output (stdout and stderr together).
struct PythonResult {
  int status = -1;
  std::string output;
};
PythonResult run_python(const std::string& python, const std::vector<std::string>& args);

}  // namespace engine
