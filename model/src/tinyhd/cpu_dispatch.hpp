// Picking a kernel build by the CPU's features at run time: our kernels are
// compiled three times (AVX-512, AVX2 + FMA, plain x86-64), from one body.
// Features, not GCC's target_clones "arch=": that dispatches on the CPU
// model and sends an AMD EPYC with AVX-512 to the SSE2 build. The builds
// differ only in rounding (FMA or not).
#pragma once

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

/// The build of a kernel this CPU runs best.
template <typename Fn>
Fn pick_kernel(Fn avx512, Fn avx2, Fn generic) {
#if SALMODEL_HAVE_DISPATCH
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")) return avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return avx2;
#endif
  (void)avx512;
  (void)avx2;
  return generic;
}

}  // namespace model::tinyhd
