#include <torch/torch.h>

#include "salmodel/baseline.hpp"
#include "salmodel/saliency_model.hpp"
#include "salmodel/tinyhd.hpp"
#if __has_include("salmodel/stsanet.hpp")
#include "salmodel/stsanet.hpp"
#define SALMODEL_HAVE_STSANET 1
#endif
#if __has_include("salmodel/stranet.hpp")
#include "salmodel/stranet.hpp"
#define SALMODEL_HAVE_STRANET 1
#endif

namespace model {

std::unique_ptr<SaliencyModel> create_model(const ModelConfig &config) {
  switch (config.kind) {
    case ModelKind::Baseline:
      if (!config.weights.empty())
        throw ModelError(config.weights + ": the baseline model is weight-free and takes no weights file");
      return create_baseline_model();
    case ModelKind::STSANet:
#ifdef SALMODEL_HAVE_STSANET
      return create_stsanet_model(config);
#else
      break;
#endif
    case ModelKind::STRANet:
#ifdef SALMODEL_HAVE_STRANET
      return create_stranet_model(config);
#else
      break;
#endif
    case ModelKind::TinyHD:
      return create_tinyhd_model(config);
  }
  throw ModelError(std::string("model '") + to_string(config.kind) + "' is not available in this build yet");
}

}  // namespace model
