// Picking a kernel build by the CPU's features at run time: our kernels are
// compiled three times (AVX-512, AVX2 + FMA, plain x86-64), from one body.
// Features, not GCC's target_clones "arch=": that dispatches on the CPU
// model and sends an AMD EPYC with AVX-512 to the SSE2 build. The builds
// differ only in rounding (FMA or not), which the tests' bounds allow for.
#pragma once

#include <cstdlib>
#include <string>

#if defined(__GNUC__)
#define SALMODEL_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define SALMODEL_ALWAYS_INLINE inline
#endif

#if defined(__x86_64__) && defined(__GNUC__)
#define SALMODEL_TARGET_AVX512 __attribute__((target("avx512f,avx512vl,avx2,fma")))
#define SALMODEL_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define SALMODEL_HAVE_DISPATCH 1
#else
#define SALMODEL_TARGET_AVX512
#define SALMODEL_TARGET_AVX2
#define SALMODEL_HAVE_DISPATCH 0
#endif

namespace model::tinyhd {

/// Builds of a kernel, slowest first.
enum class KernelBuild { Generic, Avx2, Avx512 };

inline const char *to_string(KernelBuild b) {
  switch (b) {
    case KernelBuild::Avx512: return "avx512";
    case KernelBuild::Avx2: return "avx2";
    case KernelBuild::Generic: break;
  }
  return "generic";
}

/// The build this process runs: the best the CPU supports, capped by
/// ATEN_CPU_CAPABILITY ("default", "avx2", "avx512"), LibTorch's own switch
/// for its kernels, read once at start-up as LibTorch reads it. With it one
/// machine runs every build: tests/run.sh's second configuration sets avx2
/// on AVX-512 machines, and a TinyHD test runs the kernels' tests again
/// under each value.
inline KernelBuild kernel_build() {
  static const KernelBuild build = [] {
    KernelBuild best = KernelBuild::Generic;
#if SALMODEL_HAVE_DISPATCH
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best = KernelBuild::Avx2;
    if (best == KernelBuild::Avx2 && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512vl"))
      best = KernelBuild::Avx512;
#endif
    const char *cap = std::getenv("ATEN_CPU_CAPABILITY");
    if (cap != nullptr) {
      const std::string c(cap);
      if (c == "default") best = KernelBuild::Generic;
      else if (c == "avx2" && best == KernelBuild::Avx512) best = KernelBuild::Avx2;
    }
    return best;
  }();
  return build;
}

/// The build of a kernel this process runs (kernel_build()).
template <typename Fn>
Fn pick_kernel(Fn avx512, Fn avx2, Fn generic) {
  switch (kernel_build()) {
    case KernelBuild::Avx512: return avx512;
    case KernelBuild::Avx2: return avx2;
    case KernelBuild::Generic: break;
  }
  return generic;
}

}  // namespace model::tinyhd
