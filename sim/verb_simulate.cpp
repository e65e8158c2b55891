// `ssmsim simulate`: the SystemC accelerator on a quantized model, checked against the C-model.
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "hw_models/energy.hpp"
#include "hw_models/hw_config.hpp"
#include "quant/errors.hpp"
#include "quant/precision.hpp"
#include "reports/result_record.hpp"
#include "sim/simulate.hpp"
#include "sim/verb_common.hpp"
#include "ssm_core/qmodel.hpp"

namespace ssmsim::sim {

namespace {

// A resolved config section as JSON (numbers and booleans typed, the rest strings).
nlohmann::json yaml_to_json(const YAML::Node& n) {
  if (n.IsMap()) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& kv : n) j[kv.first.as<std::string>()] = yaml_to_json(kv.second);
    return j;
  }
  if (n.IsSequence()) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& v : n) j.push_back(yaml_to_json(v));
    return j;
  }
  if (!n.IsScalar()) return nullptr;
  const std::string& s = n.Scalar();
  if (s == "true" || s == "false") return s == "true";
  try {
    size_t pos = 0;
    const double d = std::stod(s, &pos);
    if (pos == s.size()) return d;
  } catch (const std::exception&) {
  }
  return s;
}


// The run's record (`simulate --json`; docs/reports.md): what ran, the cycles, energy, memory,
// area and utilization, and the accelerator's declared statistics.
reports::ResultRecord simulate_record(const SimulateResult& r, const core::QModel& q, const SimulateOptions& so,
                                      const hw::HwConfig& hwc, const hw::EnergyTable& table, const std::string& path,
                                      const std::string& workload, nlohmann::json hw_section) {
  reports::ResultRecord j;
  j.command = "simulate";
  j.checkpoint = path;
  j.workload = workload;
  j.precision = q.precision.name();
  j.mode = hwc.mode;
  j.bit_exact = r.bit_exact;
  j.checked_states = so.check_states;
  j.cmac = so.cmac;
  if (!r.bit_exact) j.first_mismatch = r.first_mismatch;
  j.sequences = r.sequences;
  j.tokens = r.tokens;
  j.accuracy = r.accuracy;
  j.clock_mhz = hwc.clock_mhz;
  j.cycles = r.cycles;
  j.cycles_per_sequence = static_cast<double>(r.cycles) / static_cast<double>(r.sequences);
  j.cycles_per_token = r.cycles_per_token;
  j.cycles_per_layer_per_token.emplace();
  for (uint64_t c : r.layer_cycles)
    j.cycles_per_layer_per_token->push_back(static_cast<double>(c) / static_cast<double>(r.tokens));
  j.latency_us_per_token = r.latency_us_per_token;
  j.tokens_per_s = r.tokens_per_s;
  j.load_cycles = r.load_cycles;
  j.io_cycles = r.io_cycles;
  j.weights_streamed = r.streaming;
  j.energy_nj_per_token = r.energy_nj_per_token;
  j.energy_nj_total = r.cost.energy_pj / 1000.0;
  j.leakage_nj_total = r.cost.leakage_pj / 1000.0;
  j.energy_breakdown_nj.emplace();  // per token
  for (const auto& [k, e] : r.cost.energy_pj_by_module)
    (*j.energy_breakdown_nj)[k] = e / 1000.0 / static_cast<double>(r.tokens);
  j.memory_bits = r.cost.weight_bits;
  j.state_bits = r.cost.state_bits;
  j.memory_bits_by_tensor = r.cost.memory_bits;
  {  // the stored weights per model component, and against float32 (as `ssmsim info --ckpt Q`)
    std::map<std::string, uint64_t> byc;
    uint64_t elements = 0;
    for (const auto& [name, t] : q.tensors) {
      const uint64_t b = r.cost.memory_bits.count(name) ? r.cost.memory_bits.at(name) : 0;
      byc[quant::component_name(t.component)] += b;
      elements += t.size();
    }
    reports::Footprint fp;
    fp.weight_elements = elements;
    fp.weight_bits = r.cost.weight_bits;
    fp.float32_bits = 32 * elements;
    fp.reduction = static_cast<double>(32 * elements) / static_cast<double>(r.cost.weight_bits);
    fp.bits_by_component = byc;
    j.footprint = fp;
  }
  j.area_mm2 = r.cost.area_mm2;
  j.area_breakdown_mm2.emplace();
  for (const auto& [k, a] : r.cost.area_um2) (*j.area_breakdown_mm2)[k] = a * 1e-6;
  j.utilization = r.cost.utilization;
  j.stats.emplace();
  for (const auto& s : r.stats) j.stats->push_back({s.name, s.unit, s.description, s.value});
  j.hw = std::move(hw_section);
  j.energy_table = table.name;
  j.wall_seconds = r.wall_s;
  j.simulated_tokens_per_wall_s = static_cast<double>(r.tokens) / r.wall_s;
  j.simulated_cycles_per_wall_s = static_cast<double>(r.cycles) / r.wall_s;
  return j;
}

}  // namespace

