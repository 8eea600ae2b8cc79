// Threads and the block-caching CPU allocator for inference (cpu_runtime.hpp).
#include "salmodel/cpu_runtime.hpp"

#include <dlfcn.h>
#include <malloc.h>
#include <sched.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
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

namespace {

// Debian's LibTorch calls OpenBLAS's pthread build for its matrix products
// (and 1x1 convolutions on one thread). Its worker threads ignore OpenMP's
// per-thread count, start one per CPU and spin while they wait: with a
// model on one thread, the second CPU of a 2-CPU machine went to that
// spinning (7.5 s of system time in a 15 s TinyHD run) instead of to the
// rest of the pipeline. The count is process-wide: the last caller's wins,
// which is the common count of a process's Predictors.
void use_blas_threads(int n) {
  using SetThreads = void (*)(int);
  static const SetThreads set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  static std::atomic<int> current{0};
  if (set && current.exchange(n) != n) set(n);
}

}  // namespace

void use_threads_in_this_thread(int threads) {
  const int n = resolve_thread_count(threads);
  // at::set_num_threads also resizes LibTorch's other pools: only when needed.
  if (at::get_num_threads() != n) at::set_num_threads(n);
  use_blas_threads(n);
}

namespace {

// SALMODEL_CPU_CACHE_MB: the cache's bound in MiB (0: no cache at all).
std::size_t cache_limit_from_env() {
  if (const char *env = std::getenv("SALMODEL_CPU_CACHE_MB")) {
    char *end = nullptr;
    const long long mb = std::strtoll(env, &end, 10);
    if (end != env && *end == '\0' && mb >= 0) return std::size_t(mb) << 20;
  }
  return std::size_t(512) << 20;
}

// Whether the process's malloc is glibc's: the cache replaces what glibc
// does badly, while tcmalloc (which the tools link), jemalloc or a
// sanitizer's allocator keep their own free lists and need no help.
bool malloc_is_glibc() {
  Dl_info info{};
  void *m = dlsym(RTLD_DEFAULT, "malloc");
  if (!m || !dladdr(m, &info) || !info.dli_fname) return false;
  return std::strstr(info.dli_fname, "/libc.so") != nullptr;
}

// Requests the cache serves are rounded up to a size class, eight per power of two (at
// most 12.5 % more than asked), so a block freed by one frame also fits a
// request a few rows larger in the next.
std::size_t size_class(std::size_t n) {
  std::size_t top = kCachedCpuBlock;
  while (top <= n / 2) top *= 2;
  const std::size_t step = top / 8;
  return (n + step - 1) / step * step;
}

class BlockCachingCpuAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(std::size_t n) const override {
    if (n < kCachedCpuBlock) {
      void *p = c10::alloc_cpu(n);
      return {p, p, &c10::free_cpu, c10::Device(c10::DeviceType::CPU)};
    }
    const std::size_t size = size_class(n);
    std::vector<Block> evicted;
    void *p = take_cached(size, evicted);
    unmap(evicted);
    if (!p) {
      p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) throw std::bad_alloc();
      std::lock_guard<std::mutex> lock(mutex_);
      live_[p] = size;
    }
    return {p, p, &release, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &release; }

  // The deleter of cached blocks, and raw_deleter() for blocks of any size.
  static void release(void *p) {
    if (!p) return;
    BlockCachingCpuAllocator &self = instance();
    std::vector<Block> evicted;
    {
      std::lock_guard<std::mutex> lock(self.mutex_);
      auto it = self.live_.find(p);
      if (it == self.live_.end()) {
        c10::free_cpu(p);  // a small block handed out by raw_allocate()
        return;
      }
      self.free_.push_back({p, it->second});
      self.cached_ += it->second;
      self.live_.erase(it);
      self.evict_locked(self.limit_, evicted);
    }
    unmap(evicted);
  }

