// The model suite runs with the thread count the library uses by default
// (model::default_thread_count(): OMP_NUM_THREADS when set, else every CPU the
// process may use), as saliency-predict and the element do, rather than
// LibTorch's own default, which is one thread on machines whose cores cpuinfo
// counts as one. tests/run.sh runs this suite a second time with
// OMP_NUM_THREADS=1 (and AVX2 kernels on AVX-512 machines), so every test must
// hold at both thread counts.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cstdio>

#include "salmodel/cpu_runtime.hpp"

int main(int argc, char **argv) {
  ::testing::InitGoogleTest(&argc, argv);
  at::set_num_threads(model::default_thread_count());
  std::printf("[          ] model suite: %d LibTorch threads\n", at::get_num_threads());
  return RUN_ALL_TESTS();
}