int run_simulate(const Invocation& inv) {
  const auto& o = inv.options;
  const std::string path = o["ckpt"].as<std::string>();
  if (!std::filesystem::exists(path))
    throw InputError("simulate: " + path + " does not exist (make a quantized model with `ssmsim quantize` or `ssmsim qat`)");
  if (!core::is_qmodel_file(path))
    throw InputError("simulate: " + path + " is a float checkpoint; the accelerator runs quantized models: make one "
                     "with `ssmsim quantize --ckpt " + path + " --precision P.yaml --out q.safetensors`");
  const core::QModel q = core::load_qmodel(path);
  const hw::HwConfig hwc = inv.config.get<hw::HwConfig>("hw");
  hw::EnergyTable table = hwc.energy_table.empty() ? hw::EnergyTable::builtin() : hw::EnergyTable::load(hwc.energy_table);
  table.scale = hwc.tech_scale;
  const workloads::Workload w = load_data(inv, inv.err);
  if (q.config.d_input != w.test.d_input || q.config.d_output != w.num_classes)
    throw InputError(fmt::format("simulate: {} expects {} input features and {} classes; workload '{}' has {} and {}",
                                 path, q.config.d_input, q.config.d_output, w.name, w.test.d_input, w.num_classes));
  SimulateOptions so;
  so.limit = settings<EvalSettings>(inv.config).limit;
  so.check_states = o["check-states"].as<bool>();
  so.cmac = o["cmac"].as<std::string>();
  if (o.count("vcd")) so.vcd = o["vcd"].as<std::string>();
  const bool tty = ::isatty(2);
  const auto t0 = std::chrono::steady_clock::now();
  so.progress = [&](size_t done, size_t total) {
    if (!tty && done % std::max<size_t>(1, total / 5) && done != total) return;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    inv.err << fmt::format("{}simulate ({}): {}/{} sequences  {:.0f} tokens/s simulated per wall second  ETA {}{}",
                           tty ? "\r" : "", hwc.mode, done, total,
                           static_cast<double>(done * w.test.length) / std::max(s, 1e-9),
                           fmt_time(s / static_cast<double>(done) * static_cast<double>(total - done)), tty ? "   " : "\n")
            << std::flush;
  };
  const SimulateResult r = simulate(q, hwc, table, w.test, so);
  if (tty) inv.err << "\n";
  inv.out << fmt::format("{} on accelerator '{}' ({} mode, {} MHz{}): {} sequences, accuracy {:.2f}%, bit_exact {}\n",
                         path, hwc.name, hwc.mode, hwc.clock_mhz, r.streaming ? ", weights streamed from off-chip" : "",
                         r.sequences, 100 * r.accuracy, r.bit_exact ? "true" : "false");
  inv.out << fmt::format("  {:.1f} cycles/token, {:.3f} us/token, {:.0f} tokens/s, {:.3f} nJ/token, area {:.3f} mm2, "
                         "weights {} bits, states {} bits\n",
                         r.cycles_per_token, r.latency_us_per_token, r.tokens_per_s, r.energy_nj_per_token,
                         r.cost.area_mm2, r.cost.weight_bits, r.cost.state_bits);
  inv.out << "  energy per token (nJ):";
  for (const auto& [k, e] : r.cost.energy_pj_by_module)
    inv.out << fmt::format(" {} {:.3f}", k, e / 1000.0 / static_cast<double>(r.tokens));
  inv.out << fmt::format("\n  simulation: {:.2f} s wall, {:.0f} simulated tokens/s, {:.2f} M cycles/s\n", r.wall_s,
                         static_cast<double>(r.tokens) / r.wall_s, static_cast<double>(r.cycles) / r.wall_s / 1e6);
  if (!r.bit_exact) inv.err << "error: the accelerator is not bit-exact with the C-model: first mismatch at " << r.first_mismatch << "\n";
  if (o.count("json"))
    reports::write_record(o["json"].as<std::string>(),
                          simulate_record(r, q, so, hwc, table, path, w.name, yaml_to_json(inv.config.section("hw"))));
  return r.bit_exact ? 0 : 1;
}

}  // namespace ssmsim::sim
