// Fuzz target: the whole checkpoint reader (model::read_checkpoint): the zip
// container (LibTorch's PyTorchStreamReader plus our CRC-32 check of the
// central directory), the records and the pickle. Only ModelError may leave it.
#include <torch/torch.h>

#include <algorithm>
#include <stdexcept>

#include "fuzz_target.hpp"
#include "state_dict_oracle.hpp"
#include "salmodel/checkpoint.hpp"

namespace fuzz {

const char *target_name() { return "checkpoint"; }

std::vector<Bytes> seeds() {
  std::vector<Bytes> out;
  TempDir dir;
  torch::manual_seed(0);
  const std::vector<model::StateDict> dicts = {
      {},
      {{"w", torch::rand({2, 3})}},
      {{"conv.weight", torch::rand({2, 1, 3, 3})},
       {"conv.bias", torch::zeros({2})},
       {"bn.num_batches_tracked", torch::tensor(int64_t{5})},
       {"half", torch::ones({4}, torch::kFloat16)}},
  };
  for (std::size_t i = 0; i < dicts.size(); i++) {
    const std::string path = dir / ("seed" + std::to_string(i) + ".pth");
    model::write_checkpoint(path, dicts[i]);
    out.push_back(read_file(path));
  }
  // Regression (found by this target): the central directory claims a 2 GiB
  // "version" record in a file of a few hundred bytes. LibTorch's reader
  // allocated and copied the claimed size while being constructed.
  Bytes big = out[1];
  for (std::size_t p = 0; p + 46 <= big.size(); p++) {
    if (big[p] != 0x50 || big[p + 1] != 0x4b || big[p + 2] != 0x01 || big[p + 3] != 0x02) continue;
    const std::size_t name_len = big[p + 28] | (big[p + 29] << 8);
    const std::string name(big.begin() + static_cast<std::ptrdiff_t>(p + 46),
                           big.begin() + static_cast<std::ptrdiff_t>(std::min(big.size(), p + 46 + name_len)));
    if (name.size() >= 7 && name.compare(name.size() - 7, 7, "version") == 0) {
      big[p + 24] = 0xff, big[p + 25] = 0xff, big[p + 26] = 0xff, big[p + 27] = 0x7f;  // uncompressed size
      out.push_back(big);
      break;
    }
  }
  if (out.size() != dicts.size() + 1) throw std::logic_error("no 'version' record in the seed");
  return out;
}

}  // namespace fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  fuzz::MemFile file(data, size);
  try {
    model::StateDict sd = model::read_checkpoint(file.path());
    fuzz::check_tensors_inside_storage(sd);
  } catch (const model::ModelError &) {
  }
  return 0;
}
