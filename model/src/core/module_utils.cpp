#include "salmodel/module_utils.hpp"

#include <torch/nn/module.h>
#include <torch/utils.h>

namespace model {

void move_module(torch::nn::Module &module, torch::Device device, torch::Dtype dtype) {
  module.to(device);
  torch::NoGradGuard no_grad;
  for (auto &p : module.parameters())
    if (p.is_floating_point()) p.set_data(p.to(dtype));
  for (auto &b : module.buffers())
    if (b.is_floating_point()) b.set_data(b.to(dtype));
}

std::int64_t count_parameters(const torch::nn::Module &module) {
  std::int64_t n = 0;
  for (const auto &p : module.parameters()) n += p.numel();
  return n;
}

std::int64_t count_float_buffers(const torch::nn::Module &module) {
  std::int64_t n = 0;
  for (const auto &b : module.buffers())
    if (b.is_floating_point()) n += b.numel();
  return n;
}

}  // namespace model
