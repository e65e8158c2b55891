// `ssmsim simulate`: the accelerator (hw_models/) driven by the testbench host over TLM on a
// workload's test sequences, every sequence checked against the integer C-model (the logits, and
// with check_states every layer's state at every step), and the run's cost priced.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "hw_models/accelerator.hpp"
#include "hw_models/hw_config.hpp"
#include "hw_models/trace.hpp"
#include "ssm_core/qmodel.hpp"
#include "ssm_core/sequences.hpp"

namespace ssmsim::sim {

struct SimulateOptions {
  size_t limit = 0;            // first N test sequences; 0 = all
  bool check_states = false;
  std::string vcd;             // cycle mode: waveform file (without .vcd)
  std::string cmac = "cpp";    // the CMAC lanes' state update: cpp (qsteps.hpp) or rtl (the Verilated lane)
  std::function<void(size_t done, size_t total)> progress;
  hw::Tracer* tracer = nullptr;  // test-vector export: sees every unit's vectors
  // called after the run with the accelerator (its memory images, for vector export)
  std::function<void(const hw::Accelerator&)> inspect;
};

struct SimulateResult {
  bool bit_exact = true;
  std::string first_mismatch;  // empty when bit-exact
  size_t sequences = 0, tokens = 0;
  double accuracy = 0;         // of the accelerator's logits
  uint64_t cycles = 0;         // all sequences, start to logits
  uint64_t load_cycles = 0, io_cycles = 0;
  std::vector<uint64_t> sequence_cycles;
  std::vector<uint64_t> layer_cycles;  // per layer, all tokens (the encoder and decoder not included)
  double cycles_per_token = 0, latency_us_per_token = 0, tokens_per_s = 0, energy_nj_per_token = 0;
  hw::Cost cost;
  hw::StatList stats;
  bool streaming = false;
  double wall_s = 0;
};

// Builds the accelerator, runs the sequences and compares. The SystemC kernel elaborates once per
// process: call this once.
SimulateResult simulate(const core::QModel& model, const hw::HwConfig& hw, const hw::EnergyTable& table,
                        const core::SequenceSet& set, const SimulateOptions& options);

}  // namespace ssmsim::sim