  void set_limit(std::size_t bytes) {
    std::vector<Block> evicted;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      limit_ = bytes;
      evict_locked(limit_, evicted);
    }
    unmap(evicted);
  }

  CpuAllocatorStats stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    CpuAllocatorStats s;
    s.installed = true;
    s.cached_bytes = cached_;
    s.cache_limit = limit_;
    s.hits = hits_;
    s.misses = misses_;
    return s;
  }

  // Never destroyed: tensors may be freed during static destruction.
  static BlockCachingCpuAllocator &instance() {
    static auto *a = new BlockCachingCpuAllocator();
    return *a;
  }

 private:
  struct Block {
    void *p;
    std::size_t size;
  };

  // The smallest free block of at least `size` bytes, or nullptr. Best fit
  // rather than the exact size class because a frame's large tensors often
  // follow each other rather than coexist (STRA-Net: 252, 72, 54 and 54 MiB,
  // each freed before the next), and one block then serves them all. On a
  // miss the least recently freed blocks, at least `size` bytes of them where
  // the cache holds that much, go back to the system (into `evicted`) before
  // the caller maps a new block, so a miss never makes the memory held for
  // cached-size blocks, live and free, larger than what is live after it.
  void *take_cached(std::size_t size, std::vector<Block> &evicted) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto best = free_.end();
    for (auto it = free_.begin(); it != free_.end(); ++it)
      if (it->size >= size && (best == free_.end() || it->size < best->size)) best = it;
    if (best != free_.end()) {
      const Block b = *best;
      free_.erase(best);
      cached_ -= b.size;
      live_[b.p] = b.size;
      ++hits_;
      return b.p;
    }
    ++misses_;
    evict_locked(cached_ > size ? cached_ - size : 0, evicted);
    return nullptr;
  }

  // Drops the least recently freed blocks until the cache holds <= bound.
  void evict_locked(std::size_t bound, std::vector<Block> &out) const {
    std::size_t k = 0;
    while (cached_ > bound && k < free_.size()) cached_ -= free_[k++].size;
    out.assign(free_.begin(), free_.begin() + std::ptrdiff_t(k));
    free_.erase(free_.begin(), free_.begin() + std::ptrdiff_t(k));
  }

  static void unmap(const std::vector<Block> &blocks) {
    for (const Block &b : blocks) munmap(b.p, b.size);
  }

  mutable std::mutex mutex_;
  mutable std::unordered_map<void *, std::size_t> live_;
  mutable std::vector<Block> free_;  // oldest first
  mutable std::size_t cached_ = 0, hits_ = 0, misses_ = 0;
  std::size_t limit_ = cache_limit_from_env();
};

std::once_flag g_install_once;
std::atomic<bool> g_installed{false};

}  // namespace

void install_cpu_allocator() {
  std::call_once(g_install_once, [] {
    // LibTorch's allocator stays when the cache is turned off, or when the
    // process's malloc is not glibc's.
    if (cache_limit_from_env() == 0 || !malloc_is_glibc()) return;
    // Priority 1 beats LibTorch's default (0) and leaves a host that
    // installed its own allocator with a higher priority alone.
    c10::SetCPUAllocator(&BlockCachingCpuAllocator::instance(), /*priority=*/1);
    // Blocks below the cache's size stay with glibc, which maps each of
    // them afresh (and the kernel faults its pages in and zeroes them) until
    // its dynamic mmap threshold has grown past it, and hands freed heap
    // memory back as soon as 128 KiB lie free at the top. TinyHD's
    // activations are 0.1 to 4 MiB, hundreds per frame: in a plain
    // gst-launch-1.0 that doubled its time per frame (16.6 s for 60 frames,
    // 3.5 s of it in the kernel; with tcmalloc 8.5 s). Serving them from the
    // heap and keeping up to 64 MiB free there ends that.
    mallopt(M_MMAP_THRESHOLD, static_cast<int>(kCachedCpuBlock));
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    g_installed = true;
  });
}

CpuAllocatorStats cpu_allocator_stats() {
  if (!g_installed) return {};
  return BlockCachingCpuAllocator::instance().stats();
}

void set_cpu_allocator_cache_limit(std::size_t bytes) {
  if (g_installed) BlockCachingCpuAllocator::instance().set_limit(bytes);
}

}  // namespace model
