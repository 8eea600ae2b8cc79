// Threads and the CPU allocator for inference (cpu_runtime.hpp).
#include "salmodel/cpu_runtime.hpp"

#include <sched.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>
#include <thread>
#include <unordered_map>
#include <vector>

#include <ATen/Parallel.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

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

namespace {

// Blocks of at least this size are cached. Below it malloc's own free lists
// do well; above it glibc starts handing out mmap()ed memory.
constexpr std::size_t kLargeBlock = std::size_t(256) << 10;
constexpr std::size_t kPage = 4096;

// The default cache bound: enough for the activations one STSANet or STRA-Net
// window frees and allocates again, small against the models' weights.
// SALMODEL_CPU_CACHE_MB overrides it (0 turns caching off).
std::size_t cache_limit_from_env() {
  if (const char *env = std::getenv("SALMODEL_CPU_CACHE_MB")) {
    char *end = nullptr;
    const long long mb = std::strtoll(env, &end, 10);
    if (end != env && mb >= 0) return std::size_t(mb) << 20;
  }
  return std::size_t(512) << 20;
}

// A large request is rounded up to its size class: eight classes per power of
// two (at most 12.5 % more than asked), so blocks freed by one window fit the
// same requests in the next one.
std::size_t size_class(std::size_t n) {
  std::size_t top = kLargeBlock;
  while (top * 2 <= n) top *= 2;
  const std::size_t step = std::max(kPage, top / 8);
  return (n + step - 1) / step * step;
}

class CachingCpuAllocator final : public c10::Allocator {
 public:
  CachingCpuAllocator() : limit_(cache_limit_from_env()) {}

  c10::DataPtr allocate(std::size_t n) const override {
    if (n < kLargeBlock) {
      void *p = c10::alloc_cpu(n);
      return {p, p, &c10::free_cpu, c10::Device(c10::DeviceType::CPU)};
    }
    const std::size_t size = size_class(n);
    void *p = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        p = it->second.back();
        it->second.pop_back();
        cached_ -= size;
        ++hits_;
      } else {
        ++misses_;
      }
    }
    if (!p) {
      p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) throw std::bad_alloc();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      live_[p] = size;
      live_bytes_ += size;
    }
    return {p, p, &release, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &release; }

  // The one deleter of large blocks (and raw_deleter for any block).
  static void release(void *p) {
    if (!p) return;
    CachingCpuAllocator &self = instance();
    std::size_t size = 0;
    {
      std::lock_guard<std::mutex> lock(self.mutex_);
      auto it = self.live_.find(p);
      if (it != self.live_.end()) {
        size = it->second;
        self.live_.erase(it);
        self.live_bytes_ -= size;
        if (self.cached_ + size <= self.limit_) {
          self.free_[size].push_back(p);
          self.cached_ += size;
          return;
        }
      }
    }
    if (size) munmap(p, size);
    else c10::free_cpu(p);  // a small block that came through raw_allocate
  }

  void release_cache() {
    std::unordered_map<std::size_t, std::vector<void *>> blocks;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      blocks.swap(free_);
      cached_ = 0;
    }
    for (auto &[size, list] : blocks)
      for (void *p : list) munmap(p, size);
  }

  CpuAllocatorStats stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    CpuAllocatorStats s;
    s.installed = true;
    s.cached_bytes = cached_;
    s.live_bytes = live_bytes_;
    s.cache_limit = limit_;
    s.hits = hits_;
    s.misses = misses_;
    return s;
  }

  // Never destroyed: tensors may be freed during static destruction.
  static CachingCpuAllocator &instance() {
    static auto *a = new CachingCpuAllocator();
    return *a;
  }

 private:
  mutable std::mutex mutex_;
  mutable std::unordered_map<void *, std::size_t> live_;
  mutable std::unordered_map<std::size_t, std::vector<void *>> free_;
  mutable std::size_t cached_ = 0, live_bytes_ = 0, hits_ = 0, misses_ = 0;
  const std::size_t limit_;
};

std::once_flag g_install_once;
std::atomic<bool> g_installed{false};

}  // namespace

void install_cpu_allocator() {
  std::call_once(g_install_once, [] {
    // SALMODEL_CPU_CACHE_MB=0: leave LibTorch's default allocator in place.
    if (cache_limit_from_env() == 0) return;
    c10::SetCPUAllocator(&CachingCpuAllocator::instance(), /*priority=*/1);
    g_installed = true;
  });
}

CpuAllocatorStats cpu_allocator_stats() {
  if (!g_installed) return {};
  return CachingCpuAllocator::instance().stats();
}

void release_cpu_allocator_cache() {
  if (g_installed) CachingCpuAllocator::instance().release_cache();
}

}  // namespace model
