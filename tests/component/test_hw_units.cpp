// Component tests: one hardware unit at a time against the integer C-model (the same states at
// every step) and against cycle counts derived by hand on simple configurations: one lane without
// conflicts, then bank conflicts, then a bus-bound transfer. Each test elaborates its own modules
// and calls sc_start at most once (ctest runs each test in its own process).
#include <gtest/gtest.h>

#include <systemc>

#include <functional>
#include <random>

#include "hw_models/accelerator.hpp"
#include "hw_models/bus.hpp"
#include "hw_models/cmac.hpp"
#include "hw_models/energy.hpp"
#include "hw_models/mve.hpp"
#include "hw_models/sfu.hpp"
#include "hw_models/sram.hpp"
#include "quant/errors.hpp"
#include "quant/precision.hpp"
#include "ssm_core/qmodel.hpp"
#include "ssm_core/qsteps.hpp"
#include "ssm_core/trainer.hpp"
#include "tests/support/pulse_task.hpp"
#include "tests/support/testing.hpp"

using namespace ssmsim;

namespace {

// A small S4D model (H 8, N 16) on the pulse task, initialised (not trained), quantized with PTQ.
struct SmallModel {
  core::Workload data = ssmsim::testing::pulse_workload(11, 64, 8, 16);
  core::QModel q;
  SmallModel() {
    const core::ModelConfig cfg = ssmsim::testing::pulse_model();
    const core::Model model(cfg);
    std::vector<double> p = model.init(5);
    const core::FloatCheckpoint ck{cfg, std::vector<float>(p.begin(), p.end()), {}};
    core::PtqOptions opt;
    opt.calib = 32;
    q = core::quantize_ptq(ck, quant::PrecisionConfig::load(ssmsim::testing::source_dir() / "configs/precision/all16.yaml"),
                           data.train, opt);
  }
};

// The C-model's u and states of the first layer for the first sequence of the test set.
struct Recorded {
  std::vector<int32_t> u;   // [L][H]
  std::vector<int32_t> x;   // [L][H][N/2][re, im]
  size_t L = 0;
};
// The C-model on the first sequence of `set`, every layer's codes recorded.
std::unique_ptr<core::QWorkspace> run_recorded(const core::QEngine& e, const core::SequenceSet& set) {
  auto ws = e.make_workspace();
  ws->record = true;
  quant::SaturationCounters sat;
  const size_t idx = 0;
  e.run_chunk(core::make_chunk(set, &idx, 1), *ws, sat);
  return ws;
}

Recorded record_first_layer(const core::QEngine& e, const core::SequenceSet& set) {
  const auto ws = run_recorded(e, set);
  const size_t H = e.model().config.H, N2 = e.consts().layers[0].states, L = set.length;
  Recorded r;
  r.L = L;
  for (size_t t = 0; t < L; ++t)
    for (size_t h = 0; h < H; ++h) r.u.push_back(ws->layers[0].u.at(t, h)[0]);
  for (size_t t = 0; t < L; ++t)
    for (size_t k = 0; k < H * N2; ++k)
      for (size_t c = 0; c < 2; ++c) r.x.push_back(ws->layers[0].x[((k * L + t) * 2 + c) * core::kLanes]);
  return r;
}

// Places layer 0's A, B, C in a weight memory and its state in a state memory.
struct Mems {
  hw::BankedSram weights, states;
  hw::LayerMem m;
  Mems(const hw::HwConfig& c, const core::QModel& q)
      : weights("weight_mem", c.weight_mem), states("state_mem", c.state_mem) {
    int bank = 0;
    for (const char* t : {"A", "B", "C"}) {  // in banks 0, 1, 2 as the Accelerator places them
      const core::QTensor& qt = q.tensor(std::string("layers.0.") + t);
      const auto& r = weights.allocate(t, qt.size(), qt.params[0].format.width, bank++);
      weights.store(r, qt.q);
    }
    m.A = &weights.region("A"), m.B = &weights.region("B"), m.C = &weights.region("C");
    m.x = &states.allocate("x", m.A->elements, q.point("layers.0.x").format.width);
    states.store(*m.x, std::vector<int32_t>(m.x->elements, 0));
    m.wA = m.wB = m.wC = m.wx = m.wu = 16;
  }
};

// Drives a CmacArray through every step of a sequence (from a thread in the cycle mode) and
// collects the cycles of each step's op and the states after it.
struct CmacDriver : sc_core::sc_module {
  SC_HAS_PROCESS(CmacDriver);
  hw::CmacArray& cmac;
  const core::QEngine& e;
  const hw::LayerMem& m;
  hw::BankedSram& states;
  const Recorded& rec;
  std::vector<uint64_t> cycles;
  std::vector<int32_t> x;
  sc_core::sc_time elapsed;
  const sc_core::sc_clock* clk;
  CmacDriver(sc_core::sc_module_name n, hw::CmacArray& c, const core::QEngine& eng, const hw::LayerMem& mem,
             hw::BankedSram& st, const Recorded& r, const sc_core::sc_clock* clock)
      : sc_module(n), cmac(c), e(eng), m(mem), states(st), rec(r), clk(clock) {
    if (clk) SC_THREAD(run);
  }
  void run() {
    if (clk) sc_core::wait(clk->posedge_event());  // start on an edge, as the controller does
    const sc_core::sc_time t0 = sc_core::sc_time_stamp();
    const size_t H = e.model().config.H;
    for (size_t t = 0; t < rec.L; ++t) {
      cycles.push_back(cmac.s4d_update(e.consts().layers[0], m, H, &rec.u[t * H]));
      for (size_t i = 0; i < m.x->elements; ++i) x.push_back(states.load(*m.x, i));
    }
    elapsed = sc_core::sc_time_stamp() - t0;
  }
};

}  // namespace

