// Seeded random numbers for the dataset code (internal to model/src/data).
// Uniform and normal draws are computed here rather than by
// std::*_distribution or std::shuffle, whose results differ between standard
// libraries: a (seed, epoch) plan and a synthetic dataset are then the same on
// every platform. Each object owns its engine; there is no global state.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>

namespace model::data::detail {

/// SplitMix64 finaliser: a well-mixed 64-bit value from any input.
inline std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/// An independent seed for (seed, a, b): derived values never depend on the
/// order in which other things were drawn.
inline std::uint64_t seed_of(std::uint64_t seed, std::uint64_t a, std::uint64_t b = 0) {
  return mix(mix(mix(seed) ^ a) ^ b);
}

class Random {
 public:
  explicit Random(std::uint64_t seed) : engine_(seed) {}
  std::mt19937_64 &engine() { return engine_; }
  /// [0, 1) with 53 random bits.
  double uniform() { return double(engine_() >> 11) * (1.0 / 9007199254740992.0); }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  /// An integer in [lo, hi].
  int integer(int lo, int hi) { return lo + int(uniform() * double(hi - lo + 1)); }
  /// Standard normal (Box-Muller, one value per call).
  double normal() {
    const double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  std::mt19937_64 engine_;
};

}  // namespace model::data::detail
