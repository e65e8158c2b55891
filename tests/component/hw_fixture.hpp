// Shared set-up of the hardware component tests: small quantized models (initialised, not trained,
// PTQ on the pulse task), their layer 0 placed in a weight and a state memory as the Accelerator
// places it, the C-model's recorded codes, and a minimal TLM host for whole-accelerator tests.
#pragma once

#include <gtest/gtest.h>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hw_models/accelerator.hpp"
#include "hw_models/energy.hpp"
#include "hw_models/sram.hpp"
#include "quant/precision.hpp"
#include "ssm_core/qmodel.hpp"
#include "ssm_core/qsteps.hpp"
#include "tests/support/pulse_task.hpp"
#include "tests/support/testing.hpp"

namespace ssmsim::testing::hwfix {

// The pulse task's sequences (64 steps, 1 input, 4 classes).
inline const core::Workload& pulse_data() {
  static const core::Workload w = pulse_workload(11, 64, 8, 16);
  return w;
}

// `cfg` initialised with seed 5 and quantized with PTQ (32 calibration sequences) at `pc`.
inline core::QModel quantized(const core::ModelConfig& cfg, const quant::PrecisionConfig& pc,
                              core::QGelu gelu = core::QGelu::Lut) {
  const core::Model model(cfg);
  std::vector<double> p = model.init(5);
  const core::FloatCheckpoint ck{cfg, std::vector<float>(p.begin(), p.end()), {}};
  core::PtqOptions opt;
  opt.calib = 32;
  opt.gelu = gelu;
  return core::quantize_ptq(ck, pc, pulse_data().train, opt);
}
// ... at `precision`, a file of configs/precision/.
inline core::QModel quantized(const core::ModelConfig& cfg, const std::string& precision = "all16",
                              core::QGelu gelu = core::QGelu::Lut) {
  return quantized(cfg, quant::PrecisionConfig::load(source_dir() / ("configs/precision/" + precision + ".yaml")), gelu);
}

// The pulse model (S4D, H 8, N 16: 8 states per channel, GLU mixing, post-LayerNorm).
inline core::ModelConfig s4d_config() { return pulse_model(); }
// An S5 model of the same width: P 16 (8 stored states), J 1.
inline core::ModelConfig s5_config() {
  core::ModelConfig c = pulse_model();
  c.layer = core::LayerType::S5;
  c.P = 16;
  c.J = 1;
  return c;
}
// The same with mean pooling (the pooled vector a point of its own), S4D or S5.
inline core::ModelConfig mean_pool_model(bool s5) {
  core::ModelConfig c = s5 ? s5_config() : s4d_config();
  c.pooling = core::Pooling::Mean;
  return c;
}

// 2 lanes (3 stages), 4 MACs (2 stages), a 2-wide SFU (2 stages, a 5-cycle root), memories of 4
// banks with 4 ports (no conflicts), a 64-bit bus (latency 8, 16-beat bursts), 100 MHz.
inline hw::HwConfig tiny_hw(bool clocked) {
  hw::HwConfig c;
  c.clock_mhz = 100;
  c.cmac = {2, 3, 0};
  c.mve = {4, 0, 2};
  c.sfu = {2, 2, 5};
  c.weight_mem = {16384, 64, 4, 4};
  c.state_mem = {4096, 64, 4, 4};
  c.bus = {64, 8, 16};
  c.mode = clocked ? "cycle" : "lt";
  return c;
}

// A memory region's stored codes, in element order.
inline std::vector<int32_t> region_of(const hw::BankedSram& mem, const hw::Region& r) {
  std::vector<int32_t> v;
  for (size_t i = 0; i < r.elements; ++i) v.push_back(mem.load(r, i));
  return v;
}

// The C-model's stored state of layer 0 after step t, [state][re, im] (a recording run's).
inline std::vector<int32_t> c_model_x(const core::QEngine& e, const core::QWorkspace& ws, size_t t) {
  const core::QLayerConsts& Ly = e.consts().layers[0];
  const size_t S = Ly.Ar.size(), L = pulse_data().test.length;
  std::vector<int32_t> v;
  for (size_t k = 0; k < 2 * S; ++k)
    v.push_back(Ly.xupd_per_state ? ws.layers[0].x[(t * 2 * S + k) * core::kLanes]
                                  : ws.layers[0].x[(((k / 2) * L + t) * 2 + k % 2) * core::kLanes]);
  return v;
}

// The C-model on the first test sequence with every layer's codes recorded.
inline std::unique_ptr<core::QWorkspace> run_recorded(const core::QEngine& e) {
  auto ws = e.make_workspace();
  ws->record = true;
  quant::SaturationCounters sat;
  const size_t idx = 0;
  e.run_chunk(core::make_chunk(pulse_data().test, &idx, 1), *ws, sat);
  return ws;
}

// The C-model's logits of the first test sequence.
inline std::vector<int64_t> c_model_logits(const core::QEngine& e) {
  auto ws = e.make_workspace();
  quant::SaturationCounters sat;
  const size_t idx = 0;
  return e.run_chunk(core::make_chunk(pulse_data().test, &idx, 1), *ws, sat).logits;
}

// One recorded vector of layer 0 at step t (`seq`: a QWorkspace::Layer member).
inline std::vector<int32_t> at_step(const core::Seq<int32_t>& seq, size_t t, size_t H) {
  std::vector<int32_t> v(H);
  for (size_t h = 0; h < H; ++h) v[h] = seq.at(t, h)[0];
  return v;
}

// Layer 0's tensors in a weight memory (A, B, C in banks 0, 1, 2 as the Accelerator places them,
// then D, the norm's scale and shift; asymmetric ones unsigned with their zero points) and its
// state in a state memory (zeros; with a narrowed state operand, the operand memory too), with the
// widths the units count at (the Accelerator's own placement functions).
struct Layer0 {
  hw::BankedSram weights, states;
  hw::LayerMem m;
  Layer0(const hw::SramConfig& w, const hw::SramConfig& s, const core::QModel& q)
      : weights("weight_mem", w), states("state_mem", s) {
    auto place = [&](const std::string& t, int bank) {
      const core::QTensor& qt = q.tensor("layers.0." + t);
      const auto& r = hw::place_weight(weights, t, qt, bank);
      weights.store(r, qt.q);
      return &r;
    };
    m.A = place("A", 0), m.B = place("B", 1), m.C = place("C", 2), m.D = place("D", -1);
    m.gamma = place("norm.scale", -1), m.beta = place("norm.shift", -1);
    hw::weight_operands(m);
    const core::QEngine e(q);
    hw::activation_points(m, q, e.consts().layers[0], 0);
    hw::place_state(states, m, q, e.consts().layers[0], 0);
    states.store(*m.x, std::vector<int32_t>(m.x->elements, 0));
    if (m.xo) states.store(*m.xo, std::vector<int32_t>(m.xo->elements, 0));
  }
  // A model as the units' cost() sees it: this one layer.
  hw::ModelMem model_mem() const {
    hw::ModelMem mm;
    mm.layers.push_back(m);
    return mm;
  }
};

// The energy table's prices, as the tests spell their hand derivations.
struct Prices {
  hw::EnergyTable t = hw::EnergyTable::builtin();
  double mul(double bits2) const { return t.mul_pj_per_bit2 * bits2; }  // pJ of multiplies of sum(wa wb) bits^2
  double add(double bits) const { return t.add_pj_per_bit * bits; }
};

// Runs `body` (calls into units): at once without a clock (lt), or on a SystemC thread that starts
// on a clock edge, with sc_start (the test's one), when clocked. Returns the simulated time it took.
struct ThreadRunner : sc_core::sc_module {
  SC_HAS_PROCESS(ThreadRunner);
  std::function<void()> body;
  const sc_core::sc_clock* clk;
  sc_core::sc_time elapsed;
  ThreadRunner(sc_core::sc_module_name n, const sc_core::sc_clock* c, std::function<void()> b)
      : sc_module(n), body(std::move(b)), clk(c) {
    SC_THREAD(run);
  }
  void run() {
    sc_core::wait(clk->posedge_event());  // start on an edge, as the controller does
    const sc_core::sc_time t0 = sc_core::sc_time_stamp();
    body();
    elapsed = sc_core::sc_time_stamp() - t0;
    sc_core::sc_stop();
  }
};
inline sc_core::sc_time run_unit(const sc_core::sc_clock* clk, const std::function<void()>& body) {
  if (!clk) {
    body();
    return sc_core::SC_ZERO_TIME;
  }
  ThreadRunner r("runner", clk, body);
  sc_core::sc_start();
  return r.elapsed;
}

// A minimal host: loads the weights entry by entry, runs `sequences` of the pulse test set and
// keeps the logits (what sim/host.cpp does, without the checks).
struct MiniHost : sc_core::sc_module {
  SC_HAS_PROCESS(MiniHost);
  tlm_utils::simple_initiator_socket<MiniHost> socket;
  hw::Accelerator& acc;
  const core::QEngine& e;
  size_t sequences;
  std::vector<std::vector<int64_t>> logits;
  MiniHost(sc_core::sc_module_name n, hw::Accelerator& a, const core::QEngine& eng, size_t count)
      : sc_module(n), socket("socket"), acc(a), e(eng), sequences(count) {
    socket.bind(acc.host);
    SC_THREAD(run);
  }
  void transport(tlm::tlm_command cmd, uint64_t address, uint8_t* data, size_t len) {
    tlm::tlm_generic_payload p;
    sc_core::sc_time delay = sc_core::SC_ZERO_TIME;
    p.set_command(cmd);
    p.set_address(address);
    p.set_data_ptr(data);
    p.set_data_length(static_cast<unsigned>(len));
    p.set_streaming_width(static_cast<unsigned>(len));
    p.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    socket->b_transport(p, delay);
    ASSERT_FALSE(p.is_response_error());
    sc_core::wait(delay);
  }
  void run() {
    const core::QModel& m = e.model();
    for (const auto& entry : acc.weight_map()) {
      auto bytes = hw::BankedSram::pack(m.tensor(entry.tensor).q, entry.width, acc.word_bits(), entry.is_signed);
      transport(tlm::TLM_WRITE_COMMAND, entry.address, bytes.data(), bytes.size());
    }
    const core::SequenceSet& set = pulse_data().test;
    for (size_t i = 0; i < sequences; ++i) {
      std::vector<int32_t> codes(set.length * set.d_input);
      for (size_t k = 0; k < codes.size(); ++k) codes[k] = core::qstep::input(e.consts(), set.input(i)[k], nullptr);
      auto in = acc.input_image(codes);
      transport(tlm::TLM_WRITE_COMMAND, hw::Accelerator::kInput, in.data(), in.size());
      uint64_t len = set.length, go = 1;
      transport(tlm::TLM_WRITE_COMMAND, hw::Accelerator::kLength, reinterpret_cast<uint8_t*>(&len), 8);
      transport(tlm::TLM_WRITE_COMMAND, hw::Accelerator::kCtrl, reinterpret_cast<uint8_t*>(&go), 8);
      sc_core::wait(acc.done_event());
      std::vector<int64_t> lg(m.config.d_output);
      transport(tlm::TLM_READ_COMMAND, hw::Accelerator::kOutput, reinterpret_cast<uint8_t*>(lg.data()), lg.size() * 8);
      logits.push_back(lg);
    }
    sc_core::sc_stop();
  }
};

}  // namespace ssmsim::testing::hwfix