// One lane, no bank conflicts (loosely timed): each step's op is one issue cycle per state plus
// the pipeline's depth, and the states are the C-model's at every step.
TEST(CmacArray, OneLaneWithoutConflictsTakesOneCyclePerStatePlusThePipelineAndMatchesTheCModel) {
  const SmallModel sm;
  const core::QEngine e(sm.q);
  const Recorded rec = record_first_layer(e, sm.data.test);
  hw::HwConfig c;
  c.cmac.lanes = 1;
  c.cmac.pipeline = 5;
  Mems mem(c, sm.q);
  hw::CmacArray cmac("cmac", c.cmac, mem.weights, mem.states, nullptr);
  CmacDriver d("driver", cmac, e, mem.m, mem.states, rec, nullptr);
  d.run();
  const size_t states = sm.q.config.H * e.consts().layers[0].states;
  for (uint64_t cyc : d.cycles) EXPECT_EQ(cyc, states + 5);
  EXPECT_EQ(d.x, rec.x);
  EXPECT_EQ(cmac.issue_stalls(), 0u);
  EXPECT_EQ(mem.weights.conflict_cycles(), 0u);
}

// Four lanes on a single-bank, single-port memory (clocked): a group of 4 states needs 2 words
// each of A and B (16-bit codes, 4 per 64-bit word) from the one weight bank: 4 issue cycles per
// group; the states, again, are the C-model's.
TEST(CmacArray, BankConflictsStallTheIssueByTheWordsTheOneBankMustServe) {
  const SmallModel sm;
  const core::QEngine e(sm.q);
  const Recorded rec = record_first_layer(e, sm.data.test);
  hw::HwConfig c;
  c.mode = "cycle";
  c.cmac.lanes = 4;
  c.cmac.pipeline = 3;
  c.weight_mem = {16384, 64, 1, 1};
  c.state_mem = {4096, 64, 1, 1};
  sc_core::sc_clock clk("clk", sc_core::sc_time(5, sc_core::SC_NS));
  Mems mem(c, sm.q);
  hw::CmacArray cmac("cmac", c.cmac, mem.weights, mem.states, &clk);
  CmacDriver d("driver", cmac, e, mem.m, mem.states, rec, &clk);
  sc_core::sc_start(sc_core::sc_time(10, sc_core::SC_MS));
  const size_t states = sm.q.config.H * e.consts().layers[0].states;
  ASSERT_EQ(d.cycles.size(), rec.L);
  for (uint64_t cyc : d.cycles) EXPECT_EQ(cyc, states / 4 * 4 + 3);
  EXPECT_EQ(d.x, rec.x);
  EXPECT_EQ(cmac.issue_stalls(), rec.L * (states / 4) * 3);
  // the clock agrees with the counted cycles
  uint64_t total = 0;
  for (uint64_t cyc : d.cycles) total += cyc;
  EXPECT_EQ(d.elapsed, clk.period() * static_cast<double>(total));
}

