#include "engine/nn/runner/checkpoint.hpp"

#include <sstream>

#include "engine/core/error.hpp"
#include "engine/core/files.hpp"
#include "engine/nn/runner/ema.hpp"

namespace engine {

namespace fs = std::filesystem;

std::string checkpoint_bytes(torch::nn::Module& model, torch::optim::Optimizer* optimizer, const CheckpointInfo& info,
                             const Ema* ema) {
  torch::serialize::OutputArchive archive, weights;
  model.save(weights);
  archive.write("model", weights);
  if (optimizer) {
    torch::serialize::OutputArchive state;
    optimizer->save(state);
    archive.write("optimizer", state);
  }
  if (ema) {
    torch::serialize::OutputArchive average;
    ema->model()->save(average);
    archive.write("ema", average);
    archive.write("ema_updates", c10::IValue(ema->updates()));
  }
  for_each_checkpoint_key(info, [&](const char* key, const auto& v) { archive.write(key, c10::IValue(v)); });
  std::ostringstream bytes;
  archive.save_to(bytes);
  return bytes.str();
}

void save_checkpoint(const fs::path& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                     const CheckpointInfo& info, const Ema* ema) {
  write_file_atomic(path, checkpoint_bytes(model, optimizer, info, ema));
}

namespace {
std::string shape_of(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t k = 0; k < t.dim(); ++k) s += (k ? ", " : "") + std::to_string(t.size(k));
  return s + "]";
}

// Module::load, but every mismatch is explained the way Caffe does it.
void load_checked(torch::nn::Module& m, torch::serialize::InputArchive& a, const std::string& prefix,
                  const fs::path& file) {
  torch::NoGradGuard no_grad;
  auto copy = [&](const std::string& key, torch::Tensor& target, bool buffer) {
    torch::Tensor source;
    std::string name = prefix + key;
    if (!a.try_read(key, source, buffer))
      throw UserError(file.string() + ": cannot copy " + (buffer ? "buffer" : "param") + " '" + name +
                      "': the checkpoint has no such entry. It was written for another graph; retrain "
                      "(engine run --fresh) or evaluate the graph it came from.");
    if (source.sizes() != target.sizes())
      throw UserError(file.string() + ": cannot copy param '" + name + "': shape mismatch. Checkpoint shape is " +
                      shape_of(source) + "; model shape is " + shape_of(target) +
                      ". The graph changed since this checkpoint was written; retrain it (engine run --fresh).");
    target.copy_(source);
  };
  for (auto& p : m.named_parameters(false)) copy(p.key(), p.value(), false);
  for (auto& b : m.named_buffers(false)) copy(b.key(), b.value(), true);
  for (auto& child : m.named_children()) {
    torch::serialize::InputArchive sub;
    if (!a.try_read(child.key(), sub)) {
      // A module without state (an activation) carries nothing: older engines named them
      // differently (one `act` per block instead of act1/act2), and that must not matter.
      if (child.value()->parameters().empty() && child.value()->buffers().empty()) continue;
      throw UserError(file.string() + ": cannot copy module '" + prefix + child.key() +
                      "': the checkpoint has no such module. It was written for another graph.");
    }
    load_checked(*child.value(), sub, prefix + child.key() + ".", file);
  }
}

// A damaged checkpoint: the file, LibTorch's reason in one line, and the way on without it.
[[noreturn]] void unreadable(const fs::path& path, const c10::Error& e) {
  std::string why = e.what_without_backtrace();
  why = why.substr(0, why.find('\n'));
  if (why.size() > 200) why = why.substr(0, 200) + "...";
  const std::string dir = path.parent_path().string();
  const std::string fix = path.filename() == run_file::last
                              ? "Delete it to train this run again from epoch 1 in " + dir +
                                    ", or run with --fresh to keep the run "
                                    "aside as " +
                                    dir + ".prev-N and start over."
                              : "Retrain with engine run --fresh (the run is kept aside as " + dir + ".prev-N).";
  throw UserError(path.string() + ": truncated or corrupt checkpoint (" + why + "). " + fix);
}
}  // namespace

CheckpointInfo load_checkpoint(const fs::path& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                               Ema* ema) {
  if (!fs::exists(path))
    throw UserError(path.string() + ": no such checkpoint (has the graph been trained? engine run FILE)");
  torch::serialize::InputArchive archive, weights;
  CheckpointInfo info;
  // Onto the model's device (the CPU on a CPU host): a GPU run's checkpoint resumes or is
  // tested anywhere, and the optimiser's state lands beside the weights it updates.
  const auto params = model.parameters();
  const torch::Device device = params.empty() ? torch::Device(torch::kCPU) : params.front().device();
  try {  // a damaged archive may fail at any read, not only at opening
    archive.load_from(path.string(), device);
    if (!archive.try_read("model", weights)) throw UserError(path.string() + ": not an engine checkpoint (no 'model')");
    load_checked(model, weights, "", path);
    if (optimizer) {
      torch::serialize::InputArchive state;
      if (archive.try_read("optimizer", state)) optimizer->load(state);
    }
    if (ema) {
      torch::serialize::InputArchive average;
      c10::IValue updates;
      if (!archive.try_read("ema", average) || !archive.try_read("ema_updates", updates))
        throw UserError(path.string() + ": holds no moving average of the weights although [train].ema is on");
      load_checked(*ema->model(), average, "ema.", path);
      ema->set_updates(updates.toInt());
    }
    for_each_checkpoint_key(info, [&](const char* key, auto& field) {
      c10::IValue v;
      if (!archive.try_read(key, v)) return;
      if constexpr (std::is_same_v<std::decay_t<decltype(field)>, double>)
        field = v.toDouble();
      else
        field = v.toInt();
    });
  } catch (const c10::Error& e) {
    unreadable(path, e);
  }
  return info;
}

}  // namespace engine
