#include "engine/nn/dist/ddp.hpp"

#include <cstring>
#include <exception>
#include <map>

#include "engine/core/error.hpp"

namespace engine::dist {

namespace {
// One collective per dtype instead of one per tensor.
void broadcast_flat(ProcessGroup& g, const std::vector<torch::Tensor>& tensors, const std::string& what) {
  torch::NoGradGuard no_grad;
  std::map<std::pair<int, std::string>, std::vector<torch::Tensor>> by_kind;
  for (const auto& t : tensors)
    if (t.defined() && t.numel() > 0) by_kind[{int(t.scalar_type()), t.device().str()}].push_back(t);
  for (auto& [kind, list] : by_kind) {
    std::vector<torch::Tensor> flat_parts;
    for (const auto& t : list) flat_parts.push_back(t.detach().reshape(-1));
    std::vector<torch::Tensor> flat{torch::cat(flat_parts)};
    g.broadcast(flat, 0, what);
    int64_t offset = 0;
    for (auto& t : list) {
      t.detach().copy_(flat[0].narrow(0, offset, t.numel()).view(t.sizes()));
      offset += t.numel();
    }
  }
}

uint64_t fnv1a(uint64_t h, const void* data, size_t bytes) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < bytes; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

enum Failure : int64_t { kNone = 0, kUser = 1, kOther = 2 };

// Every rank's failure code, reduced to the worst; rethrows this rank's own exception first.
void agree(ProcessGroup* g, std::exception_ptr error, Failure mine, const std::string& what,
           std::chrono::milliseconds timeout) {
  if (!g) {
    if (error) std::rethrow_exception(error);
    return;
  }
  std::vector<torch::Tensor> flag{torch::tensor({static_cast<int64_t>(mine)}, torch::kInt64)};
  g->all_reduce(flag, Reduce::Max, what, timeout);
  if (error) std::rethrow_exception(error);
  int64_t worst = flag[0].item<int64_t>();
  if (worst == kNone) return;
  std::string message = "another rank failed while " + what + " (its message is above); this rank stops too";
  if (worst == kUser) throw UserError(message);
  throw DistError(message);
}

template <class F>
std::pair<std::exception_ptr, Failure> attempt(F&& f) {
  try {
    f();
    return {nullptr, kNone};
  } catch (const UserError&) {
    return {std::current_exception(), kUser};
  } catch (...) {
    return {std::current_exception(), kOther};
  }
}
}  // namespace

void broadcast_state(ProcessGroup& g, torch::nn::Module& m) {
  std::vector<torch::Tensor> all = m.parameters();
  for (const auto& b : m.buffers()) all.push_back(b);
  broadcast_flat(g, all, "broadcasting rank 0's initial weights");
}

void broadcast_buffers(ProcessGroup& g, torch::nn::Module& m) {
  broadcast_flat(g, m.buffers(), "broadcasting rank 0's BatchNorm statistics");
}

void check_replicas(ProcessGroup& g, const torch::nn::Module& m, const std::string& when) {
  uint64_t h = 14695981039346656037ull;
  std::vector<torch::Tensor> all = m.parameters();
  for (const auto& b : m.buffers()) all.push_back(b);
  for (const auto& t : all) {
    torch::Tensor cpu = t.detach().to(torch::kCPU).contiguous();
    h = fnv1a(h, cpu.data_ptr(), cpu.numel() * cpu.element_size());
  }
  const auto mine = static_cast<int64_t>(h >> 1);  // >> 1: -mine cannot overflow
  std::vector<torch::Tensor> range{torch::tensor({mine, -mine}, torch::kInt64)};
  g.all_reduce(range, Reduce::Max, "comparing the ranks' weights " + when);
  if (range[0][0].item<int64_t>() != -range[0][1].item<int64_t>())
    throw DistError("rank " + std::to_string(g.rank()) + " of " + std::to_string(g.size()) +
                    ": the ranks' weights differ " + when +
                    " (they must stay bit-identical; a rank computed "
                    "on other data or with other settings)");
}

GradientReducer::GradientReducer(ProcessGroup& g, const std::vector<torch::Tensor>& params, int64_t bucket_bytes)
    : group_(g) {
  Bucket current;
  int64_t bytes = 0;
  auto close = [&] {
    if (current.params.empty()) return;
    int64_t total = current.offsets.back() + current.params.back().numel();
    current.flat = torch::zeros({total}, current.params.front().options().requires_grad(false));
    buckets_.push_back(std::move(current));
    current = Bucket();
    bytes = 0;
  };
  for (auto it = params.rbegin(); it != params.rend(); ++it) {
    const torch::Tensor& p = *it;
    if (!p.requires_grad()) continue;
    const bool other_kind = !current.params.empty() && (current.params.front().scalar_type() != p.scalar_type() ||
                                                        current.params.front().device() != p.device());
    if (other_kind || (bytes > 0 && bytes + p.numel() * p.element_size() > bucket_bytes)) close();
    current.offsets.push_back(current.params.empty() ? 0 : current.offsets.back() + current.params.back().numel());
    current.params.push_back(p);
    bytes += p.numel() * p.element_size();
  }
  close();
}

void GradientReducer::reduce(int64_t local, int64_t global) {
  torch::NoGradGuard no_grad;
  // Rank r's gradient is of its mean over n_r images; the global mean's is sum_r n_r/N grad_r.
  const double weight = global > 0 ? static_cast<double>(local) / static_cast<double>(global) : 0.0;
  std::vector<ProcessGroup::Pending> pending;
  for (auto& b : buckets_) {
    for (size_t k = 0; k < b.params.size(); ++k) {
      torch::Tensor slice = b.flat.narrow(0, b.offsets[k], b.params[k].numel());
      const torch::Tensor& grad = b.params[k].grad();
      if (grad.defined() && local > 0)
        slice.view(grad.sizes()).copy_(grad);
      else
        slice.zero_();
    }
    b.flat.mul_(weight);
    pending.push_back(group_.all_reduce_async(b.flat, "averaging gradients"));
  }
  for (size_t i = 0; i < buckets_.size(); ++i) {
    pending[i].wait();
    Bucket& b = buckets_[i];
    for (size_t k = 0; k < b.params.size(); ++k) {
      torch::Tensor& p = b.params[k];
      torch::Tensor slice = b.flat.narrow(0, b.offsets[k], p.numel()).view(p.sizes());
      if (p.grad().defined())
        p.mutable_grad().copy_(slice);
      else
        p.mutable_grad() = slice.clone();
    }
  }
}

void on_root(ProcessGroup* g, const std::string& what, const std::function<void()>& f,
             std::chrono::milliseconds timeout) {
  std::pair<std::exception_ptr, Failure> r{nullptr, kNone};
  if (!g || g->root()) r = attempt(f);
  agree(g, r.first, r.second, what, timeout);
}

void root_first(ProcessGroup* g, const std::string& what, const std::function<void()>& f,
                std::chrono::milliseconds timeout) {
  on_root(g, what, f, timeout);
  if (!g) return;
  std::pair<std::exception_ptr, Failure> r{nullptr, kNone};
  if (!g->root()) r = attempt(f);
  agree(g, r.first, r.second, what, timeout);
}

void check_same(ProcessGroup* g, int64_t value, const std::string& what, const std::string& hint) {
  if (!g) return;
  std::vector<torch::Tensor> range{torch::tensor({value, -value}, torch::kInt64)};
  g->all_reduce(range, Reduce::Max, "comparing " + what);
  int64_t high = range[0][0].item<int64_t>(), low = -range[0][1].item<int64_t>();
  if (high != low)
    throw UserError("the ranks disagree on " + what + " (from " + std::to_string(low) + " to " + std::to_string(high) +
                    ", rank " + std::to_string(g->rank()) + " has " + std::to_string(value) + "): " + hint);
}

}  // namespace engine::dist
