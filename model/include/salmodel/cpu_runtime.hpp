// How inference uses the CPU: the number of threads, and the allocator
// behind LibTorch's large CPU tensors. The Predictor applies both, so a
// pipeline element gets what the command-line tools get whatever process
// hosts it (a plain gst-launch-1.0 sets no thread count and has glibc's
// malloc, where the tools link tcmalloc).
//
// This header is free of LibTorch.
#pragma once

namespace model {

/// Threads "one per core" means: OMP_NUM_THREADS when it is set to a positive
/// number (the user's cap, as LibTorch itself honours it), else the CPUs this
/// process may run on (its affinity mask, so taskset and container CPU sets
/// count, not the machine's cores).
int default_thread_count();

/// `requested` if positive, else default_thread_count().
int resolve_thread_count(int requested);

/// Makes LibTorch's intra-op parallelism use `threads` threads in the calling
/// thread. OpenMP's thread count is a per-thread setting, and a GStreamer
/// streaming thread starts with LibTorch's default (one thread on a machine
/// whose cores cpuinfo counts as one), so the Predictor calls this in the
/// thread that runs the model, each time, before inference. Cheap when the
/// count is already right.
void use_threads_in_this_thread(int threads);

}  // namespace model

#include <cstddef>

namespace model {

/// Installs, once per process where malloc is glibc's, the CPU allocator
/// behind LibTorch's tensors: blocks of at least kCachedCpuBlock bytes are
/// kept for reuse when freed, smaller ones go to malloc as before.
///
/// Why: glibc serves large requests from fresh mmap()s, or from thread-arena
/// heaps that it grows and trims, and the kernel faults in and zeroes those
/// pages again on every use. Inference frees and allocates the same large
/// activations frame after frame (STRA-Net: 252, 72 and 54 MiB; STSANet:
/// hundreds of blocks of 4 to 63 MiB per window), so in a plain
/// gst-launch-1.0 the element spent up to half its time in page faults where
/// saliency-predict, which links tcmalloc, did not (docs/performance.md).
/// A request takes the smallest free block that fits; one that finds none
/// first gives back at least its size in free blocks, least recently freed
/// first, so a miss never leaves more memory held for such blocks, live and
/// free, than is live after it. Free blocks are also bounded by
/// cpu_allocator_stats().cache_limit (SALMODEL_CPU_CACHE_MB, default 512; 0
/// leaves LibTorch's allocator in place). Under another malloc (tcmalloc,
/// jemalloc, a sanitizer's) nothing is installed: those keep their own free
/// lists. Safe from any thread, any number of times.
void install_cpu_allocator();

/// The smallest block the cache keeps. Smaller blocks stay with malloc: its
/// free lists serve them well, and caching smaller blocks raised STSANet's
/// peak RSS by far more than it saved (docs/performance.md).
constexpr std::size_t kCachedCpuBlock = std::size_t(4) << 20;

struct CpuAllocatorStats {
  bool installed = false;
  std::size_t cached_bytes = 0;  // free blocks held for reuse now
  std::size_t cache_limit = 0;   // the most cached_bytes may be
  std::size_t hits = 0;          // requests served from the cache
  std::size_t misses = 0;        // requests that mapped new memory
};
CpuAllocatorStats cpu_allocator_stats();

/// Changes the cache's bound once installed, evicting down to it; for tests
/// and long-lived hosts that want memory back between streams (0 empties it).
void set_cpu_allocator_cache_limit(std::size_t bytes);

}  // namespace model
