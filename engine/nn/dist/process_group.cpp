#include "engine/nn/dist/process_group.hpp"

#include <algorithm>
#include <cstdlib>

#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>
#ifdef ENGINE_HAVE_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef ENGINE_HAVE_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "engine/core/error.hpp"

namespace engine::dist {

bool gloo_available() {
#ifdef ENGINE_HAVE_GLOO
  return true;
#else
  return false;
#endif
}

// The concrete c10d class behind one interface: it derives from c10d::ProcessGroup in 1.13 and
// from c10d::Backend in 2.x, but its collectives have the same signatures in both.
struct ProcessGroup::Backend {
  virtual ~Backend() = default;
  virtual c10::intrusive_ptr<c10d::Work> allreduce(std::vector<at::Tensor>& t, const c10d::AllreduceOptions& o) = 0;
  virtual c10::intrusive_ptr<c10d::Work> broadcast(std::vector<at::Tensor>& t, const c10d::BroadcastOptions& o) = 0;
};

namespace {
template <class PG>
struct BackendOf : ProcessGroup::Backend {
  explicit BackendOf(c10::intrusive_ptr<PG> pg) : pg(std::move(pg)) {}
  c10::intrusive_ptr<c10d::Work> allreduce(std::vector<at::Tensor>& t, const c10d::AllreduceOptions& o) override {
    return pg->allreduce(t, o);
  }
  c10::intrusive_ptr<c10d::Work> broadcast(std::vector<at::Tensor>& t, const c10d::BroadcastOptions& o) override {
    return pg->broadcast(t, o);
  }
  c10::intrusive_ptr<PG> pg;
};

std::string first_line(const std::exception& e) {
  const auto* c10 = dynamic_cast<const c10::Error*>(&e);
  std::string s = c10 ? c10->what_without_backtrace() : e.what();
  return s.substr(0, s.find('\n'));
}

std::string seconds(std::chrono::milliseconds t) { return std::to_string(t.count() / 1000) + " s"; }

// Unused when LibTorch is built without Gloo.
[[maybe_unused]] bool is_loopback(const std::string& host) { return host == "localhost" || host.rfind("127.", 0) == 0; }

c10d::ReduceOp reduce_op(Reduce op) {
  switch (op) {
    case Reduce::Min:
      return c10d::ReduceOp(c10d::ReduceOp::MIN);
    case Reduce::Max:
      return c10d::ReduceOp(c10d::ReduceOp::MAX);
    default:
      return c10d::ReduceOp(c10d::ReduceOp::SUM);
  }
}
}  // namespace

ProcessGroup::ProcessGroup(WorldInfo world, std::chrono::milliseconds timeout)
    : world_(std::move(world)), timeout_(timeout) {}

ProcessGroup::~ProcessGroup() = default;

std::unique_ptr<ProcessGroup> ProcessGroup::join(const WorldInfo& world, bool cuda, std::chrono::milliseconds timeout) {
  std::unique_ptr<ProcessGroup> g(new ProcessGroup(world, timeout));
  const std::string where = world.master_addr + ":" + std::to_string(world.master_port);
  c10::intrusive_ptr<c10d::Store> store;
  try {
    c10d::TCPStoreOptions o;
    o.port = static_cast<uint16_t>(world.master_port);
    o.isServer = world.rank == 0;
    o.numWorkers = static_cast<size_t>(world.size);
    o.timeout = timeout;
    store = c10::make_intrusive<c10d::TCPStore>(world.master_addr, o);
  } catch (const std::exception& e) {
    throw DistError(
        "rank " + std::to_string(world.rank) + " of " + std::to_string(world.size) + ": no rendezvous at " + where +
        " within " + seconds(timeout) + " (" + world.source +
        "; are all ranks started, is MASTER_ADDR rank 0's host and MASTER_PORT free there?): " + first_line(e));
  }
  try {
#ifdef ENGINE_HAVE_NCCL
    if (cuda) {
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout;
      g->device_ = torch::Device(
          torch::kCUDA,
          static_cast<c10::DeviceIndex>(world.local_rank % std::max<size_t>(torch::cuda::device_count(), 1)));
      g->backend_ = std::make_unique<BackendOf<c10d::ProcessGroupNCCL>>(
          c10::make_intrusive<c10d::ProcessGroupNCCL>(store, world.rank, world.size, options));
      return g;
    }
#endif
#ifdef ENGINE_HAVE_GLOO
    (void)cuda;  // Gloo reduces CUDA tensors through host copies
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    if (const char* name = std::getenv("GLOO_SOCKET_IFNAME"))
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(name));
    else if (is_loopback(world.master_addr))
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else
      options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    g->backend_ = std::make_unique<BackendOf<c10d::ProcessGroupGloo>>(
        c10::make_intrusive<c10d::ProcessGroupGloo>(store, world.rank, world.size, options));
    return g;
#else
    (void)cuda;
    throw UserError(
        "this engine was built without c10d's Gloo backend (install libgloo-dev and reconfigure), so it "
        "cannot train on " +
        std::to_string(world.size) + " ranks");
#endif
  } catch (const UserError&) {
    throw;
  } catch (const std::exception& e) {
    throw DistError("rank " + std::to_string(world.rank) + " of " + std::to_string(world.size) +
                    ": could not connect to the other ranks (rendezvous " + where + ", " + seconds(timeout) +
                    "): " + first_line(e));
  }
}

