#pragma once
// c10d for the engine: a TCPStore rendezvous, then Gloo (CPU tensors) or NCCL (CUDA tensors,
// where the LibTorch build has it). Any failed collective becomes a DistError naming the rank,
// the step and the timeout, so that no rank hangs or dies with a bare backend message.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <torch/csrc/distributed/c10d/Work.hpp>

#include "engine/nn/dist/world.hpp"

namespace engine::dist {

enum class Reduce { Sum, Min, Max };

class ProcessGroup {
 public:
  struct Backend;  // the c10d class that does the work (process_group.cpp)
  // Joins the group `world` describes; rank 0 serves the rendezvous at master_addr:master_port.
  // `cuda`: collectives take CUDA tensors (NCCL when built in, else Gloo through host copies).
  static std::unique_ptr<ProcessGroup> join(const WorldInfo& world, bool cuda, std::chrono::milliseconds timeout);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const { return world_.rank; }
  int size() const { return world_.size; }
  int local_rank() const { return world_.local_rank; }
  bool root() const { return world_.rank == 0; }
  std::chrono::milliseconds timeout() const { return timeout_; }
  // Where the backend wants tensors: CUDA for NCCL, else the CPU (Gloo takes either).
  torch::Device device() const { return device_; }

  // A collective started; wait() finishes it (or throws DistError).
  class Pending {
   public:
    void wait();

   private:
    friend class ProcessGroup;
    Pending(const ProcessGroup* group, c10::intrusive_ptr<c10d::Work> work, std::string what)
        : group_(group), work_(std::move(work)), what_(std::move(what)) {}
    const ProcessGroup* group_;
    c10::intrusive_ptr<c10d::Work> work_;
    std::string what_;
  };

  // In place on every rank. `what` names the step in messages; `timeout` 0 means timeout().
  // Tensors elsewhere than device() travel there and back.
  void all_reduce(std::vector<torch::Tensor>& tensors, Reduce op, const std::string& what,
                  std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  Pending all_reduce_async(torch::Tensor& tensor, const std::string& what);
  void broadcast(std::vector<torch::Tensor>& tensors, int root, const std::string& what);

  // Turns a backend failure during `what` into a DistError.
  [[noreturn]] void fail(const std::string& what, const std::exception& e) const;

 private:
  ProcessGroup(WorldInfo world, std::chrono::milliseconds timeout);
  WorldInfo world_;
  std::chrono::milliseconds timeout_;
  torch::Device device_ = torch::kCPU;
  std::unique_ptr<Backend> backend_;
  template <class Op>
  void on_device(std::vector<torch::Tensor>& tensors, const std::string& what, Op op);
};

// This process's group when a launcher started it as one of several ranks, joined on the first
// call and kept for the life of the process (a study's runs share it); nullptr for one process.
ProcessGroup* group_from_env(bool cuda);

}  // namespace engine::dist
