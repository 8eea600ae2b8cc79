// Data-parallel gradient exchange with LibTorch's own distributed backend:
// c10d::ProcessGroupGloo (ring allreduce over TCP) on top of a c10d
// rendezvous store (TCPStore for tcp://HOST:PORT with rank 0 serving,
// FileStore for file:///PATH). Gloo's allreduce reduces each chunk of the
// vector along the ring and then hands the finished chunk to every rank, so
// all ranks receive the same bits (and hence hold identical weights after the
// optimiser step). Each rank moves about 2x the gradient bytes per step,
// independent of the number of ranks. Debian's libtorch_cpu is built with
// Gloo; its headers come from libgloo-dev. Tensors are exchanged on the CPU:
// with a CUDA LibTorch, c10d::ProcessGroupNCCL would take the process
// group's place in grad_sync.cpp (see there). Internal to model/src/train;
// the gloo/c10d headers stay in grad_sync.cpp.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <string>

namespace model::train {

class GradSync {
 public:
  /// Connects to the rendezvous `init` ("tcp://HOST:PORT": rank 0 serves;
  /// "file:///PATH": a shared file) and builds the process group. Throws
  /// TrainError naming `init`. `timeout` bounds the rendezvous and every
  /// collective (a rank that stopped makes the others fail, not hang).
  GradSync(const std::string &init, int world_size, int rank,
           std::chrono::milliseconds timeout = std::chrono::minutes(10));
  ~GradSync();

  /// Sum over ranks of a 1-D float32 CPU tensor (same length everywhere;
  /// a different length on any rank is a TrainError on all of them).
  torch::Tensor all_reduce_sum(const torch::Tensor &values);
  /// Returns once every rank has called it.
  void barrier();
  int world_size() const { return world_; }
  int rank() const { return rank_; }

 private:
  struct Group;  // the store and the process group (grad_sync.cpp)
  std::unique_ptr<Group> group_;
  int world_, rank_;
};

}  // namespace model::train