// Narrower multipliers take several passes: 16-bit operands on 8-bit lanes need 4 per product,
// so each group issues in 4 cycles (memories without conflicts), and the multiplier energy is
// that of 4 8x8 products, the same as one 16x16.
TEST(CmacArray, NarrowOperandMultipliersTakeOnePassPerOperandSlice) {
  const SmallModel sm;
  const core::QEngine e(sm.q);
  const Recorded rec = record_first_layer(e, sm.data.test);
  hw::HwConfig c;
  c.cmac.lanes = 2;
  c.cmac.pipeline = 2;
  c.cmac.operand_bits = 8;
  c.weight_mem.ports = 4;
  c.state_mem.ports = 4;
  Mems mem(c, sm.q);
  hw::CmacArray cmac("cmac", c.cmac, mem.weights, mem.states, nullptr);
  CmacDriver d("driver", cmac, e, mem.m, mem.states, rec, nullptr);
  d.run();
  const size_t states = sm.q.config.H * e.consts().layers[0].states;
  for (uint64_t cyc : d.cycles) EXPECT_EQ(cyc, states / 2 * 4 + 2);
  EXPECT_EQ(d.x, rec.x);  // the same values, only slower
  EXPECT_EQ(cmac.actions().mul.count({8, 8}), 1u);
  EXPECT_EQ(cmac.actions().mul.at({8, 8}), rec.L * states * 6 * 4);  // 6 products per update, 4 passes each
}

// The matrix-vector engine computes the mixing layer's gate rows as the C-model does, one row per
// cycle here (8 MACs, 8 columns; four ports: no conflicts), then the pipeline.
TEST(MatVecEngine, MixingRowsMatchTheCModelAndTakeOneCyclePerEightMacs) {
  const SmallModel sm;
  const core::QEngine e(sm.q);
  const auto ws = run_recorded(e, sm.data.test);
  const size_t H = sm.q.config.H, L = sm.data.test.length;
  hw::HwConfig c;
  c.mve.macs = 8;
  c.mve.pipeline = 3;
  c.weight_mem.ports = 4;
  hw::BankedSram weights("weight_mem", c.weight_mem), states("state_mem", c.state_mem);
  const core::QTensor &W = sm.q.tensor("layers.0.mix.weight"), &b = sm.q.tensor("layers.0.mix.bias");
  const auto& rW = weights.allocate("W", W.size(), W.params[0].format.width);
  const auto& rb = weights.allocate("b", b.size(), b.params[0].format.width);
  weights.store(rW, W.q);
  weights.store(rb, b.q);
  hw::MatVecEngine mve("mve", c.mve, weights, states, nullptr);
  const core::QLayerConsts& Ly = e.consts().layers[0];
  std::vector<int32_t> act(H), gate_pre(H);
  for (size_t t = 0; t < L; ++t) {
    for (size_t h = 0; h < H; ++h) act[h] = ws->layers[0].act.at(t, h)[0];
    // GLU: rows H..2H-1 are the gate's
    const uint64_t cycles = mve.linear(rW, rb, H, H, H, act.data(), Ly.mix_gate, gate_pre.data(), 16, 16);
    EXPECT_EQ(cycles, H * H / 8 + 3);
    for (size_t h = 0; h < H; ++h) ASSERT_EQ(gate_pre[h], ws->layers[0].mixg.at(t, h)[0]) << "step " << t;
  }
  EXPECT_EQ(mve.issue_stalls(), 0u);
}

// The SFU's LayerNorm (this model's post-norm) gives the C-model's outputs; it takes a pass for the
// sums (2H elements), the square root, and a pass for the outputs, each pass followed by the drain.
TEST(SpecialFunctionUnit, LayerNormMatchesTheCModelAndTakesTwoPassesAndTheSquareRoot) {
  const SmallModel sm;
  const core::QEngine e(sm.q);
  const auto ws = run_recorded(e, sm.data.test);
  const size_t H = sm.q.config.H, L = sm.data.test.length;
  hw::HwConfig c;
  c.sfu.width = 2;
  c.sfu.pipeline = 2;
  c.sfu.isqrt_cycles = 20;
  c.weight_mem.ports = 2;
  hw::BankedSram weights("weight_mem", c.weight_mem);
  hw::LayerMem m;
  const core::QTensor &g = sm.q.tensor("layers.0.norm.scale"), &bt = sm.q.tensor("layers.0.norm.shift");
  m.gamma = &weights.allocate("gamma", g.size(), g.params[0].format.width);
  m.beta = &weights.allocate("beta", bt.size(), bt.params[0].format.width);
  weights.store(*m.gamma, g.q);
  weights.store(*m.beta, bt.q);
  m.wnorm = 16;
  hw::SpecialFunctionUnit sfu("sfu", c.sfu, weights, nullptr);
  std::vector<int32_t> in(H), out(H);
  for (size_t t = 0; t < L; ++t) {
    for (size_t h = 0; h < H; ++h) in[h] = ws->layers[0].res.at(t, h)[0];
    const uint64_t cycles = sfu.norm(e.consts().layers[0], m, H, in.data(), out.data(), 16);
    EXPECT_EQ(cycles, (2 * H / 2 + 2 + 20) + (H / 2 + 2));
    for (size_t h = 0; h < H; ++h) ASSERT_EQ(out[h], ws->layers[0].out.at(t, h)[0]) << "step " << t;
  }
}

