// `ssmsim info`: a precision config's per-component table, or a checkpoint's parameters.
#include <fmt/format.h>

#include <map>

#include "quant/errors.hpp"
#include "quant/precision.hpp"
#include "sim/verbs.hpp"
#include "ssm_core/checkpoint.hpp"
#include "ssm_core/model.hpp"
#include "ssm_core/qmodel.hpp"

namespace ssmsim::sim {

namespace {

std::string calibration_text(const quant::QuantizerSpec& s) {
  if (s.frac) return fmt::format("fixed frac {}", *s.frac);
  if (quant::uses_percentile(s.calibration))
    return fmt::format("{} {}", quant::to_string(s.calibration), s.percentile);
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
  if (!p.is_float(quant::Component::x) && p.spec(quant::Component::x).operand_bits == 0)
    out << "\nstate operand (docs/fixed_point.md 9.3): the stored state itself\n";
  bool first = true;
  for (const auto c : quant::all_components()) {
    if (p.is_float(c) || p.spec(c).operand_bits == 0) continue;
    const auto& s = p.spec(c);
    out << (first ? "\n" : "") << fmt::format("operand of {} (docs/fixed_point.md 9.3): ", quant::component_name(c))
        << (s.operand_block == 0 ? fmt::format("{} bits, a static scale (point xo)", s.operand_bits)
                                 : fmt::format("{} bits, block floating point: {} {} per exponent{}", s.operand_bits,
                                               s.operand_block, c == quant::Component::x ? "state(s)" : "feature(s)",
                                               c == quant::Component::x ? " and part" : ""))
        << "\n";
    first = false;
  }
  for (const auto c : {quant::Component::A, quant::Component::B, quant::Component::C})
    if (!p.is_float(c) && p.spec(c).separate_parts)
      out << fmt::format("{}: separate quantizers for the real and imaginary parts, scales a power of two apart "
                         "(docs/fixed_point.md 9.2)\n", quant::component_name(c));
  if (!p.is_float(quant::Component::A) && p.spec(quant::Component::A).delta)
    out << "A: delta form, stored as Lambda_bar - 1; the update adds the stored state (docs/fixed_point.md 9.3)\n";
  if (!p.gelu().empty()) out << "GELU: " << (p.gelu() == "hard" ? "x*clip(x+2,0,4)/4 (hard)" : "lookup table") << "\n";
}

void print_checkpoint(const std::string& path, std::ostream& out) {
  const core::FloatCheckpoint ck = core::load_checkpoint(path);
  const core::Model model(ck.config);
  const bool s5 = ck.config.layer == core::LayerType::S5;
  out << fmt::format("float checkpoint {}: model '{}', {} {} layer(s), H={}, {}={}, {} -> {} outputs\n\n", path,
                     ck.config.name, ck.config.n_layers, s5 ? "S5" : "S4D", ck.config.H, s5 ? "P" : "N",
                     s5 ? ck.config.P : ck.config.N, ck.config.d_input, ck.config.d_output);
  out << fmt::format("{:<40} {:<16} {:>9} {:>10}\n", "tensor", "shape", "elements", "bytes(f32)");
  size_t total = 0;
  for (const auto& p : model.layout().params()) {
    std::string shape;
    for (auto d : p.shape) shape += (shape.empty() ? "" : "x") + std::to_string(d);
    out << fmt::format("{:<40} {:<16} {:>9} {:>10}\n", p.name, shape, p.size, 4 * p.size);
    total += p.size;
  }
  out << fmt::format("\ntotal: {} parameters, {} bytes as float32\n", total, 4 * total);
}

// Per component: tensors, bits per element, total bits and bytes; the footprint against the same
// tensors in float32 (the papers' "memory reduction").
void print_qmodel(const std::string& path, std::ostream& out) {
  const core::QModel q = core::load_qmodel(path);
  const auto& mc = q.config;
  const bool s5 = mc.layer == core::LayerType::S5;
  out << fmt::format("quantized model {}: model '{}', {} {} layer(s), H={}, {}={}; precision '{}', GELU {}\n\n", path,
                     mc.name, mc.n_layers, s5 ? "S5" : "S4D", mc.H, s5 ? "P" : "N", s5 ? mc.P : mc.N,
                     q.precision.name(), q.gelu == core::QGelu::Lut ? "lookup table" : "x*clip(x+2,0,4)/4");
  out << fmt::format("{:<24} {:<9} {:<12} {:>9} {:>5} {:>10} {:>9}  {}\n", "tensor", "component", "shape", "elements",
                     "bits", "total bits", "bytes", "format");
  std::map<quant::Component, std::pair<uint64_t, uint64_t>> per;  // bits, elements
  uint64_t bits_total = 0, elems_total = 0;
  for (const auto& [name, t] : q.tensors) {
    std::string shape;
    for (auto d : t.shape) shape += (shape.empty() ? "" : "x") + std::to_string(d);
    const uint64_t tb = core::tensor_bits(t);
    const uint64_t bits = t.size() ? tb / t.size() : 0;
    // an asymmetric tensor shows its (first channel's) zero point, subtracted at operand fetch;
    // separate parts show both parts of the first channel
    auto fmt_of = [](const quant::QuantParams& p) {
      return p.format.to_string() + (p.format.is_signed ? "" : fmt::format(" zp {}", p.zero_point));
    };
    const std::string first = t.separate_parts ? "re " + fmt_of(t.params[0]) + ", im " + fmt_of(t.params[1]) : fmt_of(t.params[0]);
    const size_t more = t.groups() - 1;
    const bool delta = t.component == quant::Component::A && q.precision.spec(quant::Component::A).delta;
    out << fmt::format("{:<24} {:<9} {:<12} {:>9} {:>5} {:>10} {:>9}  {}{}{}\n", name, quant::component_name(t.component),
                       shape, t.size(), bits, tb, (tb + 7) / 8, first,
                       more ? fmt::format(" (+{} channels)", more) : "", delta ? " (Lambda_bar - 1, delta form)" : "");
    per[t.component].first += tb;
    per[t.component].second += t.size();
    bits_total += tb;
    elems_total += t.size();
  }
  out << fmt::format("\n{:<10} {:>9} {:>12} {:>10} {:>12}\n", "component", "elements", "bits", "bytes", "float32 bytes");
  for (const auto& [c, v] : per)
    out << fmt::format("{:<10} {:>9} {:>12} {:>10} {:>12}\n", quant::component_name(c), v.second, v.first,
                       (v.first + 7) / 8, 4 * v.second);
  const uint64_t bytes = (bits_total + 7) / 8, f32 = 4 * elems_total;
  out << fmt::format("\ntotal: {} elements, {} bits = {} bytes; as float32 {} bytes: {:.2f}x smaller ({:.1f}% reduction)\n",
                     elems_total, bits_total, bytes, f32, static_cast<double>(f32) / static_cast<double>(bytes),
                     100.0 * (1.0 - static_cast<double>(bytes) / static_cast<double>(f32)));
  std::string clipped;  // only models with codes saturated at quantization print the line
  for (const auto& [name, t] : q.tensors)
    if (t.saturated) clipped += fmt::format("{}{} {} of {} codes", clipped.empty() ? "" : ", ", name, t.saturated, t.size());
  if (!clipped.empty()) out << "saturated at quantization: " << clipped << "\n";
  std::string zps;  // activation points with a zero point: the datapath reads their operands q - zp
  for (const auto& [name, ps] : q.points)
    if (!ps.empty() && ps[0].zero_point != 0) zps += fmt::format("{}{} {}", zps.empty() ? "" : ", ", name, ps[0].zero_point);
  if (!zps.empty()) out << "activation zero points: " << zps << "\n";
  const auto& x = q.point("layers.0.x");
  const uint64_t states = s5 ? mc.P / (mc.conj_sym ? 2 : 1) : mc.H * mc.N / 2;
  out << fmt::format("state per sequence: {} layer(s) x {} complex states x 2 x {} bits = {} bytes\n", mc.n_layers,
                     states, x.format.width, (mc.n_layers * states * 2 * static_cast<uint64_t>(x.format.width) + 7) / 8);
}

}  // namespace

int run_info(const Invocation& inv) {
  if (inv.options.count("ckpt")) {
    const std::string path = inv.options["ckpt"].as<std::string>();
    if (core::is_qmodel_file(path))
      print_qmodel(path, inv.out);
    else
      print_checkpoint(path, inv.out);
    return 0;
  }
  if (!inv.options.count("precision"))
    throw InputError("info: give --ckpt F|Q or --precision P.yaml (see ssmsim info --help)");
  print_precision(inv.config.get<quant::PrecisionConfig>("precision"), inv.out);
  return 0;
}

}  // namespace ssmsim::sim
