// How many CPU threads inference uses. The Predictor applies the count in the
// thread that runs the model, so a pipeline element gets what the
// command-line tools get whatever process hosts it (a plain gst-launch-1.0
// sets no thread count).
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
