// Threads for inference (cpu_runtime.hpp).
#include "salmodel/cpu_runtime.hpp"

#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include <ATen/Parallel.h>

namespace model {

int default_thread_count() {
  if (const char *env = std::getenv("OMP_NUM_THREADS")) {
    char *end = nullptr;
    const long n = std::strtol(env, &end, 10);
    if (end != env && n > 0) return int(std::min<long>(n, 1024));
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  return int(std::max(1u, std::thread::hardware_concurrency()));
}

int resolve_thread_count(int requested) { return requested > 0 ? requested : default_thread_count(); }

void use_threads_in_this_thread(int threads) {
  const int n = resolve_thread_count(threads);
  // at::set_num_threads also resizes LibTorch's other pools: only when needed.
  if (at::get_num_threads() != n) at::set_num_threads(n);
}

}  // namespace model
