// The names of models, interval modes, devices and precisions (CLI flags,
// element properties): parsed here, at the edges, into the typed options.
// Torch-free, in a file of its own so that code naming a model in a message
// (dataset.cpp) does not pull in the Predictor; the -Dfuzzing build compiles
// it into the dataset target.
#include <cstdlib>

#include "salmodel/predictor.hpp"

namespace model {

ModelKind parse_model_kind(const std::string &name) {
  if (name == "baseline") return ModelKind::Baseline;
  if (name == "stsanet") return ModelKind::STSANet;
  if (name == "stranet") return ModelKind::STRANet;
  if (name == "tinyhd") return ModelKind::TinyHD;
  throw ModelError("unknown model '" + name + "' (expected stsanet, stranet, tinyhd or baseline)");
}

const char *to_string(ModelKind kind) {
  switch (kind) {
    case ModelKind::Baseline: return "baseline";
    case ModelKind::STSANet: return "stsanet";
    case ModelKind::STRANet: return "stranet";
    case ModelKind::TinyHD: return "tinyhd";
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

Device parse_device(const std::string &name) {
  if (name == "cpu") return Device::cpu();
  if (name == "auto") return Device::automatic();
  if (name == "cuda") return Device::cuda(0);
  if (name.rfind("cuda:", 0) == 0 && name.size() > 5 && name.size() < 9 &&
      name.find_first_not_of("0123456789", 5) == std::string::npos)
    return Device::cuda(std::atoi(name.c_str() + 5));
  throw ModelError("unknown device '" + name + "' (expected cpu, cuda, cuda:N or auto)");
}

std::string to_string(const Device &device) {
  switch (device.kind) {
    case Device::Kind::CPU: return "cpu";
    case Device::Kind::CUDA: return "cuda:" + std::to_string(device.index);
    case Device::Kind::Auto: return "auto";
  }
  return "?";
}

Precision parse_precision(const std::string &name) {
  if (name == "fp32") return Precision::FP32;
  // The old names stay accepted, so that existing pipelines and scripts keep working.
  if (name == "autocast-fp16" || name == "fp16") return Precision::AutocastFP16;
  if (name == "autocast-bf16" || name == "bf16") return Precision::AutocastBF16;
  if (name == "fp16-weights" || name == "half") return Precision::FP16Weights;
  throw ModelError("unknown precision '" + name +
                   "' (expected fp32, autocast-fp16, autocast-bf16 or fp16-weights)");
}

const char *to_string(Precision precision) {
  switch (precision) {
    case Precision::FP32: return "fp32";
    case Precision::AutocastFP16: return "autocast-fp16";
    case Precision::AutocastBF16: return "autocast-bf16";
    case Precision::FP16Weights: return "fp16-weights";
  }
  return "?";
}

}  // namespace model
