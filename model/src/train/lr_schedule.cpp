// LrSchedule (trainer.hpp): the official STSANet decay and two simple ones.
#include <cmath>

#include "salmodel/trainer.hpp"

namespace model::train {

LrSchedule LrSchedule::parse(const std::string &text) {
  LrSchedule s;
  s.text_ = text;
  if (text == "official") {
    s.kind_ = Kind::Official;
  } else if (text == "constant") {
    s.kind_ = Kind::Constant;
  } else if (text.rfind("step:", 0) == 0) {
    const auto rest = text.substr(5);
    const auto colon = rest.find(':');
    bool ok = colon != std::string::npos;
    if (ok) {
      try {
        size_t used = 0;
        s.every_ = std::stoi(rest.substr(0, colon), &used);
        ok = used == colon;
        const auto g = rest.substr(colon + 1);
        s.gamma_ = std::stod(g, &used);
        ok = ok && used == g.size();
      } catch (const std::exception &) {
        ok = false;
      }
    }
    if (!ok || s.every_ < 1 || !(s.gamma_ > 0) || !std::isfinite(s.gamma_))
      throw TrainError("--schedule " + text + ": expected step:<epochs >= 1>:<gamma > 0>");
    s.kind_ = Kind::Step;
  } else {
    throw TrainError("--schedule " + text +
                     ": expected official, constant or step:<epochs>:<gamma>");
  }
  return s;
}

double LrSchedule::factor(int epoch) const {
  switch (kind_) {
    case Kind::Constant:
      return 1.0;
    case Kind::Step:
      return std::pow(gamma_, epoch / every_);
    case Kind::Official:
      // train.py: x0.1 at epoch 12, then every 9 epochs (18, 27, ...): 12 is
      // the first decay and the later ones fall on multiples of 9.
      if (epoch < 12) return 1.0;
      if (epoch < 18) return 0.1;
      return std::pow(0.1, epoch / 9);
  }
  return 1.0;
}

bool LrSchedule::decays_at(int epoch) const {
  return epoch > 0 && factor(epoch) != factor(epoch - 1);
}

}  // namespace model::train
