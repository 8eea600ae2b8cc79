// Precompiled header for the LibTorch-heavy targets (model/ and its tests).
#include <torch/torch.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
