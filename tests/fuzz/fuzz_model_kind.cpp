// libFuzzer build of the dataset target only: dataset.cpp names the model in
// one error message with model::to_string(ModelKind), which lives in
// predictor.cpp together with the whole Predictor (and through it every
// model). The -Dfuzzing build compiles only the parser sources a target needs,
// so it gets this copy of that one function; every other build links the real
// one from libsalmodel.
#include "salmodel/predictor.hpp"

namespace model {

const char *to_string(ModelKind kind) {
  switch (kind) {
    case ModelKind::Baseline: return "baseline";
    case ModelKind::STSANet: return "stsanet";
    case ModelKind::STRANet: return "stranet";
  }
  return "?";
}

}  // namespace model
