// `engine time`: Caffe's `caffe time` for this engine. Every leaf node (a block's convs, norms,
// activations and add, one by one) is timed forward and backward on a synthetic batch at the
// run's device, precision and memory format, and its achieved GFLOP/s is derived from the
// validator's MACs (2 FLOPs per MAC forward; backward about twice the forward's FLOPs).
//
// Forward: the leaves run one after another as the model would run them, with a device sync
// after each on CUDA. Backward: a gradient hook on every leaf's output records when autograd has
// finished that output's gradient; the time from one hook to the next is the backward of the
// node whose hook fired first (on a chain exactly; across a residual join the node whose
// gradient autograd computes next). In-place activations run out of place here, so that every
// node has an output of its own to hook. The step and eval figures are of the real model, with
// no hooks and no syncs but one per step.
#include <chrono>
#include <cstdio>
#include <sstream>

#include "engine/core/info.hpp"
#include "engine/core/registry.hpp"
#include "engine/nn/runner/optimizer.hpp"
#include "engine/nn/runner/plan.hpp"
#include "engine/nn/runner/prepare.hpp"

namespace engine {

namespace time_graph_detail {
using Clock = std::chrono::steady_clock;
constexpr int kWarmup = 2;

struct Leaf {
  std::string name, op, shape;
  int64_t macs = 0;
  std::vector<int> inputs;  // indices of earlier leaves; -1 is the batch
  Built built;
};

// The leaves of `nodes`, composites expanded; returns the leaf whose output is the last node's.
int flatten(const std::vector<Node>& nodes, const std::string& prefix, int input, const KernelSettings& kernels,
            std::vector<Leaf>& out) {
  std::vector<int> at(nodes.size(), -1);
  for (size_t k = 0; k < nodes.size(); ++k) {
    const Node& n = nodes[k];
    std::vector<int> ins;
    for (int i : n.inputs) ins.push_back(i < 0 ? input : at[i]);
    // Names as the built model's modules: a spliced composite (resnet_stages) adds no level.
    std::string path = n.def->splice ? prefix : prefix.empty() ? n.name : prefix + "." + n.name;
    if (!n.children.empty() && !op_builders().count(n.op)) {
      at[k] = flatten(n.children, path, ins.at(0), kernels, out);
      continue;
    }
    Node leaf = n;
    leaf.input_shared = true;  // no in-place op: every node keeps an output to hook
    out.push_back(Leaf{path, n.op, shape_str(n.out), n.macs, ins, build_node(leaf, kernels)});
    at[k] = static_cast<int>(out.size()) - 1;
    if (k > 0 && kernels.ours &&
        pool_runs_first(nodes, k - 1)) {  // in the model's order: the pool, then the activation
      const int a = at[k] - 1;
      Leaf act = out[a], pool = out[a + 1];
      pool.inputs = act.inputs, act.inputs = {a}, act.shape = pool.shape;
      out[a] = std::move(pool), out[a + 1] = std::move(act);
    }
  }
  return at.back();
}

void sync(const Hardware& hw) {
  if (hw.device.is_cuda()) torch::cuda::synchronize();
}

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

std::string fixed(double v, int decimals) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string pad(std::string s, size_t width, bool right) {
  if (s.size() < width) s.insert(right ? 0 : s.size(), width - s.size(), ' ');
  return s;
}

std::string gflops(double flops, double ms) { return flops > 0 && ms > 0 ? fixed(flops / (ms * 1e6), 1) : "-"; }

std::string time_table(const TimeOutcome& r, const std::string& header) {
  double total = 0;
  for (const auto& n : r.nodes) total += n.forward_ms + n.backward_ms;
  size_t name_w = 4, op_w = 2, shape_w = 6;
  for (const auto& n : r.nodes)
    name_w = std::max(name_w, n.name.size()), op_w = std::max(op_w, n.op.size()),
    shape_w = std::max(shape_w, n.shape.size());
  std::ostringstream out;
  auto row = [&](const std::string& a, const std::string& b, const std::string& c,
                 const std::vector<std::string>& nums) {
    std::string line = pad(a, name_w, false) + "  " + pad(b, op_w, false) + "  " + pad(c, shape_w, false);
    const size_t widths[] = {9, 8, 6, 8, 6, 9, 9};
    for (size_t k = 0; k < nums.size(); ++k) line += "  " + pad(nums[k], widths[k], true);
    out << line << "\n";
  };
  out << header;
  row("node", "op", "output", {"MMACs", "fwd ms", "fwd %", "bwd ms", "bwd %", "fwd GF/s", "bwd GF/s"});
  const std::string rule(name_w + op_w + shape_w + 4 + 9 + 8 + 6 + 8 + 6 + 9 + 9 + 14, '-');
  out << rule << "\n";
  double fwd = 0, bwd = 0;
  int64_t macs = 0;
  for (const auto& n : r.nodes) {
    const double flops = 2.0 * n.macs * r.batch;
    row(n.name, n.op, n.shape,
        {n.macs ? fixed(n.macs * r.batch / 1e6, 1) : "-", fixed(n.forward_ms, 2), fixed(100 * n.forward_ms / total, 1),
         fixed(n.backward_ms, 2), fixed(100 * n.backward_ms / total, 1), gflops(flops, n.forward_ms),
         gflops(2 * flops, n.backward_ms)});
    fwd += n.forward_ms, bwd += n.backward_ms, macs += n.macs;
  }
  out << rule << "\n";
  row("total", "", "",
      {fixed(macs * r.batch / 1e6, 1), fixed(fwd, 2), fixed(100 * fwd / total, 1), fixed(bwd, 2),
       fixed(100 * bwd / total, 1), gflops(2.0 * macs * r.batch, fwd), gflops(4.0 * macs * r.batch, bwd)});
  out << "\ntrain step (forward, loss, backward, optimiser; no hooks): " << fixed(r.step_ms, 1)
      << " ms = " << fixed(r.train_img_s, 0) << " img/s\n"
      << "eval forward (no gradients):                               " << fixed(r.eval_ms, 1)
      << " ms = " << fixed(r.eval_img_s, 0) << " img/s\n";
  return out.str();
}
// One memory format: p as resolved, its format set; prepares the model here.
TimeOutcome time_format(Prepared& p, const TimeOptions& o) {
  prepare_model(p);
  const Hardware& hw = p.hw;
  const int64_t batch = p.train.batch_size;

  std::vector<int64_t> shape{batch};
  shape.insert(shape.end(), p.graph.input.begin(), p.graph.input.end());
  torch::manual_seed(p.train.seed);
  torch::Tensor images = torch::randn(shape, torch::TensorOptions().device(hw.device));
  if (hw.channels_last) images = images.contiguous(torch::MemoryFormat::ChannelsLast);
  torch::Tensor labels =
      torch::randint(p.graph.num_classes, {batch}, torch::TensorOptions().dtype(torch::kLong).device(hw.device));

  // Per node: the leaves, held by one module so that they are placed like the model.
  std::vector<Leaf> leaves;
  flatten(p.graph.nodes, "", -1, p.kernels(), leaves);
  torch::nn::Module holder;
  for (size_t k = 0; k < leaves.size(); ++k)
    if (leaves[k].built.module) holder.register_module("n" + std::to_string(k), leaves[k].built.module);
  place_model(holder, hw);
  holder.train();
  TimeOutcome r;
  r.batch = batch;
  for (const auto& l : leaves) r.nodes.push_back({l.name, l.op, l.shape, l.macs, 0, 0});
  r.nodes.push_back({"loss", "cross_entropy", "", 0, 0, 0});
  const size_t loss_row = leaves.size();
  for (int it = 0; it < kWarmup + o.iterations; ++it) {
    const bool timed = it >= kWarmup;
    std::vector<torch::Tensor> outs(leaves.size());
    torch::Tensor loss;
    {
      Autocast autocast(hw);
      for (size_t k = 0; k < leaves.size(); ++k) {
        std::vector<torch::Tensor> args;
        for (int in : leaves[k].inputs) args.push_back(in < 0 ? images : outs[in]);
        sync(hw);
        auto start = Clock::now();
        outs[k] = leaves[k].built.forward(args);
        sync(hw);
        if (timed) r.nodes[k].forward_ms += ms_since(start);
      }
      auto start = Clock::now();
      loss = training_loss(outs.back(), labels, p.train);
      sync(hw);
      if (timed) r.nodes[loss_row].forward_ms += ms_since(start);
    }
    std::vector<std::pair<Clock::time_point, size_t>> fired;
    fired.reserve(leaves.size());
    for (size_t k = 0; k < leaves.size(); ++k)
      if (outs[k].requires_grad())
        outs[k].register_hook([&fired, &hw, k](const torch::Tensor&) {
          sync(hw);
          fired.emplace_back(Clock::now(), k);
        });
    holder.zero_grad();
    auto start = Clock::now();
    loss.backward();
    sync(hw);
    auto end = Clock::now();
    if (!timed) continue;
    // From backward's start to the first hook: the loss; from each hook to the next: its node.
    size_t owner = loss_row;
    Clock::time_point from = start;
    for (const auto& [when, k] : fired) {
      r.nodes[owner].backward_ms += std::chrono::duration<double, std::milli>(when - from).count();
      owner = k, from = when;
    }
    r.nodes[owner].backward_ms += std::chrono::duration<double, std::milli>(end - from).count();
  }
  for (auto& n : r.nodes) n.forward_ms /= o.iterations, n.backward_ms /= o.iterations;

  // The real model: whole training steps, then eval forwards.
  auto opt = make_optimizer(p.train, p.model->parameters());
  p.model->train();
  Clock::time_point start;
  for (int it = 0; it < kWarmup + o.iterations; ++it) {
    if (it == kWarmup) sync(hw), start = Clock::now();
    timed_step(p.model, *opt, images, labels, p.train, hw);
  }
  sync(hw);
  r.step_ms = ms_since(start) / o.iterations;
  p.model->eval();
  {
    torch::NoGradGuard no_grad;
    for (int it = 0; it < kWarmup + o.iterations; ++it) {
      if (it == kWarmup) sync(hw), start = Clock::now();
      Autocast autocast(hw);
      p.model->forward(images);
    }
    sync(hw);
  }
  r.eval_ms = ms_since(start) / o.iterations;
  r.train_img_s = batch / (r.step_ms / 1e3);
  r.eval_img_s = batch / (r.eval_ms / 1e3);

  r.memory_format = hw.channels_last ? "channels_last" : "contiguous";
  return r;
}

// The per-node figures behind "auto": each leaf's forward + backward in every format timed.
std::string format_table(const TimeOutcome& r) {
  size_t name_w = 4, op_w = 2;
  for (const auto& n : r.nodes) name_w = std::max(name_w, n.name.size()), op_w = std::max(op_w, n.op.size());
  std::ostringstream out;
  auto row = [&](const std::string& a, const std::string& b, const std::vector<std::string>& nums) {
    std::string line = pad(a, name_w, false) + "  " + pad(b, op_w, false);
    for (const auto& v : nums) line += "  " + pad(v, 16, true);
    out << line << "\n";
  };
  std::vector<std::string> head;
  for (const auto& f : r.formats) head.push_back(f.memory_format + " ms");
  head.push_back("slowest/fastest");
  out << "\nmemory format = \"auto\": forward + backward per node in each format (engine run times whole steps of "
         "each, keeps the faster and caches the choice)\n";
  row("node", "op", head);
  const std::string rule(name_w + op_w + 2 + 18 * head.size(), '-');
  out << rule << "\n";
  auto ratio = [](std::vector<double> v) {
    auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    return *lo > 0 ? fixed(*hi / *lo, 2) + "x" : std::string("-");
  };
  for (size_t k = 0; k < r.nodes.size(); ++k) {
    std::vector<std::string> nums;
    std::vector<double> ms;
    for (const auto& f : r.formats) {
      ms.push_back(f.nodes[k].forward_ms + f.nodes[k].backward_ms);
      nums.push_back(fixed(ms.back(), 2));
    }
    nums.push_back(ratio(ms));
    row(r.nodes[k].name, r.nodes[k].op, nums);
  }
  out << rule << "\n";
  std::vector<std::string> nums;
  std::vector<double> ms;
  for (const auto& f : r.formats) ms.push_back(f.step_ms), nums.push_back(fixed(f.step_ms, 1));
  nums.push_back(ratio(ms));
  row("train step", "(no hooks)", nums);
  out << "faster step: " << r.memory_format << "\n";
  return out.str();
}
}  // namespace time_graph_detail

TimeOutcome time_graph(const std::filesystem::path& graph_file, const TimeOptions& o) {
  using namespace time_graph_detail;
  if (o.iterations < 1) throw UserError("--iterations must be at least 1, not " + std::to_string(o.iterations));
  Prepared p = resolve(graph_file, o);
  if (!o.device.empty()) p.train.device = o.device;
  if (o.batch > 0) p.train.batch_size = o.batch;
  resolve_run_settings(p, true);
  // "auto" is a choice engine run measures (runner/plan.cpp): show both sides of it.
  const Hardware hw = setup_hardware(p.train, p.graph.input.size());
  std::vector<std::string> formats{p.train.memory_format};
  if (p.train.memory_format == "auto" && p.graph.input.size() == 3) formats = {"channels_last", "contiguous"};
  // As engine run's plan: with "auto" our convolution kernels are measured against ATen's first.
  std::vector<ConvTiming> convs;
  if (p.train.memory_format == "auto") convs = measure_conv_kernels(p, hw);
  p.conv_kernels = conv_choices_of(convs);
  std::vector<TimeOutcome> outcomes;
  for (const std::string& f : formats) {
    Prepared q = p;
    q.train.memory_format = f;
    outcomes.push_back(time_format(q, o));
  }
  auto fastest = std::min_element(outcomes.begin(), outcomes.end(),
                                  [](const TimeOutcome& a, const TimeOutcome& b) { return a.step_ms < b.step_ms; });
  TimeOutcome r = *fastest;
  if (outcomes.size() > 1) r.formats = outcomes;
  const std::string header = "engine time " + graph_file.string() + ": batch " + std::to_string(r.batch) + ", " +
                             std::to_string(o.iterations) + " iterations after " + std::to_string(kWarmup) +
                             " warm-up, on " + hw.name + ", " + p.train.precision + " " + r.memory_format + "; " +
                             commas(p.graph.params) + " params, " + commas(p.graph.macs) +
                             " MACs per image\n"
                             "backward per node: time between gradient hooks on consecutive node outputs; in-place "
                             "activations run out of place; GF/s from the validator's MACs (2 FLOPs per MAC forward, "
                             "4 backward)\n\n";
  std::string kernels;
  if (!convs.empty()) {
    kernels =
        "\nconvolutions a rule sends to one of our kernels (engine/kernels/kernels.hpp), timed against ATen's; * the "
        "kernel all of the above ran:\n";
    for (const std::string& line : conv_timing_lines(convs)) kernels += line + "\n";
  }
  r.text = time_table(r, header) + kernels + (r.formats.empty() ? "" : format_table(r));
  return r;
}

}  // namespace engine