// The bus: a transfer of B bytes is ceil(B / width) beats in bursts of at most burst_beats, each
// burst paying the bus latency (plus the off-chip latency from DRAM). Clocked, measured on the clock.
TEST(Bus, ATransferTakesItsBeatsPlusALatencyPerBurstOnTheClock) {
  hw::HwConfig c;
  c.mode = "cycle";
  c.bus.width_bits = 32;
  c.bus.latency = 7;
  c.bus.burst_beats = 16;
  c.offchip.latency = 40;
  sc_core::sc_clock clk("clk", sc_core::sc_time(2, sc_core::SC_NS));
  hw::Bus bus("bus", c.bus, c.offchip, &clk);
  struct Driver : sc_core::sc_module {
    SC_HAS_PROCESS(Driver);
    hw::Bus& bus;
    std::vector<uint64_t> counted;
    std::vector<sc_core::sc_time> took;
    Driver(sc_core::sc_module_name n, hw::Bus& b) : sc_module(n), bus(b) { SC_THREAD(run); }
    void run() {
      sc_core::wait(sc_core::sc_time(1, sc_core::SC_NS));  // off the edges
      for (auto [bytes, off] : std::vector<std::pair<uint64_t, bool>>{{4, false}, {100, false}, {1000, true}}) {
        const auto t0 = sc_core::sc_time_stamp();
        counted.push_back(bus.transfer(bytes, off));
        took.push_back(sc_core::sc_time_stamp() - t0);
      }
    }
  } d("driver", bus);
  sc_core::sc_start(sc_core::sc_time(1, sc_core::SC_MS));
  // 4 B: 1 beat, 1 burst; 100 B: 25 beats, 2 bursts; 1000 B: 250 beats, 16 bursts, off-chip
  const std::vector<uint64_t> want = {1 + 7, 25 + 2 * 7, 250 + 16 * (7 + 40)};
  EXPECT_EQ(d.counted, want);
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(bus.cycles_for(i == 0 ? 4 : i == 1 ? 100 : 1000, i == 2), want[i]);
    // started between edges: the first beat waits for the next edge, half a cycle later
    EXPECT_EQ(d.took[i], clk.period() * static_cast<double>(want[i]) - (i == 0 ? sc_core::sc_time(1, sc_core::SC_NS)
                                                                               : sc_core::SC_ZERO_TIME));
  }
  EXPECT_EQ(bus.offchip_bits(), 8000u);
  EXPECT_EQ(bus.beats(), 276u);
}

// The SRAM stores each tensor at its width: what is packed is what is read back, for every width
// and word size; a cycle's words cost max over banks of ceil(words / ports).
TEST(BankedSram, PacksEveryWidthAndCountsConflictsPerBank) {
  auto rng = ssmsim::testing::seeded_rng();
  for (int word : {32, 64, 128, 256})
    for (int width = 2; width <= 32 && width <= word; ++width) {
      hw::BankedSram mem("m", {4096, word, 4, 2});
      std::uniform_int_distribution<int32_t> code(static_cast<int32_t>(-(int64_t{1} << (width - 1))),
                                                  static_cast<int32_t>((int64_t{1} << (width - 1)) - 1));
      std::vector<int32_t> a(37), b(11);
      for (auto& v : a) v = code(rng);
      for (auto& v : b) v = code(rng);
      const auto& ra = mem.allocate("a", a.size(), width);
      const auto& rb = mem.allocate("b", b.size(), width);
      mem.store(ra, a);
      mem.store(rb, b);
      for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(mem.load(ra, i), a[i]) << word << " " << width;
      for (size_t i = 0; i < b.size(); ++i) ASSERT_EQ(mem.load(rb, i), b[i]) << word << " " << width;
      mem.put(ra, 5, code(rng));
      ASSERT_EQ(mem.load(rb, 0), b[0]);  // a neighbour's write leaves b alone
    }
  hw::BankedSram mem("m", {4096, 64, 4, 2});
  const std::vector<uint64_t> spread = {0, 1, 2, 3}, same = {0, 4, 8, 12, 16};
  EXPECT_EQ(mem.access(spread.data(), spread.size(), false), 1u);
  EXPECT_EQ(mem.access(same.data(), same.size(), false), 3u);  // 5 words, 2 ports: 3 cycles
  EXPECT_EQ(mem.conflict_cycles(), 2u);
  EXPECT_EQ(mem.bank_reads()[0], 6u);
}

