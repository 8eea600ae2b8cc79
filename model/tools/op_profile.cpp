#include "op_profile.hpp"

#include <algorithm>
#include <map>
#include <sstream>
#include <utility>
#include <vector>

#include <torch/csrc/autograd/profiler_legacy.h>

namespace tools {

namespace prof = torch::autograd::profiler;

OpProfile::OpProfile() {
  prof::enableProfilerLegacy(torch::profiler::impl::ProfilerConfig(
      torch::profiler::impl::ProfilerState::CPU, /*report_input_shapes=*/true,
      /*profile_memory=*/true));
}

OpProfile::~OpProfile() {
  if (active_) prof::disableProfilerLegacy();
}

namespace {

struct Cost {
  double self_us = 0;
  long calls = 0;
};

std::string shapes_text(const std::vector<std::vector<int64_t>> &shapes) {
  std::ostringstream s;
  s << '[';
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    if (i) s << ", ";
    s << '(';
    for (std::size_t j = 0; j < shapes[i].size(); ++j) s << (j ? "," : "") << shapes[i][j];
    s << ')';
  }
  s << ']';
  return s.str();
}

void print_top(std::FILE *out, const char *label, const std::map<std::string, Cost> &costs,
               double total_us, int frames, int top) {
  std::vector<std::pair<std::string, Cost>> rows(costs.begin(), costs.end());
  std::sort(rows.begin(), rows.end(),
            [](const auto &a, const auto &b) { return a.second.self_us > b.second.self_us; });
  for (int i = 0; i < top && i < int(rows.size()); ++i)
    std::fprintf(out, "%s: %9.1f ms/frame %5.1f %% %6ld calls  %s\n", label,
                 rows[i].second.self_us / 1000.0 / frames, 100.0 * rows[i].second.self_us / total_us,
                 rows[i].second.calls, rows[i].first.c_str());
}

}  // namespace

void OpProfile::report(std::FILE *out, int frames, int top) {
  active_ = false;
  const auto threads = prof::disableProfilerLegacy();
  std::map<std::string, Cost> by_name, by_shape;
  double total_us = 0;
  struct Open {
    const prof::LegacyEvent *start;
    double child_us;
  };
  // Bytes held by tensors allocated since recording began (all threads in
  // event order per thread; the forward runs on one), and the innermost
  // operator running when they peaked.
  int64_t held = 0, peak = 0;
  std::string peak_op;
  for (const auto &events : threads) {
    std::vector<Open> stack;
    for (const auto &e : events) {
      if (e.kind() == prof::EventKind::MemoryAlloc) {
        held += e.cpuMemoryUsage();
        if (held > peak) {
          peak = held;
          peak_op = stack.empty() ? "(outside operators)"
                                  : std::string(stack.back().start->name()) + " " +
                                        shapes_text(stack.back().start->shapes());
        }
      } else if (e.kind() == prof::EventKind::PushRange) {
        stack.push_back({&e, 0.0});
      } else if (e.kind() == prof::EventKind::PopRange && !stack.empty()) {
        const Open open = stack.back();
        stack.pop_back();
        const double elapsed = open.start->cpuElapsedUs(e);
        const double self = std::max(0.0, elapsed - open.child_us);
        if (stack.empty()) total_us += elapsed;
        else stack.back().child_us += elapsed;
        const std::string name = open.start->name();
        by_name[name].self_us += self;
        by_name[name].calls++;
        auto &s = by_shape[name + " " + shapes_text(open.start->shapes())];
        s.self_us += self;
        s.calls++;
      }
    }
  }
  if (total_us <= 0 || frames <= 0) {
    std::fprintf(out, "profile: no operators recorded\n");
    return;
  }
  std::fprintf(out, "profile_total: %.1f ms/frame in operators\n", total_us / 1000.0 / frames);
  std::fprintf(out, "profile_peak_allocated: %.0f MB above the start, in %s\n", peak / 1048576.0,
               peak_op.c_str());
  print_top(out, "profile_op", by_name, total_us, frames, top);
  print_top(out, "profile_shape", by_shape, total_us, frames, top);
}

}  // namespace tools
