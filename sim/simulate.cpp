#include "sim/simulate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <memory>

#include "quant/errors.hpp"
#include "sim/host.hpp"
#ifdef SSMSIM_WITH_RTL
#include "hw_models/rtl/rtl_lane.hpp"
#endif
#include "ssm_core/qsteps.hpp"
#include "ssm_core/trainer.hpp"

namespace ssmsim::sim {

namespace {

// The C-model's results, a chunk of kLanes sequences at a time, the next chunk computed on another
// thread while the simulation runs the current one.
class Reference {
 public:
  Reference(const core::QEngine& engine, const core::SequenceSet& set, size_t count, bool states)
      : engine_(engine), set_(set), count_(count) {
    for (auto& s : slots_) {
      s.ws = engine.make_workspace();
      s.ws->record = states;
    }
  }
  ~Reference() {
    for (auto& s : slots_)
      if (s.pending.valid()) s.pending.wait();
  }
  // logits of sequence i; with states, layer li's state code e at step t
  const int64_t* logits(size_t i) {
    load(i);
    return &cur().result.logits[(i % core::kLanes) * engine_.model().config.d_output];
  }
  int32_t state(size_t i, size_t li, size_t t, size_t e) {
    load(i);
    const core::QLayerConsts& Ly = engine_.consts().layers[li];
    const size_t lane = i % core::kLanes, L = set_.length;
    const auto& x = cur().ws->layers[li].x;
    if (!Ly.xupd_per_state) {  // S4D [H * N/2][L][re, im][lanes]
      const size_t k = e / 2, c = e % 2;
      return x[((k * L + t) * 2 + c) * core::kLanes + lane];
    }
    return x[(t * 2 * Ly.states + e) * core::kLanes + lane];  // S5 [L][2 P2][lanes]
  }