void ProcessGroup::fail(const std::string& what, const std::exception& e) const {
  throw DistError("rank " + std::to_string(rank()) + " of " + std::to_string(size()) + ": " + what +
                  " failed: another rank exited or did not answer within " + seconds(timeout_) +
                  " (ENGINE_DIST_TIMEOUT); " + first_line(e));
}

void ProcessGroup::Pending::wait() {
  try {
    work_->wait();
  } catch (const std::exception& e) {
    group_->fail(what_, e);
  }
}

template <class Op>
void ProcessGroup::on_device(std::vector<torch::Tensor>& tensors, const std::string& what, Op op) {
  for (auto& t : tensors) {
    const bool travel = t.device() != device_ && !device_.is_cpu();
    std::vector<at::Tensor> one{travel ? t.to(device_) : t};
    try {
      op(one)->wait();
    } catch (const std::exception& e) {
      fail(what, e);
    }
    if (travel) t.copy_(one[0]);
  }
}

void ProcessGroup::all_reduce(std::vector<torch::Tensor>& tensors, Reduce op, const std::string& what,
                              std::chrono::milliseconds timeout) {
  c10d::AllreduceOptions o;
  o.reduceOp = reduce_op(op);
  if (timeout.count() > 0) o.timeout = timeout;
  on_device(tensors, what, [&](std::vector<at::Tensor>& one) { return backend_->allreduce(one, o); });
}

ProcessGroup::Pending ProcessGroup::all_reduce_async(torch::Tensor& tensor, const std::string& what) {
  std::vector<at::Tensor> one{tensor};
  try {
    return Pending(this, backend_->allreduce(one, c10d::AllreduceOptions()), what);
  } catch (const std::exception& e) {
    fail(what, e);
  }
}

void ProcessGroup::broadcast(std::vector<torch::Tensor>& tensors, int root, const std::string& what) {
  c10d::BroadcastOptions o;
  o.rootRank = root;
  on_device(tensors, what, [&](std::vector<at::Tensor>& one) { return backend_->broadcast(one, o); });
}

ProcessGroup* group_from_env(bool cuda) {
  // Kept for the process's life and never destroyed: peers may already be gone at exit.
  static ProcessGroup* group = nullptr;
  static bool joined = false;
  if (joined) return group;
  WorldInfo world = world_from_env();
  if (world.distributed()) group = ProcessGroup::join(world, cuda, collective_timeout()).release();
  joined = true;
  return group;
}

}  // namespace engine::dist
