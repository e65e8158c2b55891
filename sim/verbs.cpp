#include "sim/verbs.hpp"

#include <fmt/format.h>

#include "quant/errors.hpp"
#include "quant/precision.hpp"

namespace ssmsim::sim {

namespace {

std::string calibration_text(const quant::QuantizerSpec& s) {
  if (s.frac) return fmt::format("fixed frac {}", *s.frac);
  if (s.calibration == quant::Calibration::Percentile) return fmt::format("percentile {}", s.percentile);
  return quant::to_string(s.calibration);
}

std::string scale_text(const quant::QuantizerSpec& s) {
  if (s.frac || s.scale == quant::ScaleKind::Pow2) return "pow2";
  return fmt::format("dyadic/{}b", s.scale_bits);
}

void print_precision(const quant::PrecisionConfig& p, std::ostream& out) {
  out << fmt::format("precision config '{}'{}\n\n", p.name(),
                     p.description().empty() ? "" : ": " + p.description());
  out << fmt::format("{:<9} {:<5} {:<10} {:<11} {:<10} {:<16} {:<17} {:<18} {}\n", "component", "bits",
                     "scheme", "granularity", "scale", "calibration", "rounding", "overflow", "role");
  for (const auto c : quant::all_components()) {
    const auto name = quant::component_name(c);
    if (p.is_float(c)) {
      out << fmt::format("{:<9} {:<5} {:<10} {:<11} {:<10} {:<16} {:<17} {:<18} {}\n", name, "f32",
                         "float", "-", "-", "-", "-", "-", quant::component_description(c));
      continue;
    }
    const auto& s = p.spec(c);
    out << fmt::format("{:<9} {:<5} {:<10} {:<11} {:<10} {:<16} {:<17} {:<18} {}\n", name, s.bits,
                       quant::to_string(s.scheme), quant::to_string(s.granularity), scale_text(s),
                       calibration_text(s), quant::to_string(s.rounding), quant::to_string(s.overflow),
                       quant::component_description(c));
  }
}

}  // namespace

int run_info(const Invocation& inv) {
  if (inv.options.count("ckpt"))
    throw InputError("info --ckpt: reading checkpoints is not built yet (it arrives with the float "
                     "models and quantized models); `info --precision P.yaml` works now");
  if (!inv.options.count("precision"))
    throw InputError("info: give --ckpt F|Q or --precision P.yaml (see ssmsim info --help)");
  print_precision(quant::PrecisionConfig::from_yaml(inv.config.section("precision")), inv.out);
  return 0;
}

}  // namespace ssmsim::sim
