#include "salmodel/cuda_graph.hpp"

#include <torch/cuda.h>
#include <torch/torch.h>

#include "salmodel/autocast_scope.hpp"
#include "salmodel/predictor.hpp"  // ModelError

#ifdef SALMODEL_WITH_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace model {

bool cuda_graphs_available() {
#ifdef SALMODEL_WITH_CUDA
  return true;
#else
  return false;
#endif
}

struct CudaGraphedCall::Impl {
  torch::Tensor input, output;
  int captures = 0;
#ifdef SALMODEL_WITH_CUDA
  std::unique_ptr<at::cuda::CUDAGraph> graph;
#endif
};

CudaGraphedCall::CudaGraphedCall() : impl_(std::make_unique<Impl>()) {}
CudaGraphedCall::~CudaGraphedCall() = default;

int CudaGraphedCall::captures() const { return impl_->captures; }

void CudaGraphedCall::reset() {
#ifdef SALMODEL_WITH_CUDA
  impl_->graph.reset();
#endif
  impl_->input = impl_->output = torch::Tensor();
}

torch::Tensor CudaGraphedCall::operator()(const torch::Tensor &input,
                                          const std::function<torch::Tensor(const torch::Tensor &)> &fn) {
  if (!input.is_cuda()) throw ModelError("CUDA graphs need the model on a CUDA device");
  if (cuda_autocast_enabled())
    throw ModelError("CUDA graphs cannot be captured under autocast (use precision fp32 or half)");
#ifdef SALMODEL_WITH_CUDA
  Impl &s = *impl_;
  const bool same = s.graph && s.input.sizes() == input.sizes() &&
                    s.input.scalar_type() == input.scalar_type() && s.input.device() == input.device() &&
                    s.input.strides() == input.strides();
  if (!same) {
    reset();
    s.input = input.clone();
    const c10::cuda::CUDAGuard device_guard(input.device());
    // Capture on a side stream, after a few eager runs there: those make the
    // cuDNN/cuBLAS handles, workspaces and the model's cached derived weights
    // (folded BatchNorms), none of which may be created inside a capture.
    auto stream = c10::cuda::getStreamFromPool();
    torch::cuda::synchronize(input.device().index());
    {
      const c10::cuda::CUDAStreamGuard stream_guard(stream);
      for (int i = 0; i < 2; ++i) s.output = fn(s.input);
      torch::cuda::synchronize(input.device().index());
      s.graph = std::make_unique<at::cuda::CUDAGraph>();
      s.graph->capture_begin();
      try {
        s.output = fn(s.input);
      } catch (...) {
        // Ends the capture so the stream is usable again, then reports.
        try {
          s.graph->capture_end();
        } catch (...) {
        }
        reset();
        throw;
      }
      s.graph->capture_end();
    }
    torch::cuda::synchronize(input.device().index());
    ++s.captures;
  }
  s.input.copy_(input);
  s.graph->replay();
  return s.output;
#else
  (void)fn;
  throw ModelError(
      "CUDA graphs are not available in this build (it needs a CUDA LibTorch and the CUDA headers)");
#endif
}

}  // namespace model
