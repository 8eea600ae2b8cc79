// The names of the flow algorithms and presets, apart from the estimators so
// that headers which only carry a choice (the Predictor's options) stay free
// of OpenCV.
#pragma once

#include <string>

namespace flow {

/// Flow algorithms. All three are OpenCV implementations; DIS is the default.
enum class Algorithm { DIS, Farneback, TVL1 };

/// Speed/accuracy trade-off. Each algorithm maps a preset to its own settings
/// (for DIS: OpenCV's ULTRAFAST / FAST / MEDIUM presets plus our tuned default).
enum class Preset { UltraFast, Fast, Medium, Accurate };

/// Parses "dis", "farneback", "tvl1" (case-insensitive). Throws std::invalid_argument.
Algorithm parse_algorithm(const std::string &name);
/// Parses "ultrafast", "fast", "medium", "accurate". Throws std::invalid_argument.
Preset parse_preset(const std::string &name);
const char *to_string(Algorithm a);
const char *to_string(Preset p);

}  // namespace flow
