// The oracle of the checkpoint and pickle targets: every tensor of a parsed
// state dict lies inside its storage. LibTorch is not instrumented, so an
// out-of-range view would go unnoticed by ASan; a violation throws
// std::logic_error, which the fuzz driver reports as a finding.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "salmodel/checkpoint.hpp"

namespace fuzz {

inline void check_tensors_inside_storage(const model::StateDict &state) {
  for (const auto &[key, t] : state) {
    if (t.numel() == 0) continue;
    std::int64_t last = t.storage_offset();
    for (std::int64_t d = 0; d < t.dim(); d++) last += (t.size(d) - 1) * t.stride(d);
    const auto elements = static_cast<std::int64_t>(t.storage().nbytes() / t.element_size());
    if (last >= elements) throw std::logic_error("tensor '" + key + "' reaches past its storage");
  }
}

}  // namespace fuzz
