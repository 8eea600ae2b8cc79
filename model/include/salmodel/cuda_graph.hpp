// Replaying a model's forward pass from a CUDA graph (LibTorch side).
//
// At batch 1 a deep model's forward pass is thousands of small kernels, and on
// a fast GPU LibTorch's per-operator host work (dispatch, allocation, launch)
// takes longer than the kernels (STSANet on an H100: docs/performance.md). A
// graph is captured once per input shape and replayed with one launch.
#pragma once

#include <functional>
#include <memory>

#include <torch/types.h>

namespace model {

/// Whether this build can capture CUDA graphs: built against a CUDA LibTorch
/// with SALMODEL_WITH_CUDA (meson defines it when it finds one and the CUDA
/// headers; model/tools/gpu/build.sh likewise).
bool cuda_graphs_available();

/// fn(input) for inputs of one shape, dtype and device, replayed from a CUDA
/// graph captured on first use (and again when the shape changes). fn must be
/// a pure function of its input on the GPU (no host synchronisation, no data-
/// dependent shapes), with CUDA autocast off. The returned tensor is the
/// graph's own output buffer: valid until the next call, so copy what must
/// outlive it. Throws ModelError where graphs are unavailable or the input is
/// not on a CUDA device.
class CudaGraphedCall {
 public:
  CudaGraphedCall();
  ~CudaGraphedCall();
  CudaGraphedCall(const CudaGraphedCall &) = delete;
  CudaGraphedCall &operator=(const CudaGraphedCall &) = delete;

  torch::Tensor operator()(const torch::Tensor &input,
                           const std::function<torch::Tensor(const torch::Tensor &)> &fn);
  /// Drops the graph and its memory pool (a new capture on the next call).
  void reset();
  /// Graphs captured so far (tests, logs).
  int captures() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace model
