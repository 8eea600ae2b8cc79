// CUDA autocast for one scope, spelled for LibTorch 1.13 (Debian) and 2.x
// (the CUDA builds users bring). 2.4 replaced set_enabled/set_autocast_gpu_dtype
// with per-device-type calls and later releases drop the old names, so the one
// place that switches autocast keeps both spellings.
#pragma once

#include <ATen/autocast_mode.h>
#include <torch/version.h>

namespace model {

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define SALMODEL_AUTOCAST_PER_DEVICE 1
#endif

/// Whether CUDA autocast is on in this thread.
inline bool cuda_autocast_enabled() {
#ifdef SALMODEL_AUTOCAST_PER_DEVICE
  return at::autocast::is_autocast_enabled(at::kCUDA);
#else
  return at::autocast::is_enabled();
#endif
}

/// Autocasts CUDA operations to dtype (fp16 or bf16) while alive; a no-op
/// when !enabled. Leaves autocast off and its weight-cast cache empty.
class CudaAutocastScope {
 public:
  CudaAutocastScope(bool enabled, at::ScalarType dtype) : enabled_(enabled) {
    if (!enabled_) return;
#ifdef SALMODEL_AUTOCAST_PER_DEVICE
    at::autocast::set_autocast_dtype(at::kCUDA, dtype);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
#else
    at::autocast::set_autocast_gpu_dtype(dtype);
    at::autocast::set_enabled(true);
#endif
  }
  ~CudaAutocastScope() {
    if (!enabled_) return;
#ifdef SALMODEL_AUTOCAST_PER_DEVICE
    at::autocast::set_autocast_enabled(at::kCUDA, false);
#else
    at::autocast::set_enabled(false);
#endif
    at::autocast::clear_cache();
  }
  CudaAutocastScope(const CudaAutocastScope &) = delete;
  CudaAutocastScope &operator=(const CudaAutocastScope &) = delete;

 private:
  bool enabled_;
};

}  // namespace model
