#include "hw_models/accelerator.hpp"

#include <algorithm>
#include <cstring>

#include "quant/errors.hpp"

namespace ssmsim::hw {

namespace {

int width_of(const core::QTensor& t) {
  int w = 0;
  for (const auto& p : t.params) w = std::max(w, p.format.width);
  return w;
}

}  // namespace

SramConfig Accelerator::io_config(const HwConfig& c, const core::QEngine& e, size_t max_len) {
  const int w = e.model().point("input").format.width;
  const uint64_t bits = static_cast<uint64_t>(max_len) * e.model().config.d_input * static_cast<uint64_t>(w);
  const auto wb = static_cast<uint64_t>(c.bus.width_bits);
  return {std::max<uint64_t>(1, (bits + wb - 1) / wb) * wb / 8 + wb / 8, c.bus.width_bits, 1, 1};
}

const Region& place_weight(BankedSram& mem, const std::string& name, const core::QTensor& t, int bank) {
  const bool is_signed = t.params[0].format.is_signed;
  const Region& r = mem.allocate(name, t.size(), width_of(t), bank, is_signed);
  std::vector<int32_t> zp;
  if (!is_signed)
    for (const auto& p : t.params) zp.push_back(static_cast<int32_t>(p.zero_point));
  // separate parts: each entry's product shift (element 2 g + part is coded by entry 2 g + part)
  const size_t per = t.size() / t.groups();
  std::vector<int> shifts;
  for (size_t k = 0; t.separate_parts && k < t.params.size(); ++k) shifts.push_back(t.part_shift(k / 2 * per + k % 2));
  if (!zp.empty() || !shifts.empty()) mem.set_zero_points(r, std::move(zp), per, std::move(shifts));
  return r;
}

void weight_operands(LayerMem& L) {
  L.wA = operand_width(*L.A), L.wB = operand_width(*L.B), L.wC = operand_width(*L.C), L.wD = operand_width(*L.D);
  if (L.gamma) L.wnorm = operand_width(*L.gamma);  // the multiplier operand (beta is added)
  L.zA = !L.A->zero_points.empty(), L.zB = !L.B->zero_points.empty(), L.zC = !L.C->zero_points.empty();
  L.zD = !L.D->zero_points.empty();
  L.znorm = L.gamma && (!L.gamma->zero_points.empty() || !L.beta->zero_points.empty());
  if (L.Wm) L.wW = operand_width(*L.Wm), L.zW = !L.Wm->zero_points.empty();
  L.kA = L.A->max_part_shift(), L.kB = L.B->max_part_shift(), L.kC = L.C->max_part_shift();
}

void place_state(BankedSram& states, LayerMem& L, const core::QModel& m, const core::QLayerConsts& Ly, size_t i) {
  const std::string p = "layers." + std::to_string(i) + ".";
  L.wx = m.point(p + "x").format.width;
  L.x = &states.allocate(p + "x", L.A->elements, L.wx);
  const core::XOperandConsts& op = Ly.xop;
  L.xchannels = m.config.layer == core::LayerType::S5 ? 1 : m.config.H;
  L.delta = Ly.delta;
  if (op.mode == core::XOperand::Stored) return;
  L.wo = op.mode == core::XOperand::Static ? m.point(p + "xo").format.width : op.bits;
  L.xo = &states.allocate(p + "xo", L.A->elements, L.wo);
  if (op.mode == core::XOperand::Block) {
    L.xblock = op.block;
    L.xshift = L.wx - L.wo + 1;
    while ((1 << L.ebits) < L.xshift + 1) ++L.ebits;  // exponents 0 .. xshift
  }
}

void activation_points(LayerMem& L, const core::QModel& m, const core::QLayerConsts& Ly, size_t i) {
  const std::string p = "layers." + std::to_string(i) + ".";
  auto f = [&](const std::string& point) -> const quant::Format& { return m.point(point).format; };
  L.wu = act_width(f(p + "u")), L.wy = act_width(f(p + "y")), L.wact = act_width(f(p + "act"));
  L.wg = act_width(f(p + "res"));
  L.u_op = act_operand(Ly.u_op, L.wu);
  L.act_op = act_operand(Ly.act_op, L.wact);
  L.u_op.zp = zp_bits(f(p + "u")), L.act_op.zp = zp_bits(f(p + "act"));
  const std::string prev = core::point_name(core::layer_output(m.config), i - 1);
  L.zh = zp_bits(f(i == 0 ? std::string("encoder.out") : prev));
  L.zy = zp_bits(f(p + "y")), L.zres = zp_bits(f(p + "res"));
  if (m.config.norm_out()) L.zout = zp_bits(f(p + "out"));  // otherwise the layer's output is res
  if (m.config.mixing != core::Mixing::Gelu) {
    L.zmixg = zp_bits(f(p + "mixg")), L.zg = zp_bits(f(p + "g"));
    if (m.config.mixing == core::Mixing::Glu) L.zmix = zp_bits(f(p + "mix"));
  }
}

ActOperand act_operand(const core::XOperandConsts& op, int w) {
  ActOperand a;
  if (op.mode != core::XOperand::Block) return a;
  a.bits = op.bits;
  a.shift = std::max(0, w - op.bits + 1);
  a.block = op.block;
  while ((1 << a.ebits) < a.shift + 1) ++a.ebits;  // exponents 0 .. shift
  return a;
}

std::unique_ptr<sc_core::sc_clock> Accelerator::make_clock(const HwConfig& c) {
  if (c.mode != "cycle") return nullptr;
  return std::make_unique<sc_core::sc_clock>("clk", sc_core::sc_time(c.cycle_ns(), sc_core::SC_NS));
}

namespace {

std::string kib(uint64_t bytes) { return std::to_string(bytes) + " bytes"; }

}  // namespace

Accelerator::Accelerator(sc_core::sc_module_name name, const HwConfig& config, const core::QEngine& engine,
                         const EnergyTable& table, size_t max_len)
    : sc_module(name),
      host("host"),
      config_(config),
      engine_(engine),
      table_(table),
      max_len_(max_len) {
  host.register_b_transport(this, &Accelerator::b_transport);
  layout(max_len);
}

void Accelerator::layout(size_t max_len) {
  const core::QModel& m = engine_.model();
  const core::ModelConfig& mc = m.config;
  auto place = [&](const std::string& name, int bank = -1) -> const Region* {
    return &place_weight(weight_mem_, name, m.tensor(name), bank);
  };
  // weight memory, in the order a token uses them: encoder, layers, decoder
  const uint64_t wbytes = static_cast<uint64_t>(config_.weight_mem.word_bits / 8);
  auto bytes_since = [&](uint64_t used0) { return weight_mem_.used_bytes() - used0; };
  uint64_t used0 = weight_mem_.used_bytes();
  mem_.We = place("encoder.weight");
  mem_.be = place("encoder.bias");
  mem_.encoder_bytes = bytes_since(used0);
  mem_.w_enc = operand_width(*mem_.We);
  mem_.z_enc = !mem_.We->zero_points.empty();
  mem_.w_in = act_width(m.point("input").format);
  mem_.layers.resize(mc.n_layers);
  for (size_t i = 0; i < mc.n_layers; ++i) {
    const std::string p = "layers." + std::to_string(i) + ".";
    LayerMem& L = mem_.layers[i];
    used0 = weight_mem_.used_bytes();
    // A, B and C are read together by the CMAC lanes: they start in banks 0, 1 and 2
    L.A = place(p + "A", 0);
    L.B = place(p + "B", 1);
    L.C = place(p + "C", 2);
    L.D = place(p + "D");
    if (mc.norm != core::Norm::None) {
      L.gamma = place(p + "norm.scale");
      L.beta = place(p + "norm.shift");
    }
    if (mc.mixing != core::Mixing::Gelu) {
      L.Wm = place(p + "mix.weight");
      L.bm = place(p + "mix.bias");
    }
    L.weight_bytes = bytes_since(used0);
    weight_operands(L);
    L.wk = m.precision.rescale_bits();
    activation_points(L, m, engine_.consts().layers[i], i);
    place_state(state_mem_, L, m, engine_.consts().layers[i], i);
  }
  used0 = weight_mem_.used_bytes();
  mem_.Wd = place("decoder.weight");
  mem_.bd = place("decoder.bias");
  mem_.decoder_bytes = bytes_since(used0);
  mem_.w_dec = operand_width(*mem_.Wd);
  mem_.z_dec = !mem_.Wd->zero_points.empty();
  const std::string last = core::point_name(core::layer_output(mc), mc.n_layers - 1);
  const quant::Format& fpool = m.point(mc.pooling == core::Pooling::Mean ? std::string("pool") : last).format;
  mem_.w_pool = act_width(fpool);
  mem_.in_op = act_operand(engine_.consts().input_op, mem_.w_in);
  if (mc.pooling == core::Pooling::Mean) mem_.pool_op = act_operand(engine_.consts().pool_op, mem_.w_pool);
  mem_.in_op.zp = zp_bits(m.point("input").format), mem_.pool_op.zp = zp_bits(fpool);
  // the io memory holds the host's input codes as stored: an asymmetric input's q = v + zp,
  // unsigned, read back as operands (fetch(), docs/hardware.md "Zero points on activation points")
  const quant::QuantParams& in = m.point("input");
  mem_.input = &io_mem_.allocate("input", max_len * mc.d_input, in.format.width, -1, in.format.is_signed);
  if (!in.format.is_signed) io_mem_.set_zero_points(*mem_.input, {static_cast<int32_t>(in.zero_point)}, 1);

  if (!state_mem_.fits())
    throw InputError("hw.state_mem.capacity_bytes = " + std::to_string(config_.state_mem.capacity_bytes) +
                     " cannot hold the model's states (" + kib(state_mem_.used_bytes()) + " in " +
                     std::to_string(config_.state_mem.word_bits) +
                     "-bit words); states have no off-chip path: raise it to at least " +
                     std::to_string(state_mem_.used_bytes()));
  if (!weight_mem_.fits()) {
    if (!config_.offchip.enabled)
      throw InputError("hw.weight_mem.capacity_bytes = " + std::to_string(config_.weight_mem.capacity_bytes) +
                       " cannot hold the weights (" + kib(weight_mem_.used_bytes()) +
                       ") and hw.offchip is false: raise the capacity to at least " +
                       std::to_string(weight_mem_.used_bytes()) + " or set hw.offchip=true");
    uint64_t seg = std::max(mem_.encoder_bytes, mem_.decoder_bytes);
    for (const auto& L : mem_.layers) seg = std::max(seg, L.weight_bytes);
    const uint64_t need = seg * (config_.offchip.double_buffer ? 2 : 1);
    if (need > config_.weight_mem.capacity_bytes)
      throw InputError("hw.weight_mem.capacity_bytes = " + std::to_string(config_.weight_mem.capacity_bytes) +
                       " cannot buffer the largest layer's weights for streaming from off-chip (" + kib(need) +
                       (config_.offchip.double_buffer ? ", double-buffered" : "") + "): raise it to at least " +
                       std::to_string(need));
    mem_.streaming = true;
  }
  // the bus address map of the weight image
  map_.clear();
  auto add = [&](const Region* r) {
    if (r) map_.push_back({r->name, kWeights + r->word0 * wbytes, r->words * wbytes, r->width, r->is_signed, r->zero_points});
  };
  add(mem_.We), add(mem_.be);
  for (const auto& L : mem_.layers) {
    add(L.A), add(L.B), add(L.C), add(L.D), add(L.gamma), add(L.beta), add(L.Wm), add(L.bm);
  }
  add(mem_.Wd), add(mem_.bd);
}

std::vector<uint8_t> Accelerator::input_image(const std::vector<int32_t>& operands) const {
  const Region& r = *mem_.input;
  if (r.zero_points.empty()) return BankedSram::pack(operands, r.width, io_word_bits());
  std::vector<int32_t> q(operands);
  for (int32_t& v : q) v += r.zero_points[0];  // the stored code q = v + zp
  return BankedSram::pack(q, r.width, io_word_bits(), false);
}

void Accelerator::b_transport(tlm::tlm_generic_payload& p, sc_core::sc_time& delay) {
  const uint64_t a = p.get_address();
  const size_t len = p.get_data_length();
  uint8_t* data = p.get_data_ptr();
  const bool write = p.is_write();
  const sc_core::sc_time period(config_.cycle_ns(), sc_core::SC_NS);
  auto bus = [&](uint64_t bytes, uint64_t& acc) {
    const uint64_t c = bus_.transfer(bytes, false);  // cycle mode: waits on the clock here
    acc += c;
    if (!clk_) delay += period * static_cast<double>(c);
  };
  auto reg = [&](uint64_t v) {
    if (len != 8) throw RunError("accelerator: registers are 8 bytes wide");
    std::memcpy(data, &v, 8);
  };
  p.set_response_status(tlm::TLM_OK_RESPONSE);
  if (a >= kWeights && a < kInput && write) {
    weight_mem_.write_image(a - kWeights, data, len);
    bus(len, load_cycles_);
  } else if (a >= kInput && a < kOutput && write) {
    io_mem_.write_image(a - kInput, data, len);
    bus(len, io_cycles_);
  } else if (a >= kOutput && !write) {
    const auto& lg = ctrl_.logits();
    if (a - kOutput + len > lg.size() * 8) throw RunError("accelerator: read past the logits");
    std::memcpy(data, reinterpret_cast<const uint8_t*>(lg.data()) + (a - kOutput), len);
    bus(len, io_cycles_);
  } else if (a == kLength && write && len == 8) {
    std::memcpy(&length_, data, 8);
  } else if (a == kCtrl && write && len == 8) {
    uint64_t v = 0;
    std::memcpy(&v, data, 8);
    if (v == 1) {
      if (ctrl_.busy()) throw RunError("accelerator: start while busy");
      ctrl_.start(length_);
    }
  } else if (a == kStatus && !write) {
    reg(ctrl_.busy() ? 1 : 0);
  } else if (a == kCycles && !write) {
    reg(ctrl_.sequence_cycles());
  } else {
    p.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
  }
}

Cost Accelerator::cost() const {
  Cost c;
  CostContext ctx{table_, mem_, engine_};
  ctx.compute_cycles = ctrl_.total_cycles();
  ctx.all_cycles = ctrl_.total_cycles() + load_cycles_ + io_cycles_;
  ctx.seconds = static_cast<double>(ctx.all_cycles) * config_.cycle_ns() * 1e-9;
  std::map<std::string, double> leak_w;
  for (const HwUnit* u : units_) {
    const std::string k = u->unit_name();
    if (const auto uc = u->cost(ctx)) {
      c.energy_pj_by_module[k] = uc->dynamic_pj;
      c.area_um2[k] = uc->area_um2;
      leak_w[k] = uc->leakage_w;
    }
    if (const auto ut = u->utilization(ctx)) c.utilization[k] = *ut;
  }
  for (const auto& [k, v] : c.area_um2) c.area_mm2 += v * 1e-6;
  // leakage over the run's time
  for (auto& [k, e] : c.energy_pj_by_module) {
    const double leak_pj = leak_w[k] * ctx.seconds * 1e12;
    c.leakage_pj += leak_pj;
    e += leak_pj;
  }
  for (const auto& [k, e] : c.energy_pj_by_module) c.energy_pj += e;
  // memory footprint from the bits stored
  const core::QModel& m = engine_.model();
  for (const auto& e : map_) {
    const uint64_t b = m.tensor(e.tensor).size() * static_cast<uint64_t>(e.width);
    c.memory_bits[e.tensor] = b;
    c.weight_bits += b;
  }
  for (const auto& L : mem_.layers)
    for (const Region* r : {L.x, L.xo}) {
      if (!r) continue;
      const uint64_t b = r->elements * static_cast<uint64_t>(r->width);
      c.memory_bits[r->name] = b;
      c.state_bits += b;
    }
  return c;
}

void Accelerator::trace(sc_core::sc_trace_file* f) const {
  if (clk_) sc_core::sc_trace(f, *clk_, "clk");
  for (const HwUnit* u : units_) u->trace(f);
}

StatList Accelerator::stats() const {
  StatList s;
  for (const HwUnit* u : units_) {
    const StatList l = u->stats();
    s.insert(s.end(), l.begin(), l.end());
  }
  s.push_back({"host.load_cycles", "cycles", "bus cycles of loading the weights", static_cast<double>(load_cycles_)});
  s.push_back({"host.io_cycles", "cycles", "bus cycles of inputs and outputs", static_cast<double>(io_cycles_)});
  return s;
}

}  // namespace ssmsim::hw
