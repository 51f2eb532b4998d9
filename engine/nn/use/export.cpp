#include "engine/nn/use/export.hpp"

#include "engine/core/files.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <sys/wait.h>

#include "engine/core/pytorch_source.hpp"
#include "engine/core/run_dir.hpp"
#include "engine/nn/model.hpp"
#include "engine/nn/runner/checkpoint.hpp"

namespace engine {

namespace fs = std::filesystem;

namespace {
std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Parameters and buffers under their dotted module paths, as Python's state_dict() names them,
// pickled as a dict of CPU tensors (torch::save of a module would write a TorchScript archive).
void save_state_dict(const fs::path& path, const torch::nn::Module& model) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& p : model.named_parameters()) dict.insert(p.key(), p.value().detach().cpu().contiguous().clone());
  for (const auto& b : model.named_buffers()) dict.insert(b.key(), b.value().detach().cpu().contiguous().clone());
  std::vector<char> bytes = torch::pickle_save(c10::IValue(dict));
  fs::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) throw UserError(tmp.string() + ": cannot write (disk full or no permission?)");
  }
  fs::rename(tmp, path);
}
}  // namespace

std::string export_python() {
  const char* env = std::getenv("ENGINE_PYTHON");
  return env && *env ? env : "/usr/bin/python3";
}

PythonResult run_python(const std::string& python, const std::vector<std::string>& args) {
  std::string command = shell_quote(python);
  for (const auto& a : args) command += " " + shell_quote(a);
  command += " 2>&1";
  PythonResult r;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return r;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) r.output.append(buf, n);
  int status = ::pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

ExportOutcome export_run(const std::string& run_or_graph, const ExportOptions& o) {
  if (o.to != "pytorch" && o.to != "onnx")
    throw UserError("--to " + o.to + ": export writes 'pytorch' (model.py + weights.pt) or 'onnx' (also model.onnx)");
  TrainedRun run = open_trained_run(run_or_graph, o.source);
  GraphModule model = build_model(run.graph);
  CheckpointInfo info = load_checkpoint(run.dir / "best.pt", *model);

  ExportOutcome out;
  out.note = run.note;
  out.dir = o.dir.empty() ? run.dir / "export" : fs::path(o.dir);
  fs::create_directories(out.dir);
  std::string origin = (run.dir / "best.pt").string() + " (epoch " + std::to_string(info.best_epoch) + ")";
  write_file_atomic(out.dir / "model.py", pytorch_source(run.graph, run.data, origin));
  save_state_dict(out.dir / "weights.pt", *model);
  write_file_atomic(out.dir / "classes.json", classes_json(run.data));
  out.files = {"model.py", "weights.pt", "classes.json"};
  if (o.to == "pytorch") return out;

  std::string python = o.python.empty() ? export_python() : o.python;
  PythonResult has_torch = run_python(python, {"-c", "import torch"});
  if (has_torch.status != 0)
    throw UserError("--to onnx runs model.py through torch.onnx.export, which needs a Python with torch; '" + python +
                    "' has none (apt-get install python3-torch, or point ENGINE_PYTHON at one). model.py and "
                    "weights.pt are written in " +
                    out.dir.string());
  PythonResult onnx =
      run_python(python, {(out.dir / "model.py").string(), "--onnx", (out.dir / "model.onnx").string()});
  if (onnx.status != 0)
    throw UserError("torch.onnx.export of " + (out.dir / "model.py").string() + " failed:\n" + onnx.output);
  out.python_output = onnx.output;
  out.files.push_back("model.onnx");
  return out;
}

}  // namespace engine