 private:
  struct Slot {
    std::unique_ptr<core::QWorkspace> ws;
    quant::SaturationCounters counters;
    core::QChunkResult result;
    std::future<void> pending;
    size_t chunk = SIZE_MAX;
  };
  Slot& cur() { return slots_[chunk_ % 2]; }
  void start(size_t c) {  // chunk c into slot c % 2
    Slot& s = slots_[c % 2];
    s.chunk = c;
    s.pending = std::async(std::launch::async, [this, &s, c] {
      std::vector<size_t> idx;
      for (size_t k = c * core::kLanes; k < std::min(count_, (c + 1) * core::kLanes); ++k) idx.push_back(k);
      s.result = engine_.run_chunk(core::make_chunk(set_, idx.data(), idx.size()), *s.ws, s.counters);
    });
  }
  void load(size_t i) {
    const size_t c = i / core::kLanes;
    if (c == chunk_) return;
    if (slots_[c % 2].chunk != c) start(c);
    slots_[c % 2].pending.get();
    chunk_ = c;
    if ((c + 1) * core::kLanes < count_) start(c + 1);  // the next chunk, while this one is compared
  }
  const core::QEngine& engine_;
  const core::SequenceSet& set_;
  size_t count_;
  Slot slots_[2];
  size_t chunk_ = SIZE_MAX;
};

}  // namespace

SimulateResult simulate(const core::QModel& model, const hw::HwConfig& hw, const hw::EnergyTable& table,
                        const core::SequenceSet& set, const SimulateOptions& o) {
  if (model.config.task != core::Task::Classify)
    throw InputError("simulate: the accelerator model runs classification models; this one is a regression model");
  const size_t n = o.limit ? std::min(o.limit, set.n) : set.n;
  if (n == 0) throw InputError("simulate: no test sequences to run (eval.limit or an empty set)");
  sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
  sc_core::sc_report_handler::set_actions(sc_core::SC_WARNING, sc_core::SC_DO_NOTHING);
  sc_core::sc_set_time_resolution(1, sc_core::SC_FS);

  const core::QEngine engine(model);
  hw::Accelerator acc("accelerator", hw, engine, table, set.length);
  Reference ref(engine, set, n, o.check_states);
  SimulateResult r;
  r.streaming = acc.streaming();
  const size_t classes = model.config.d_output;
  size_t correct = 0;
  Host host("host", acc, engine, set, n, o.check_states, [&](size_t i, Host::Result&& got) {
    r.sequence_cycles.push_back(got.cycles);
    const int64_t* want = ref.logits(i);
    if (r.bit_exact && o.check_states) {
      // the earliest step first, then layers in order, then elements
      const size_t nl = got.states.size();
      const size_t L = set.length;
      for (size_t t = 0; t < L && r.bit_exact; ++t)
        for (size_t li = 0; li < nl && r.bit_exact; ++li) {
          const size_t E = got.states[li].size() / L;
          for (size_t e = 0; e < E; ++e) {
            const int32_t a = got.states[li][t * E + e], c = ref.state(i, li, t, e);
            if (a != c) {
              r.bit_exact = false;
              r.first_mismatch = fmt::format("sequence {}, layer {}, step {}, state element {} ({} {} of state {}): "
                                             "accelerator {}, C-model {}",
                                             i, li, t, e, e % 2 ? "imaginary" : "real", "part", e / 2, a, c);
              break;
            }
          }
        }
    }
    for (size_t c = 0; c < classes && r.bit_exact; ++c)
      if (got.logits[c] != want[c]) {
        r.bit_exact = false;
        r.first_mismatch =
            fmt::format("sequence {}, logit {}: accelerator {}, C-model {}", i, c, got.logits[c], want[c]);
      }
    const size_t arg = static_cast<size_t>(std::max_element(got.logits.begin(), got.logits.end()) - got.logits.begin());
    correct += static_cast<int32_t>(arg) == set.labels[i];
    if (o.progress) o.progress(i + 1, n);
  });
  if (o.tracer) acc.controller().set_tracer(o.tracer);
  if (o.cmac == "rtl") {
#ifdef SSMSIM_WITH_RTL
    // the lane receives operands (weights minus their zero points, shifted by their part's shift;
    // the state operand), so zero points, separate parts and a static operand run on it; a block
    // exponent's shift of the products does not, nor the delta form's third term
    for (size_t i = 0; i < model.config.n_layers; ++i) {
      if (engine.consts().layers[i].delta)
        throw InputError("simulate --cmac rtl: the Verilog lane (hw_models/rtl/ssm_lane.v) does not support A in delta "
                         "form (precision A form: delta, layer " + std::to_string(i) +
                         "): it has no input for the stored state, the update's third term; use --cmac cpp");
      if (engine.consts().layers[i].xop.mode == core::XOperand::Block)
        throw InputError("simulate --cmac rtl: the Verilog lane (hw_models/rtl/ssm_lane.v) does not support a "
                         "block-floating-point state operand (precision x.operand_block > 0, layer " +
                         std::to_string(i) + "): it has no exponent input to shift its products by; use --cmac cpp");
    }
    const quant::QuantParams& x = model.point("layers.0.x");
    for (size_t i = 1; i < model.config.n_layers; ++i) {  // one lane: the same width and modes (scales may differ)
      const quant::QuantParams& xi = model.point("layers." + std::to_string(i) + ".x");
      if (xi.format.width != x.format.width || xi.rounding != x.rounding || xi.overflow != x.overflow)
        throw InputError("simulate --cmac rtl: the layers' states differ in width or modes; one Verilog lane serves "
                         "them all");
    }
    acc.cmac().set_lane(hw::rtl::make_lane(x.format.width, x.rounding, x.overflow));
#else
    throw InputError("simulate --cmac rtl: this ssmsim was built without Verilator (install it with `make deps`, "
                     "then rebuild)");
#endif
  } else if (o.cmac != "cpp") {
    throw InputError("simulate --cmac '" + o.cmac + "': allowed: cpp, rtl");
  }
  sc_core::sc_trace_file* vcd = nullptr;
  if (!o.vcd.empty()) {
    if (!acc.clock()) throw InputError("simulate --vcd: waveforms need the clocked mode (--mode cycle)");
    vcd = sc_core::sc_create_vcd_trace_file(o.vcd.c_str());
    acc.trace(vcd);
  }
  const auto t0 = std::chrono::steady_clock::now();
  sc_core::sc_start();
  r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (vcd) sc_core::sc_close_vcd_trace_file(vcd);
  if (host.error()) std::rethrow_exception(host.error());
  if (r.sequence_cycles.size() != n)
    throw RunError(fmt::format("simulate: the simulation ended after {} of {} sequences", r.sequence_cycles.size(), n));

  if (o.inspect) o.inspect(acc);
  r.sequences = n;
  r.tokens = n * set.length;
  r.accuracy = static_cast<double>(correct) / static_cast<double>(n);
  r.cycles = acc.controller().total_cycles();
  r.layer_cycles = acc.controller().layer_cycles();
  r.load_cycles = acc.load_cycles();
  r.io_cycles = acc.io_cycles();
  r.cycles_per_token = static_cast<double>(r.cycles + r.io_cycles) / static_cast<double>(r.tokens);
  r.latency_us_per_token = r.cycles_per_token / hw.clock_mhz;
  r.tokens_per_s = hw.clock_mhz * 1e6 / r.cycles_per_token;
  r.cost = acc.cost();
  r.energy_nj_per_token = r.cost.energy_pj / 1000.0 / static_cast<double>(r.tokens);
  r.stats = acc.stats();
  return r;
}

}  // namespace ssmsim::sim
