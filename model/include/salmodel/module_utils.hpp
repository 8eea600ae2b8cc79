// Helpers every network wrapper needs (LibTorch side).
#pragma once

#include <cstdint>

#include <torch/types.h>

namespace torch::nn {
class Module;
}

namespace model {

/// Moves parameters and buffers to `device` and casts the floating-point ones
/// to `dtype`, as PyTorch's Module.to does. (LibTorch's Module::to(device,
/// dtype) also casts integer buffers such as BatchNorm's num_batches_tracked,
/// which checkpoints then carry with the wrong dtype.)
void move_module(torch::nn::Module &module, torch::Device device, torch::Dtype dtype);

/// Trainable parameter elements.
std::int64_t count_parameters(const torch::nn::Module &module);

/// Floating-point buffer elements (BatchNorm running statistics; not the
/// integer num_batches_tracked counters).
std::int64_t count_float_buffers(const torch::nn::Module &module);

}  // namespace model
