// The names of models and interval modes (CLI flags, element properties).
// Torch-free, in a file of its own so that code naming a model in a message
// (dataset.cpp) does not pull in the Predictor; the -Dfuzzing build compiles
// it into the dataset target.
#include "salmodel/predictor.hpp"

namespace model {

ModelKind parse_model_kind(const std::string &name) {
  if (name == "baseline") return ModelKind::Baseline;
  if (name == "stsanet") return ModelKind::STSANet;
  if (name == "stranet") return ModelKind::STRANet;
  throw ModelError("unknown model '" + name + "' (expected stsanet, stranet or baseline)");
}

const char *to_string(ModelKind kind) {
  switch (kind) {
    case ModelKind::Baseline: return "baseline";
    case ModelKind::STSANet: return "stsanet";
    case ModelKind::STRANet: return "stranet";
  }
  return "?";
}

IntervalMode parse_interval_mode(const std::string &name) {
  if (name == "forward") return IntervalMode::Forward;
  if (name == "bidirectional") return IntervalMode::Bidirectional;
  throw ModelError("unknown interval mode '" + name + "' (expected forward or bidirectional)");
}

const char *to_string(IntervalMode mode) {
  return mode == IntervalMode::Forward ? "forward" : "bidirectional";
}

}  // namespace model
