#include "hw_models/controller.hpp"

#include <algorithm>
#include <cmath>

namespace ssmsim::hw {

Controller::Controller(sc_core::sc_module_name name, const HwConfig& config, const core::QEngine& engine,
                       const ModelMem& mem, BankedSram& io, BankedSram& states, CmacArray& cmac, MatVecEngine& mve,
                       SpecialFunctionUnit& sfu, Bus& bus, const sc_core::sc_clock* clk)
    : sc_module(name),
      config_(config),
      engine_(engine),
      k_(engine.consts()),
      mem_(mem),
      io_(io),
      state_mem_(states),
      cmac_(cmac),
      mve_(mve),
      sfu_(sfu),
      bus_(bus),
      clk_(clk),
      clocked_(clk != nullptr),
      period_(clk ? clk->period() : sc_core::sc_time(config.cycle_ns(), sc_core::SC_NS)),
      layer_cycles_(engine.model().config.n_layers, 0) {
  SC_THREAD(thread);
  tlm_utils::tlm_quantumkeeper::set_global_quantum(sc_core::sc_time(config.quantum_ns, sc_core::SC_NS));
  qk_.reset();
}

void Controller::start(size_t L) {
  L_ = L;
  busy_ = true;
  start_.notify();
}

uint64_t Controller::now() const {
  if (!clocked_) return lt_cycles_;
  return static_cast<uint64_t>(std::llround((sc_core::sc_time_stamp() - t0_) / period_));
}

void Controller::advance(uint64_t cycles) {
  if (clocked_) return;
  lt_cycles_ += cycles;
  qk_.inc(period_ * static_cast<double>(cycles));
  if (qk_.need_sync()) qk_.sync();
}

void Controller::idle(uint64_t cycles) {
  if (!clocked_) return advance(cycles);
  for (uint64_t c = 0; c < cycles; ++c) sc_core::wait(clk_->posedge_event());
}

template <typename F>
void Controller::segment(uint64_t next_bytes, F compute) {
  if (!mem_.streaming) {
    compute();
    return;
  }
  if (config_.offchip.double_buffer) {
    const uint64_t fetch = bus_.dma_start(next_bytes, true);  // the next segment, in the background
    const uint64_t c0 = now();
    compute();
    const uint64_t work = now() - c0;
    if (clocked_) {
      bus_.dma_wait();
      stream_stall_ += now() - c0 - work;
    } else if (fetch > work) {
      stream_stall_ += fetch - work;
      advance(fetch - work);
    }
    return;
  }
  compute();
  const uint64_t c = bus_.transfer(next_bytes, true);  // fetch the next segment after the compute
  stream_stall_ += c;
  advance(c);
}

void Controller::thread() {
  for (;;) {
    sc_core::wait(start_);
    error_ = nullptr;
    try {
      run_sequence();
    } catch (...) {
      error_ = std::current_exception();
    }
    busy_ = false;
    done_.notify();
  }
}

void Controller::run_sequence() {
  const core::ModelConfig& mc = engine_.model().config;
  const size_t H = mc.H, Din = mc.d_input, nl = mc.n_layers;
  const size_t L = L_;
  if (!clocked_) {
    qk_.reset();
    lt_cycles_ = 0;
  } else {
    sc_core::wait(clk_->posedge_event());  // start on an edge
  }
  t0_ = sc_core::sc_time_stamp() + (clocked_ ? sc_core::SC_ZERO_TIME : qk_.get_local_time());
  in_.assign(Din, 0);
  pool_sum_.assign(H, 0);
  // every layer's state starts at zero: the state memory is cleared, all banks in parallel
  // (with a narrowed state operand, the operand memory too, and the exponent registers)
  for (const auto& m : mem_.layers) {
    state_mem_.store(*m.x, std::vector<int32_t>(m.x->elements, 0));
    const auto per_cycle = static_cast<uint64_t>(config_.state_mem.banks * config_.state_mem.ports);
    idle((m.x->words + per_cycle - 1) / per_cycle);
    if (m.xo) {
      state_mem_.store(*m.xo, std::vector<int32_t>(m.xo->elements, 0));
      idle((m.xo->words + per_cycle - 1) / per_cycle);
    }
  }
  cmac_.clear_exponents();
  states_.assign(record_states ? nl : 0, {});
  std::vector<int32_t> h(H);
  // the weights of the first segment (the encoder) before the first token
  if (mem_.streaming) {
    const uint64_t c = bus_.transfer(mem_.encoder_bytes, true);
    stream_stall_ += c;
    advance(c);
  }
  std::vector<uint64_t> words;
  for (size_t t = 0; t < L; ++t) {
    t_ = t;
    // the token's input codes from the io memory, then the encoder
    words.clear();
    words_of(*mem_.input, t * Din, (t + 1) * Din, words);
    io_.access(words.data(), words.size(), false);
    // the operands: an asymmetric input's stored codes minus its zero point (a subtractor per
    // encoder MAC's activation port, priced by the MVE)
    for (size_t d = 0; d < Din; ++d) in_[d] = fetch(io_, *mem_.input, t * Din + d);
    // the input in block floating point (docs/fixed_point.md 9.3, "Activation operands"): the io
    // memory holds the host's codes at the input's width; the narrowed values, which can round past
    // it, exist only as the encoder's operands
    if (mem_.in_op) advance(sfu_.operand(k_.input_op, mem_.w_in, Din, in_.data()));
    const uint64_t first_layer_bytes = nl ? mem_.layers[0].weight_bytes : 0;
    segment(first_layer_bytes, [&] {
      advance(mve_.linear(*mem_.We, *mem_.be, 0, H, Din, in_.data(), k_.enc, h.data(), mem_.w_enc, mem_.w_in,
                                mem_.in_op));
    });
    if (tracer_) {
      tracer_->at(SIZE_MAX, t);
      tracer_->vector("input", in_.data(), Din);
      tracer_->vector("encoder_out", h.data(), H);
    }
    for (size_t li = 0; li < nl; ++li) {
      const uint64_t next = li + 1 < nl ? mem_.layers[li + 1].weight_bytes
                                        : (t + 1 < L ? mem_.encoder_bytes : mem_.decoder_bytes);
      const uint64_t c0 = now();
      segment(next, [&] { layer(li, h); });
      layer_cycles_[li] += now() - c0;
    }
    if (mc.pooling == core::Pooling::Mean) {
      // the pooling sum reads the last layer's output
      const int zh = nl == 0 ? 0 : mc.norm_out() ? mem_.layers.back().zout : mem_.layers.back().zres;
      advance(sfu_.pool_add(H, h.data(), pool_sum_.data(), zh));
    }
  }
  // pooling and the decoder
  pooled_.assign(H, 0);
  if (mc.pooling == core::Pooling::Mean) {
    advance(sfu_.pool_out(engine_.mean_pool(L), H, pool_sum_.data(), pooled_.data()));
    if (mem_.pool_op) advance(sfu_.operand(k_.pool_op, mem_.w_pool, H, pooled_.data()));
  } else {
    pooled_ = h;
  }
  logits_.assign(mc.d_output, 0);
  advance(mve_.decoder(k_, *mem_.Wd, *mem_.bd, mc.d_output, H, pooled_.data(), logits_.data(), mem_.w_dec, mem_.w_pool,
                       mem_.pool_op));
  if (tracer_) {
    tracer_->at(SIZE_MAX, L);
    if (mc.pooling == core::Pooling::Mean) tracer_->vector("pool", pooled_.data(), H);
    tracer_->vector64("logits", logits_.data(), logits_.size());
  }
  if (!clocked_) qk_.sync();
  seq_cycles_ = now();
  total_cycles_ += seq_cycles_;
  tokens_ += L;
}

void Controller::layer(size_t li, std::vector<int32_t>& h) {
  const core::ModelConfig& mc = engine_.model().config;
  const core::QLayerConsts& Ly = k_.layers[li];
  const LayerMem& m = mem_.layers[li];
  const size_t H = mc.H;
  const bool s5 = mc.layer == core::LayerType::S5;
  u_.resize(H);
  y_.resize(H);
  act_.resize(H);
  acc_.assign(H, 0);
  if (tracer_) tracer_->at(li, t_);
  if (mc.norm_in())
    advance(sfu_.norm(Ly, m, H, h.data(), u_.data(), m.wu, m.zh));
  else
    advance(sfu_.u_in(Ly, m, H, h.data(), u_.data()));
  if (m.u_op) advance(sfu_.operand(Ly.u_op, m.wu, H, u_.data()));
  if (s5) {
    bu_re_.assign(Ly.states, 0);
    bu_im_.assign(Ly.states, 0);
    advance(mve_.s5_bu(Ly, m, H, u_.data(), bu_re_.data(), bu_im_.data()));
    advance(cmac_.s5_update(Ly, m, bu_re_.data(), bu_im_.data()));
  } else {
    advance(cmac_.s4d_update(Ly, m, H, u_.data()));
  }
  if (li == 0 && config_.fault_step == static_cast<int64_t>(t_))  // an injected fault (hw.fault_step)
    state_mem_.put(*m.x, 0, state_mem_.load(*m.x, 0) ^ 1);
  // the state operand of the next step's A x and this step's C x, when narrowed
  if (m.xo) advance(cmac_.operands(Ly, m));
  if (record_states) {
    auto& rec = states_[li];
    for (size_t i = 0; i < m.x->elements; ++i) rec.push_back(state_mem_.load(*m.x, i));
  }
  advance(mve_.cx(Ly, m, H, !s5, m.xo ? cmac_.exponents(m).data() : nullptr, acc_.data()));
  advance(mve_.output(Ly, m, H, acc_.data(), u_.data(), y_.data()));
  advance(sfu_.gelu(Ly, m, H, y_.data(), act_.data()));
  if (m.act_op) advance(sfu_.operand(Ly.act_op, m.wact, H, act_.data()));
  if (tracer_) {
    tracer_->vector("u", u_.data(), H);
    tracer_->vector64("cx", acc_.data(), H);
    tracer_->vector("y", y_.data(), H);
    tracer_->vector("act", act_.data(), H);
  }
  const int32_t* g = act_.data();
  if (mc.mixing != core::Mixing::Gelu) {
    mixg_.resize(H);
    g_.resize(H);
    const size_t gate_row0 = mc.mixing == core::Mixing::Glu ? H : 0;
    advance(mve_.linear(*m.Wm, *m.bm, gate_row0, H, H, act_.data(), Ly.mix_gate, mixg_.data(), m.wW, m.wact, m.act_op));
    const int32_t* other = act_.data();
    if (mc.mixing == core::Mixing::Glu) {
      mix_.resize(H);
      advance(mve_.linear(*m.Wm, *m.bm, 0, H, H, act_.data(), Ly.mix_val, mix_.data(), m.wW, m.wact, m.act_op));
      other = mix_.data();
    } else if (mc.mixing == core::Mixing::HalfGlu2) {
      other = y_.data();
    }
    const int other_zp = mc.mixing == core::Mixing::Glu ? m.zmix : mc.mixing == core::Mixing::HalfGlu1 ? m.act_op.zp : m.zy;
    advance(sfu_.gate(Ly, m, H, mixg_.data(), other, g_.data(), other_zp));
    g = g_.data();
    if (tracer_) {
      tracer_->vector("mixg", mixg_.data(), H);
      tracer_->vector("g", g_.data(), H);
    }
  }
  res_.resize(H);
  advance(sfu_.residual(Ly, H, g, h.data(), res_.data(), mc.mixing == core::Mixing::Gelu ? m.act_op.zp : m.zg, m.zh));
  if (mc.norm_out()) {
    out_.resize(H);
    advance(sfu_.norm(Ly, m, H, res_.data(), out_.data(), m.wg, m.zres));
    h = out_;
  } else {
    h = res_;
  }
  if (tracer_) {
    tracer_->vector("res", res_.data(), H);
    tracer_->vector("out", h.data(), H);
  }
}

StatList Controller::stats() const {
  const std::string p = basename();
  StatList s{{p + ".cycles", "cycles", "cycles of every sequence, start to logits", static_cast<double>(total_cycles_)},
             {p + ".tokens", "tokens", "tokens processed", static_cast<double>(tokens_)},
             {p + ".stream_stall_cycles", "cycles",
              "cycles waiting for weights from off-chip (not hidden by double buffering)", static_cast<double>(stream_stall_)}};
  for (size_t i = 0; i < layer_cycles_.size(); ++i)
    s.push_back({p + ".layer" + std::to_string(i) + ".cycles", "cycles", "cycles of layer " + std::to_string(i) + ", all tokens",
                 static_cast<double>(layer_cycles_[i])});
  return s;
}

}  // namespace ssmsim::hw