// A model whose weights do not fit is refused when there is no off-chip path, naming the keys.
TEST(Accelerator, AMemoryTooSmallForItsTensorsIsRefusedWithTheKeyToChange) {
  const SmallModel sm;
  const core::QEngine e(sm.q);
  hw::HwConfig c;
  c.weight_mem.capacity_bytes = 64;
  c.offchip.enabled = false;
  try {
    hw::Accelerator acc("acc", c, e, hw::EnergyTable::builtin(), 64);
    FAIL() << "accepted";
  } catch (const InputError& err) {
    EXPECT_NE(std::string(err.what()).find("hw.weight_mem.capacity_bytes"), std::string::npos) << err.what();
    EXPECT_NE(std::string(err.what()).find("hw.offchip"), std::string::npos) << err.what();
  }
}

// Energy: a multiplier costs the product of its operand widths (doubling both quadruples it), an
// adder its width, an SRAM access interpolates the table's capacities.
TEST(EnergyTable, MultipliersScaleWithTheProductOfWidthsAndSramWithCapacity) {
  const hw::EnergyTable t = hw::EnergyTable::builtin();
  EXPECT_EQ(t.name, "horowitz45nm");
  hw::ActionCounts narrow, wide;
  narrow.multiply(8, 8, 100);
  wide.multiply(16, 16, 100);
  EXPECT_NEAR(wide.energy_pj(t) / narrow.energy_pj(t), 4.0, 1e-12);
  EXPECT_NEAR(t.mul_pj(32, 32), 3.1, 0.001);           // Horowitz 45 nm
  EXPECT_NEAR(t.mul_pj(8, 8), 0.2, 0.01);
  EXPECT_NEAR(t.add_pj(32), 0.1, 1e-9);
  EXPECT_NEAR(t.sram_pj(8192, 64), 10, 1e-9);
  EXPECT_NEAR(t.sram_pj(32768, 64), 20, 1e-9);
  EXPECT_NEAR(t.sram_pj(1048576, 64), 100, 1e-9);
  EXPECT_NEAR(t.sram_pj(8192, 32), 5, 1e-9);           // linear in the word width
  EXPECT_LT(t.sram_pj(2048, 64), 10);                  // extrapolated below the first point
  EXPECT_NEAR(t.dram_pj_per_bit() * 64, 1950, 1e-9);   // between 1.3 and 2.6 nJ per 64 bits
  // the embedded table is the repository's file
  const hw::EnergyTable f = hw::EnergyTable::load(ssmsim::testing::source_dir() / "configs/energy/horowitz45nm.yaml");
  EXPECT_EQ(f.mul_pj_per_bit2, t.mul_pj_per_bit2);
  EXPECT_EQ(f.sram_pj_per_64b, t.sram_pj_per_64b);
}

// Bad hardware keys name themselves and what is allowed.
TEST(HwConfig, BadValuesNameTheKeyAndTheAllowedRange) {
  auto bad = [](const std::string& yaml, const std::string& expect) {
    try {
      hw::HwConfig::from_yaml(YAML::Load(yaml));
      ADD_FAILURE() << yaml << " accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(expect), std::string::npos) << e.what();
    }
  };
  bad("cmac_lanes: 0", "hw.cmac_lanes");
  bad("bus_width_bits: 12", "multiple of 8");
  bad("weight_mem: {banks: 0}", "hw.weight_mem.banks");
  bad("state_mem: {word_bits: 12}", "multiple of 8");
  bad("mode: fast", "allowed: lt, cycle");
  bad("clock: 5", "unknown hw key");
  const hw::HwConfig c = hw::HwConfig::from_yaml(YAML::Load("cmac_lanes: 8\nweight_mem: {banks: 2}"));
  EXPECT_EQ(c.cmac.lanes, 8);
  EXPECT_EQ(c.weight_mem.banks, 2);
  EXPECT_EQ(hw::HwConfig::from_yaml(c.to_yaml()).to_yaml().size(), c.to_yaml().size());
}
