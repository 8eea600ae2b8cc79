// How inference uses the CPU: the number of threads and the allocator behind
// LibTorch's CPU tensors. The Predictor applies both, so a pipeline element
// gets what the command-line tools get whatever process hosts it (a plain
// gst-launch-1.0 has neither a tuned malloc nor a thread-count setting).
//
// This header is free of LibTorch.
#pragma once

#include <cstddef>

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

/// Installs, once per process, a CPU allocator for LibTorch's tensors that
/// keeps freed large blocks (>= 256 KiB) for reuse instead of returning them
/// to malloc. Inference allocates the same large activations window after
/// window; glibc's malloc serves such blocks from fresh mmap()s whose pages
/// the kernel must fault in and zero every time, or from a heap that
/// fragments. The cache is bounded (cpu_allocator_stats().cache_limit): a
/// block freed beyond it goes back to the system. Small blocks go to malloc
/// as before. Safe to call from any thread, any number of times.
void install_cpu_allocator();

struct CpuAllocatorStats {
  bool installed = false;
  std::size_t cached_bytes = 0;   // free blocks held for reuse now
  std::size_t live_bytes = 0;     // large blocks handed out and not yet freed
  std::size_t cache_limit = 0;    // most bytes the cache holds
  std::size_t hits = 0;           // large allocations served from the cache
  std::size_t misses = 0;         // large allocations that mapped new memory
};
CpuAllocatorStats cpu_allocator_stats();

/// Returns every cached block to the system (for example after a stream ends).
void release_cpu_allocator_cache();

}  // namespace model
