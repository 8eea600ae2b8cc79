#include "grad_sync.hpp"

#include <cstdlib>

// Debian's libtorch_cpu is built with Gloo (it exports c10d::ProcessGroupGloo
// and links libgloo.so.0); the header compiles only with the build's flag.
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "salmodel/trainer.hpp"

namespace model::train {

namespace {

std::string first_line(const std::exception &e) {
  const std::string what = e.what();
  return what.substr(0, what.find('\n'));
}

bool is_loopback(const std::string &host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

// The interface Gloo's TCP pairs bind to: GLOO_SOCKET_IFNAME as in PyTorch,
// else the loopback address when the rendezvous is on this machine, else
// this machine's hostname (Gloo falls back to loopback if it doesn't resolve).
std::shared_ptr<::gloo::transport::Device> gloo_device(const std::string &rendezvous_host) {
  if (const char *ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
    return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  if (is_loopback(rendezvous_host))
    return c10d::ProcessGroupGloo::createDeviceForHostname(
        rendezvous_host == "localhost" ? "127.0.0.1" : rendezvous_host);
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

}  // namespace

// The process group is CPU-only here. With a CUDA LibTorch (USE_C10D_NCCL),
// c10d::ProcessGroupNCCL(store, rank, size, ProcessGroupNCCL::Options::create())
// takes ProcessGroupGloo's place below for CUDA tensors, on the same store;
// all_reduce_sum would then keep `values` on its device instead of copying to
// the CPU. Not built here: Debian ships no CUDA LibTorch to test it against.
struct GradSync::Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
};

GradSync::GradSync(const std::string &init, int world_size, int rank,
                   std::chrono::milliseconds timeout)
    : group_(std::make_unique<Group>()), world_(world_size), rank_(rank) {
  if (world_size < 1 || rank < 0 || rank >= world_size)
    throw TrainError("--rank " + std::to_string(rank) + " is outside --world-size " +
                     std::to_string(world_size));
  try {
    std::string host;  // empty for a FileStore rendezvous
    if (init.rfind("tcp://", 0) == 0) {
      const auto hostport = init.substr(6);
      const auto colon = hostport.rfind(':');
      if (colon == std::string::npos || colon == 0)
        throw TrainError(init + ": expected tcp://HOST:PORT");
      int port = 0;
      try {
        port = std::stoi(hostport.substr(colon + 1));
      } catch (const std::exception &) {
        port = -1;
      }
      if (port <= 0 || port > 65535) throw TrainError(init + ": bad port");
      host = hostport.substr(0, colon);
      c10d::TCPStoreOptions options;
      options.port = static_cast<std::uint16_t>(port);
      options.isServer = rank == 0;
      options.numWorkers = static_cast<std::size_t>(world_size);
      options.waitWorkers = true;
      options.timeout = timeout;
      group_->store = c10::make_intrusive<c10d::TCPStore>(host, options);
    } else if (init.rfind("file://", 0) == 0) {
      group_->store = c10::make_intrusive<c10d::FileStore>(init.substr(7), world_size);
      group_->store->setTimeout(timeout);
    } else {
      throw TrainError(init + ": --dist-init must be tcp://HOST:PORT or file:///PATH");
    }
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    options->devices.push_back(gloo_device(host));
    // Our keys under their own prefix: the store may be shared with others.
    auto store = c10::make_intrusive<c10d::PrefixStore>("saliency-train/", group_->store);
    group_->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world_size, options);
  } catch (const TrainError &) {
    throw;
  } catch (const std::exception &e) {
    throw TrainError(init + ": rendezvous failed: " + first_line(e));
  }
  barrier();
}

GradSync::~GradSync() = default;

torch::Tensor GradSync::all_reduce_sum(const torch::Tensor &values) {
  TORCH_CHECK(values.dim() == 1 && values.scalar_type() == torch::kFloat32, "float32 vector");
  // A copy: allreduce works in place, and the caller's tensor stays its own.
  auto sum = values.to(torch::kCPU, /*non_blocking=*/false, /*copy=*/true).contiguous();
  try {
    // Lengths first (max of n and of -n): a mismatch, which Gloo would turn
    // into a hang or a transport error, becomes the same message everywhere.
    const auto n = sum.numel();
    std::vector<torch::Tensor> lengths{torch::tensor({n, -n}, torch::kInt64)};
    c10d::AllreduceOptions max;
    max.reduceOp = c10d::ReduceOp::MAX;
    group_->pg->allreduce(lengths, max)->wait();
    const auto longest = lengths[0][0].item<int64_t>(), shortest = -lengths[0][1].item<int64_t>();
    if (longest != n || shortest != n)
      throw TrainError("ranks exchange vectors of " + std::to_string(shortest) + " to " +
                       std::to_string(longest) + " floats (different models or options on the ranks?)");
    std::vector<torch::Tensor> tensors{sum};
    c10d::AllreduceOptions add;
    add.reduceOp = c10d::ReduceOp::SUM;
    group_->pg->allreduce(tensors, add)->wait();
    return tensors[0];
  } catch (const TrainError &) {
    throw;
  } catch (const std::exception &e) {
    throw TrainError("data-parallel allreduce failed (another rank stopped?): " + first_line(e));
  }
}

void GradSync::barrier() {
  try {
    group_->pg->barrier()->wait();
  } catch (const std::exception &e) {
    throw TrainError("data-parallel barrier failed (another rank stopped?): " + first_line(e));
  }
}

}  // namespace model::train
