// saliency-bench --profile: where a model's time goes, per LibTorch operator.
// Wraps LibTorch's (legacy, CPU) autograd profiler, which records every
// dispatched operator on the calling thread with its input shapes; the report
// aggregates self time (the operator minus the operators it called) by name and
// by name + input shapes, sorted by self time. Work done inside an operator by
// its intra-op threads (OpenMP) counts towards that operator.
#pragma once

#include <cstdio>
#include <string>

namespace tools {

class OpProfile {
 public:
  /// Starts recording on this thread (input shapes included).
  OpProfile();
  /// Stops recording if report() was not called.
  ~OpProfile();
  OpProfile(const OpProfile &) = delete;
  OpProfile &operator=(const OpProfile &) = delete;

  /// Stops recording and writes the `top` most expensive operators by name and
  /// by name + shapes to `out`, as "profile_op" / "profile_shape" lines with
  /// the self milliseconds per output frame (`frames` frames were timed), the
  /// share of the total, and the call count.
  void report(std::FILE *out, int frames, int top = 60);

 private:
  bool active_ = true;
};

}  // namespace tools
