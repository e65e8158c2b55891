#include "sim/vectors.hpp"

#include <fmt/format.h>

#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "hw_models/accelerator.hpp"
#include "hw_models/trace.hpp"
#include "quant/errors.hpp"
#include "reports/record.hpp"
#include "sim/simulate.hpp"
#include "sim/vectors_files.hpp"
#include "ssm_core/qsteps.hpp"
#include "ssm_core/trainer.hpp"

namespace ssmsim::sim {

namespace fs = std::filesystem;
using vecio::check_description;
using vecio::check_model_section;
using vecio::compare_keys;
using vecio::memh_words;

namespace {

constexpr size_t kNoLayer = SIZE_MAX;

std::string layer_name(size_t i) { return "layers." + std::to_string(i); }

// What a file holds: its unit, the model point or tensor that gives its format, its layout.
struct Kind {
  const char* unit;
  const char* point;  // "" for exact values
  int exact_width;    // width of exact files
  const char* order;
};

const std::map<std::string, Kind>& kinds() {
  static const std::map<std::string, Kind> k = {
      {"input", {"host", "input", 0, "[t][d]"}},     {"encoder_out", {"mve", "encoder.out", 0, "[t][h]"}},
      {"u", {"sfu", "u", 0, "[t][h]"}},              {"cx", {"mve", "", 64, "[t][h]"}},
      {"y", {"mve", "y", 0, "[t][h]"}},              {"act", {"sfu", "act", 0, "[t][h]"}},
      {"mixg", {"mve", "mixg", 0, "[t][h]"}},        {"g", {"sfu", "g", 0, "[t][h]"}},
      {"res", {"sfu", "res", 0, "[t][h]"}},          {"out", {"layer", "out", 0, "[t][h]"}},
      {"logits", {"mve", "", 64, "[class]"}},        {"x_in", {"cmac", "x", 0, "[t][state][re,im]"}},
      {"bu", {"cmac", "", 64, "[t][state][re,im]"}}, {"x_out", {"cmac", "x", 0, "[t][state][re,im]"}},
      {"a", {"cmac", "A", 0, "[state][re,im]"}},     {"k", {"cmac", "", 32, "[state][ka, sa, kb, sb]"}},
      // a narrowed state operand (docs/fixed_point.md 9.3): the exponents each update shifts the
      // products of its operand's real and imaginary part by, the operand stage's operands and
      // block exponents (of the block's real parts, of its imaginary parts) after each step
      {"e_in", {"cmac", "", 8, "[t][state][re,im]"}}, {"xo", {"cmac", "xo", 0, "[t][state][re,im]"}},
      {"xe", {"cmac", "", 8, "[t][block][re,im]"}},
      // the mean-pooled vector, the decoder's input (once, after the last step)
      {"pool", {"sfu", "pool", 0, "[h]"}},
  };
  return k;
}

std::string file_of(const std::string& name, size_t layer) {
  const Kind& k = kinds().at(name);
  if (layer == kNoLayer) return name + ".hex";
  if (name == "out") return fmt::format("L{}_out.hex", layer);
  return fmt::format("L{}_{}_{}.hex", layer, k.unit, name);
}

// Whether a layer's state enters its multipliers narrowed (a static xo or block floating point).
bool narrowed(const core::QConsts& c, size_t layer) {
  return layer != kNoLayer && c.layers[layer].xop.mode != core::XOperand::Stored;
}

// The state operand's description of a layer that narrows it (the manifest's model.operand).
nlohmann::json operand_json(const core::QModel& m, const core::QConsts& c, size_t li) {
  const core::XOperandConsts& op = c.layers[li].xop;
  if (op.mode == core::XOperand::Stored) return {{"mode", "stored"}};
  if (op.mode == core::XOperand::Static)
    return {{"mode", "static"}, {"point", layer_name(li) + ".xo"},
            {"bits", m.point(layer_name(li) + ".xo").format.width}};
  return {{"mode", "block"}, {"bits", op.bits}, {"block", op.block}, {"rounding", quant::to_string(op.rounding)},
          {"overflow", quant::to_string(op.overflow)}};
}

// The block floating point of an activation file's point (docs/fixed_point.md 9.3, "Activation
// operands"), or null where its component leaves the values as they are.
const core::XOperandConsts* activation_operand(const core::QConsts& c, const std::string& name, size_t layer) {
  const core::XOperandConsts* op = nullptr;
  if (name == "input") op = &c.input_op;
  else if (name == "pool") op = &c.pool_op;
  else if (name == "u" && layer != kNoLayer) op = &c.layers[layer].u_op;
  else if (name == "act" && layer != kNoLayer) op = &c.layers[layer].act_op;
  return op && op->mode == core::XOperand::Block ? op : nullptr;
}

// How a weight tensor's stored codes become the multipliers' operands (docs/fixed_point.md 9.2):
// asymmetric, "signed": false and its zero points (one per tensor or channel); with separate
// parts, "parts": "separate" and per channel (or for the tensor) the pair [re, im] of zero points
// and of part shifts k (the operand is (q - zp) * 2^k); A in delta form, "form": "delta" (A holds
// Lambda_bar - 1 and the update adds the stored state). Written into the weight map (lists, one
// entry per group) and A's file entry (`single`: one group's entry without its list), and compared
// by --check.
nlohmann::json quantizer_json(const core::QModel& m, const core::QTensor& t, bool single) {
  nlohmann::json j = nlohmann::json::object();
  const bool asym = !t.params[0].format.is_signed;
  if (asym) j["signed"] = false;
  if (t.separate_parts) {
    nlohmann::json zps = nlohmann::json::array(), shifts = nlohmann::json::array();
    const size_t per = t.size() / t.groups();
    for (size_t g = 0; g < t.groups(); ++g) {
      zps.push_back({t.params[2 * g].zero_point, t.params[2 * g + 1].zero_point});
      shifts.push_back({t.part_shift(g * per), t.part_shift(g * per + 1)});
    }
    j["parts"] = "separate";
    if (asym) j["zero_point"] = single && zps.size() == 1 ? zps[0] : zps;
    j["part_shift"] = single && shifts.size() == 1 ? shifts[0] : shifts;
  } else if (asym) {
    nlohmann::json zps = nlohmann::json::array();
    for (const auto& p : t.params) zps.push_back(p.zero_point);
    j["zero_point"] = single && zps.size() == 1 ? zps[0] : zps;
  }
  if (t.component == quant::Component::A && m.precision.spec(quant::Component::A).delta) j["form"] = "delta";
  return j;
}

// The fields of quantizer_json a manifest entry carries (to compare it with the model's).
nlohmann::json quantizer_fields(const nlohmann::json& entry) {
  nlohmann::json j = nlohmann::json::object();
  for (const char* k : {"parts", "zero_point", "part_shift", "form"})
    if (entry.contains(k)) j[k] = entry[k];
  if (!entry.value("signed", true)) j["signed"] = false;
  return j;
}

// The scaled-sum constants of a state's update: [ka, sa, kb, sb], in delta form also [kx, sx] of
// the stored state's term (ratio 1).
std::vector<int64_t> update_constants(const core::QLayerConsts& Ly, size_t k) {
  const quant::ScaledSum& s = Ly.xupd[Ly.xupd_per_state ? k : k / Ly.states];
  std::vector<int64_t> v;
  for (size_t i = 0; i < s.K().size(); ++i) v.insert(v.end(), {s.K()[i], s.shifts()[i]});
  return v;
}

// The manifest entry of a file (without its count and shape).
nlohmann::json describe(const core::QModel& m, const core::QConsts& c, const std::string& name, size_t layer) {
  const Kind& k = kinds().at(name);
  nlohmann::json j = {{"file", file_of(name, layer)}, {"unit", k.unit}, {"name", name}, {"order", k.order}, {"signed", true}};
  if (layer != kNoLayer) j["layer"] = layer;
  if (name == "k" && layer != kNoLayer && c.layers[layer].delta) j["order"] = "[state][ka, sa, kb, sb, kx, sx]";
  if (!*k.point) {
    j["width"] = k.exact_width;
    j["rounding"] = "exact";
    j["overflow"] = "none";
    j["scale"] = nullptr;
    if (name == "e_in" || name == "xe") j["signed"] = false;  // exponents: 0 .. w_x - b + 1
    return j;
  }
  if (name == "a") {  // a weight tensor: its stored codes, one format (and zero point) per channel
    const core::QTensor& t = m.tensor(layer_name(layer) + ".A");
    int w = 0;
    nlohmann::json scales = nlohmann::json::array();
    for (size_t i = 0; i < t.params.size(); ++i) {
      w = std::max(w, t.params[i].format.width);
      if (t.separate_parts && i % 2) scales.back() = {scales.back(), t.params[i].scale()};  // [re, im]
      else scales.push_back(t.params[i].scale());
    }
    j["width"] = w;
    j["scale"] = scales.size() == 1 ? scales[0] : scales;
    j["rounding"] = quant::to_string(t.params[0].rounding);
    j["overflow"] = quant::to_string(t.params[0].overflow);
    // asymmetric: unsigned codes; the lane's operand is q - zp (separate parts: (q - zp) 2^k)
    j.update(quantizer_json(m, t, true));
    return j;
  }
  // the state operand a narrowing layer's lanes read (x_in) and its operand stage writes (xo)
  if ((name == "x_in" || name == "xo") && narrowed(c, layer)) {
    const core::XOperandConsts& op = c.layers[layer].xop;
    if (op.mode == core::XOperand::Block) {
      const quant::QuantParams& x = m.point(layer_name(layer) + ".x");
      j["point"] = layer_name(layer) + ".x";
      j["width"] = op.bits;
      j["scale"] = x.scale();  // of o * 2^e: the value o times 2^e (the exponent file) is in x's units
      j["binary_point"] = nullptr;
      j["format"] = op.format.to_string();
      j["exponents"] = file_of(name == "xo" ? "xe" : "e_in", layer);
      j["rounding"] = quant::to_string(op.rounding);
      j["overflow"] = quant::to_string(op.overflow);
      return j;
    }
  }
  std::string point = (name == "x_in" && narrowed(c, layer)) ? "xo" : k.point;
  if (layer != kNoLayer) point = layer_name(layer) + "." + (name == "out" && !m.config.norm_out() ? "res" : point);
  const quant::QuantParams& p = m.point(point);
  j["point"] = point;
  j["width"] = p.format.width;
  j["scale"] = p.scale();
  j["binary_point"] = p.format.is_binary_point() ? nlohmann::json(p.format.frac()) : nlohmann::json(nullptr);
  j["format"] = p.format.to_string();
  j["rounding"] = quant::to_string(p.rounding);
  j["overflow"] = quant::to_string(p.overflow);
  if (!p.format.is_signed) {
    // an asymmetric point (docs/fixed_point.md 9.2): the file holds its stored codes q = v + zp
    // (unsigned, the point's width), as the hardware's registers and io memory hold them; the
    // C-model's recorded operands are q - zp
    j["signed"] = false;
    j["zero_point"] = p.zero_point;
  }
  if (const core::XOperandConsts* op = activation_operand(c, name, layer)) {
    // the values the consumers multiply, v' = m 2^e at the point's scale: one bit wider than the
    // point, since rounding can carry a block's maximum past the format's largest value
    j["width"] = p.format.width + 1;
    j["operand"] = {{"bits", op->bits}, {"block", op->block}, {"rounding", quant::to_string(op->rounding)},
                    {"overflow", quant::to_string(op->overflow)}};
  }
  return j;
}

std::string hex(int64_t v, int width) {
  const uint64_t mask = width >= 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1;
  return fmt::format("{:0{}x}", static_cast<uint64_t>(v) & mask, (width + 3) / 4);
}

int64_t narrow64(quant::wide_t v, const char* what) {
  if (v > INT64_MAX || v < INT64_MIN)
    throw RunError(std::string("vectors: an exact ") + what + " value exceeds 64 bits; the vector format holds "
                   "exact intermediates up to 64 bits");
  return static_cast<int64_t>(v);
}

// The tracer that writes the files as the accelerator runs (streamed to disk).
class Writer : public hw::Tracer {
 public:
  Writer(const core::QModel& m, const core::QConsts& c, const VectorOptions& o, size_t L) : m_(m), c_(c), o_(o), L_(L) {
    end_ = o.step_end ? std::min(o.step_end, L) : L;
  }
  void at(size_t layer, size_t t) override {
    layer_ = layer;
    t_ = t;
  }
  bool wanted(const std::string& name) const {
    const Kind& k = kinds().at(name);
    if (!o_.units.empty() && !o_.units.count(k.unit) && !(std::string(k.unit) == "layer" && o_.units.count("sfu")))
      return false;
    return name == "logits" || name == "pool" || (t_ >= o_.step_begin && t_ < end_);
  }
  void vector(const char* name, const int32_t* v, size_t n) override {
    if (!wanted(name)) return;
    File& f = file(name, layer_);
    for (size_t i = 0; i < n; ++i) f.put(v[i]);
  }
  void vector64(const char* name, const int64_t* v, size_t n) override {
    if (!wanted(name)) return;
    File& f = file(name, layer_);
    for (size_t i = 0; i < n; ++i) f.put(v[i]);
  }
  void state_update(size_t, int64_t, int64_t, int64_t xr, int64_t xi, int er, int ei, quant::wide_t bur,
                    quant::wide_t bui, int64_t xr_out, int64_t xi_out) override {
    if (!wanted("x_in")) return;
    File &xin = file("x_in", layer_), &bu = file("bu", layer_), &xout = file("x_out", layer_);
    xin.put(xr), xin.put(xi);
    if (c_.layers[layer_].xop.mode == core::XOperand::Block) {
      File& ein = file("e_in", layer_);
      ein.put(er), ein.put(ei);
    }
    bu.put(narrow64(bur, "B u")), bu.put(narrow64(bui, "B u"));
    xout.put(xr_out), xout.put(xi_out);
  }
  void block_exponent(int er, int ei) override {
    if (!wanted("xe")) return;
    File& f = file("xe", layer_);
    f.put(er), f.put(ei);
  }
  void state_operand(size_t, int64_t o_re, int64_t o_im) override {
    if (!wanted("xo")) return;
    File& f = file("xo", layer_);
    f.put(o_re), f.put(o_im);
  }
  // the constant files and the manifest
  size_t finish(const core::QEngine& e, const hw::Accelerator& acc) {
    const core::ModelConfig& mc = m_.config;
    if (o_.units.empty() || o_.units.count("cmac"))
      for (size_t li = 0; li < mc.n_layers; ++li) {
        const core::QLayerConsts& Ly = e.consts().layers[li];
        File& a = file("a", li);  // the stored codes (q; the lanes subtract the zero points)
        for (const int32_t q : m_.tensor(layer_name(li) + ".A").q) a.put(q);
        File& kf = file("k", li);
        for (size_t k = 0; k < Ly.Ar.size(); ++k)
          for (const int64_t v : update_constants(Ly, k)) kf.put(v);
      }
    nlohmann::json files = nlohmann::json::array();
    const size_t steps = end_ - o_.step_begin;
    for (auto& [fname, f] : files_) {
      f.out.close();
      if (!f.out) throw InputError("vectors: writing " + (o_.out_dir / fname).string() + " failed (disk full?)");
      nlohmann::json j = f.meta;
      j["count"] = f.count;
      const std::string name = j["name"];
      if (name == "a" || name == "k") {
        const size_t cols = name == "a" ? 2 : e.consts().layers[j["layer"].get<size_t>()].delta ? 6 : 4;
        j["shape"] = {f.count / cols, cols};
      }
      else if (name == "logits" || name == "pool") j["shape"] = {f.count};
      else if (name == "x_in" || name == "x_out" || name == "bu" || name == "xo" || name == "e_in" || name == "xe")
        j["shape"] = {steps, f.count / steps / 2, 2};
      else j["shape"] = {steps, f.count / steps};
      files.push_back(j);
    }
    if (o_.units.empty() || o_.units.count("mem")) {
      std::ofstream w(o_.out_dir / "weight_mem.hex"), s(o_.out_dir / "state_mem_init.hex");
      acc.weight_memory().write_hex(w);
      for (uint64_t k = 0; k < acc.state_memory().used_words(); ++k)
        s << std::string(static_cast<size_t>(acc.state_memory().config().word_bits / 4), '0') << '\n';
      w.close(), s.close();
      if (!w || !s) throw InputError("vectors: writing the memory images into " + o_.out_dir.string() + " failed (disk full?)");
      files.push_back({{"file", "weight_mem.hex"}, {"unit", "mem"}, {"name", "weight_mem"}, {"order", "[word]"},
                       {"width", acc.weight_memory().config().word_bits}, {"signed", false},
                       {"count", acc.weight_memory().used_words()}, {"rounding", "none"}, {"overflow", "none"},
                       {"layout", "docs/hardware.md: tensors packed at their width, in weight_map order"}});
      files.push_back({{"file", "state_mem_init.hex"}, {"unit", "mem"}, {"name", "state_mem_init"}, {"order", "[word]"},
                       {"width", acc.state_memory().config().word_bits}, {"signed", false},
                       {"count", acc.state_memory().used_words()}, {"rounding", "none"}, {"overflow", "none"}});
      nlohmann::json map = nlohmann::json::array();
      for (const auto& e2 : acc.weight_map())
      {
        map.push_back({{"tensor", e2.tensor}, {"byte_address", e2.address - hw::Accelerator::kWeights}, {"bytes", e2.bytes},
                       {"width", e2.width}});
        // an asymmetric tensor: unsigned codes, operand = code - zero point; separate parts: each
        // part's zero point and shift; A in delta form
        map.back().update(quantizer_json(m_, m_.tensor(e2.tensor), false));
      }
      files[files.size() - 2]["weight_map"] = map;  // weight_mem's
    }
    nlohmann::json states = nlohmann::json::array(), operands = nlohmann::json::array();
    bool any_narrowed = false;
    for (size_t li = 0; li < mc.n_layers; ++li) {
      states.push_back(e.consts().layers[li].Ar.size());
      operands.push_back(operand_json(m_, e.consts(), li));
      any_narrowed = any_narrowed || narrowed(e.consts(), li);
    }
    nlohmann::json manifest = {
        {"format", "ssmsim.vectors"}, {"version", 1},
        {"source", {{"checkpoint", o_.checkpoint}, {"hw", o_.hw_file}, {"workload", o_.workload}, {"index", o_.index},
                    {"steps", {o_.step_begin, end_}}}},
        {"model", {{"layer", mc.layer == core::LayerType::S5 ? "s5" : "s4d"}, {"H", mc.H}, {"states", states}, {"L", L_},
                   {"classes", mc.d_output}, {"layers", mc.n_layers}}},
        {"files", files}};
    if (any_narrowed) manifest["model"]["operand"] = operands;
    nlohmann::json zps = nlohmann::json::object();  // every asymmetric activation point's zero point
    for (const auto& [point, params] : m_.points)
      if (point != "gate" && !params.empty() && !params[0].format.is_signed) zps[point] = params[0].zero_point;
    if (!zps.empty()) manifest["model"]["activation_zero_points"] = zps;
    reports::write_json(o_.out_dir / "manifest.json", manifest);
    return files.size();
  }

 private:
  struct File {
    std::ofstream out;
    nlohmann::json meta;
    int width = 0;
    int64_t zp = 0;  // an asymmetric activation point's zero point: its operands are written as q = v + zp
    size_t count = 0;
    void put(int64_t v) {
      out << hex(v + zp, width) << '\n';
      ++count;
    }
  };
  File& file(const std::string& name, size_t layer) {
    const std::string fname = file_of(name, layer);
    auto it = files_.find(fname);
    if (it == files_.end()) {
      File f;
      f.meta = describe(m_, c_, name, layer);
      f.width = f.meta["width"].get<int>();
      if (name != "a" && f.meta.contains("zero_point")) f.zp = f.meta["zero_point"].get<int64_t>();
      f.out.open(o_.out_dir / fname);
      if (!f.out) throw InputError("vectors: cannot write " + (o_.out_dir / fname).string());
      it = files_.emplace(fname, std::move(f)).first;
    }
    return it->second;
  }
  const core::QModel& m_;
  const core::QConsts& c_;
  const VectorOptions& o_;
  size_t L_, end_ = 0;
  size_t layer_ = kNoLayer, t_ = 0;
  std::map<std::string, File> files_;
};

// A manifest file entry, its fields' types checked and its name, layer and file bounded by the model.
struct Entry {
  std::string file, name, unit;
  size_t layer = kNoLayer;
  bool mem = false, is_signed = true;
  int width = 0;
  uint64_t count = 0;
};

Entry check_entry(const vecio::Manifest& mf, const nlohmann::json& f, const std::string& where, const core::QModel& m,
                  const core::QConsts& c) {
  Entry en;
  if (!f.is_object()) mf.fail(where, std::string("expected an object, found ") + f.type_name());
  en.file = mf.str(f, "file", where);
  en.name = mf.str(f, "name", where);
  en.unit = mf.str(f, "unit", where);
  en.mem = en.name == "weight_mem" || en.name == "state_mem_init";
  if (!en.mem && !kinds().count(en.name)) {
    std::string allowed = "weight_mem, state_mem_init";
    for (const auto& [k, kind] : kinds()) allowed += ", " + k;
    mf.fail(where + ".name", "'" + en.name + "' is not a vector file kind; allowed: " + allowed);
  }
  if (f.contains("layer")) {
    en.layer = mf.uint(f, "layer", where);
    if (en.layer >= m.config.n_layers)
      mf.fail(where + ".layer", fmt::format("{} is past the model's {} layers", en.layer, m.config.n_layers));
  }
  const bool layered = !en.mem && en.name != "input" && en.name != "encoder_out" && en.name != "logits" && en.name != "pool";
  if (layered != (en.layer != kNoLayer))
    mf.fail(where + ".layer", layered ? "missing ('" + en.name + "' files are per layer)"
                                      : "given for '" + en.name + "', which is not per layer");
  const bool block = layered && c.layers[en.layer].xop.mode == core::XOperand::Block;
  if (((en.name == "e_in" || en.name == "xe") && !block) || (en.name == "xo" && !narrowed(c, en.layer)))
    mf.fail(where + ".name", fmt::format("layer {} has no '{}' file (its state operand is not narrowed that way)",
                                         en.layer, en.name));
  const std::string want_file = en.mem ? en.name + ".hex" : file_of(en.name, en.layer);
  if (en.file != want_file)
    mf.fail(where + ".file", "'" + en.file + "': the '" + en.name + "' file" +
                                 (layered ? fmt::format(" of layer {}", en.layer) : std::string()) + " is '" +
                                 want_file + "' in the vectors folder");
  if (en.mem && en.unit != "mem") mf.fail(where + ".unit", "'" + en.unit + "': memory images are unit 'mem'");
  const int64_t width = mf.sint(f, "width", where);
  if (width < 1 || width > (en.mem ? 4096 : 64))
    mf.fail(where + ".width", fmt::format("{}: expected 1 to {} bits", width, en.mem ? 4096 : 64));
  en.width = static_cast<int>(width);
  if (f.contains("signed")) en.is_signed = mf.boolean(f, "signed", where);
  en.count = mf.uint(f, "count", where);
  if (f.contains("order")) mf.str(f, "order", where);
  if (f.contains("operand")) mf.object(f, "operand", where);
  if (f.contains("zero_point") && !f["zero_point"].is_number_integer() && !f["zero_point"].is_array())
    mf.fail(where + ".zero_point", std::string("expected an integer or a list, found ") + f["zero_point"].type_name());
  return en;
}

// The columns of the cmac constant files (A's codes [re, im]; the update constants).
size_t cmac_cols(const core::QConsts& c, const std::string& name, size_t li) {
  if (name == "a") return 2;
  if (name == "k") return c.layers[li].delta ? 6 : 4;
  return 0;
}

core::SequenceSet one_sequence(const core::SequenceSet& test, size_t index) {
  if (index >= test.n)
    throw InputError(fmt::format("vectors: --index {} is past the {} test sequences", index, test.n));
  core::SequenceSet s;
  s.n = 1;
  s.length = test.length;
  s.d_input = test.d_input;
  s.inputs.assign(test.input(index), test.input(index) + test.length * test.d_input);
  s.labels = {test.labels[index]};
  return s;
}

}  // namespace

size_t export_vectors(const core::QModel& model, const hw::HwConfig& hw, const core::SequenceSet& test,
                      const VectorOptions& o) {
  const core::SequenceSet one = one_sequence(test, o.index);
  for (const auto& u : o.units)
    if (u != "host" && u != "mve" && u != "sfu" && u != "cmac" && u != "mem")
      throw InputError("vectors: --units: unknown unit '" + u + "'; allowed: host, mve, sfu, cmac, mem");
  if (o.step_end && o.step_begin >= std::min(o.step_end, one.length))
    throw InputError(fmt::format("vectors: --steps {}:{} is empty (the sequence has {} steps)", o.step_begin, o.step_end,
                                 one.length));
  // written into a temporary folder next to the destination and renamed at the end: a failure
  // (a full disk, a bad model) leaves the destination as it was
  vecio::StagedFolder staged(o.out_dir);
  VectorOptions so_opts = o;
  so_opts.out_dir = staged.path();
  // the source's files relative to the folder (--check resolves them against it)
  const fs::path dest = fs::absolute(o.out_dir).lexically_normal();
  for (std::string* p : {&so_opts.checkpoint, &so_opts.hw_file})
    if (!p->empty()) *p = fs::absolute(*p).lexically_normal().lexically_relative(dest.has_filename() ? dest : dest.parent_path()).string();
  const core::QEngine engine(model);
  Writer w(model, engine.consts(), so_opts, one.length);
  SimulateOptions so;
  so.tracer = &w;
  size_t files = 0;
  so.inspect = [&](const hw::Accelerator& acc) { files = w.finish(engine, acc); };
  hw::HwConfig h = hw;
  h.mode = "lt";
  hw::EnergyTable table = hw::EnergyTable::builtin();
  const SimulateResult r = simulate(model, h, table, one, so);
  if (!r.bit_exact) throw RunError("vectors: the accelerator is not bit-exact with the C-model: " + r.first_mismatch);
  staged.publish();
  return files;
}

CheckResult check_vectors(const fs::path& dir, const core::QModel& m, const hw::HwConfig& hw,
                          const core::SequenceSet& test) {
  // every count, index and step range of the manifest bounded by the model and the data before use
  const vecio::Manifest mf(dir);
  const nlohmann::json& man = mf.json();
  const nlohmann::json& src = mf.object(man, "source", "");
  const size_t index = mf.uint(src, "index", "source");
  if (index >= test.n) mf.fail("source.index", fmt::format("{} is past the {} test sequences", index, test.n));
  const nlohmann::json& steps = mf.array(src, "steps", "source");
  if (steps.size() != 2) mf.fail("source.steps", "expected [A, B]: time steps A to B-1");
  const size_t b = mf.as_uint(steps[0], "source.steps[0]"), e = mf.as_uint(steps[1], "source.steps[1]");
  const core::SequenceSet one = one_sequence(test, index);
  const size_t L = one.length;
  if (b >= e || e > L)
    mf.fail("source.steps", fmt::format("[{}, {}]: expected [A, B] with A < B <= {} (the sequence's steps)", b, e, L));
  if (CheckResult r = check_model_section(mf, m, L); !r.ok) return r;
  // the C-model's values for this sequence, every layer recorded
  const core::QEngine engine(m);
  auto ws = engine.make_workspace();
  ws->record = true;
  quant::SaturationCounters sat;
  const size_t idx = 0;
  const core::QChunkResult res = engine.run_chunk(core::make_chunk(one, &idx, 1), *ws, sat);
  const core::ModelConfig& mc = m.config;
  const size_t H = mc.H;
  const bool s5 = mc.layer == core::LayerType::S5;
  // expected values of a file
  auto seq_at = [&](const core::Seq<int32_t>& s, size_t t, size_t f) -> int64_t { return s.at(t, f)[0]; };
  auto x_of = [&](size_t li, size_t t, size_t e2) -> int64_t {  // state element e2 (re/im interleaved) after step t
    const auto& Ly = engine.consts().layers[li];
    const auto& x = ws->layers[li].x;
    if (!s5) return x[(((e2 / 2) * L + t) * 2 + e2 % 2) * core::kLanes];
    return x[(t * 2 * Ly.states + e2) * core::kLanes];
  };
  // the state operand after step t (docs/fixed_point.md 9.3): a pure function of that step's stored
  // state, through the same step function the C-model and the operand stage call; parts
  // interleaved (re, im), exponents per state part (and per block, in block order), interleaved too
  struct Operand {
    std::vector<int64_t> o;
    std::vector<core::qstep::Ex> e;
    std::vector<int> blocks;
  };
  auto operand_of = [&](size_t li, size_t t) {
    const core::QLayerConsts& Ly = engine.consts().layers[li];
    const size_t S = Ly.Ar.size(), channels = s5 ? 1 : H, per = S / channels;
    std::vector<int64_t> x(2 * S);
    for (size_t k = 0; k < 2 * S; ++k) x[k] = x_of(li, t, k);
    Operand r{std::vector<int64_t>(2 * S), std::vector<core::qstep::Ex>(S), {}};
    std::vector<core::qstep::Ex> e2(2 * S);  // state k's exponents at its stride, 2k
    for (size_t c = 0; c < channels; ++c) {
      const size_t k0 = 2 * c * per;
      core::qstep::state_operands(Ly.xop, &x[k0], &x[k0 + 1], per, 2, &r.o[k0], &r.o[k0 + 1], &e2[k0], nullptr);
      if (Ly.xop.mode == core::XOperand::Block)
        for (size_t k = 0; k < per; k += Ly.xop.block)
          r.blocks.insert(r.blocks.end(), {e2[k0 + 2 * k].re, e2[k0 + 2 * k].im});
    }
    for (size_t k = 0; k < S; ++k) r.e[k] = e2[2 * k];
    return r;
  };
  auto expected = [&](const std::string& name, size_t li) {
    std::vector<int64_t> v;
    const auto* R = li == kNoLayer ? nullptr : &ws->layers[li];
    const core::QLayerConsts* Ly = li == kNoLayer ? nullptr : &engine.consts().layers[li];
    const size_t S = Ly ? Ly->Ar.size() : 0;  // states of the layer
    const std::map<std::string, const core::Seq<int32_t>*> per_step = {
        {"u", R ? &R->u : nullptr}, {"y", R ? &R->y : nullptr}, {"act", R ? &R->act : nullptr},
        {"mixg", R ? &R->mixg : nullptr}, {"g", R ? &R->g : nullptr}, {"res", R ? &R->res : nullptr},
        {"out", R ? &R->out : nullptr}, {"input", &ws->in}, {"encoder_out", &ws->h0}};
    if (name == "logits") return std::vector<int64_t>(res.logits.begin(), res.logits.end());
    if (name == "pool") {  // the decoder's input (narrowed when pool has an operand)
      for (size_t f = 0; f < ws->pooled.F; ++f) v.push_back(seq_at(ws->pooled, 0, f));
      return v;
    }
    if (name == "a") {  // the stored codes
      const auto& q = m.tensor("layers." + std::to_string(li) + ".A").q;
      return std::vector<int64_t>(q.begin(), q.end());
    }
    const bool nar = Ly && Ly->xop.mode != core::XOperand::Stored;
    if (name == "k") {
      for (size_t k = 0; k < S; ++k) {
        const std::vector<int64_t> kk = update_constants(*Ly, k);
        v.insert(v.end(), kk.begin(), kk.end());
      }
      return v;
    }
    for (size_t t = b; t < e; ++t) {
      if (per_step.count(name)) {
        const auto* s = per_step.at(name);
        for (size_t f = 0; f < s->F; ++f) v.push_back(seq_at(*s, t, f));
      } else if (name == "x_out" || (name == "x_in" && !nar)) {
        for (size_t k = 0; k < 2 * S; ++k) v.push_back(name == "x_out" ? x_of(li, t, k) : t ? x_of(li, t - 1, k) : 0);
      } else if (name == "x_in" || name == "e_in") {  // the operand of the step before (0 at the start)
        const Operand o =
            t ? operand_of(li, t - 1) : Operand{std::vector<int64_t>(2 * S), std::vector<core::qstep::Ex>(S), {}};
        if (name == "x_in") v.insert(v.end(), o.o.begin(), o.o.end());
        else
          for (const core::qstep::Ex& x : o.e) v.insert(v.end(), {x.re, x.im});
      } else if (name == "xo" || name == "xe") {
        const Operand o = operand_of(li, t);
        if (name == "xo") v.insert(v.end(), o.o.begin(), o.o.end());
        else v.insert(v.end(), o.blocks.begin(), o.blocks.end());
      } else if (name == "bu") {
        for (size_t k = 0; k < S; ++k)
          for (int part = 0; part < 2; ++part) {
            const auto& Bq = part ? Ly->Bi : Ly->Br;
            quant::wide_t acc = 0;
            if (!s5) acc = static_cast<quant::wide_t>(Bq[k]) * R->u.at(t, k / Ly->states)[0];
            else
              for (size_t hh = 0; hh < H; ++hh) acc += static_cast<quant::wide_t>(Bq[k * H + hh]) * R->u.at(t, hh)[0];
            v.push_back(narrow64(acc, "B u"));
          }
      } else if (name == "cx") {  // over the state operands (the stored state unless narrowed)
        const Operand o = nar ? operand_of(li, t) : Operand{};
        auto part = [&](size_t k) { return nar ? o.o[k] : x_of(li, t, k); };
        for (size_t hh = 0; hh < H; ++hh) {
          int64_t a = 0;
          const size_t n2 = s5 ? S : Ly->states;
          for (size_t n = 0; n < n2; ++n) {
            const size_t ci = hh * n2 + n, xi = s5 ? n : hh * n2 + n;
            a += core::qstep::output_term(Ly->Cr[ci], Ly->Ci[ci], {part(2 * xi), part(2 * xi + 1)},
                                            nar ? o.e[xi] : core::qstep::Ex{});
          }
          v.push_back(a);
        }
      } else {
        throw InputError("vectors --check: unknown file kind '" + name + "' in the manifest");
      }
    }
    return v;
  };
  // the memory images, as the accelerator lays them out
  std::string weight_text, state_text;
  uint64_t weight_bits = 0, state_bits = 0;
  {
    hw::Accelerator acc("check_acc", hw, engine, hw::EnergyTable::builtin(), L);
    for (const auto& entry : acc.weight_map()) {
      const auto bytes = hw::BankedSram::pack(m.tensor(entry.tensor).q, entry.width, acc.word_bits(), entry.is_signed);
      const_cast<hw::BankedSram&>(acc.weight_memory()).write_image(entry.address - hw::Accelerator::kWeights, bytes.data(),
                                                                    bytes.size());
    }
    std::ostringstream w;
    acc.weight_memory().write_hex(w);
    weight_text = w.str();
    weight_bits = acc.weight_memory().config().word_bits;
    state_bits = acc.state_memory().config().word_bits;
    for (uint64_t k = 0; k < acc.state_memory().used_words(); ++k)
      state_text += std::string(static_cast<size_t>(acc.state_memory().config().word_bits / 4), '0') + "\n";
  }
  CheckResult r;
  auto mismatch = [&r](std::string what) {
    r.ok = false;
    r.first_mismatch = std::move(what);
    return r;
  };
  const nlohmann::json& files = mf.array(man, "files", "");
  std::set<std::string> listed_files;  // each at most once: bounds the work by the model's files
  for (size_t fi = 0; fi < files.size(); ++fi) {
    const nlohmann::json& f = files[fi];
    const std::string where = fmt::format("files[{}]", fi);
    const Entry en = check_entry(mf, f, where, m, engine.consts());
    if (!listed_files.insert(en.file).second) mf.fail(where + ".file", "'" + en.file + "' is listed twice");
    const std::string &fname = en.file, &name = en.name, &unit = en.unit;
    const size_t li = en.layer;
    std::ifstream in = vecio::open_listed(dir, fname, "vectors --check: " + where + ".file");
    ++r.files;
    if (en.mem) {
      if (f.contains("weight_map")) {  // (on state_mem_init in folders of before 2026-12)  // the stored codes' signedness and zero points
        std::map<std::string, nlohmann::json> listed;
        const nlohmann::json& wm = mf.array(f, "weight_map", where);
        for (size_t k = 0; k < wm.size(); ++k) {
          const std::string wk = fmt::format("{}.weight_map[{}]", where, k), tensor = mf.str(wm[k], "tensor", wk);
          if (!m.tensors.count(tensor)) mf.fail(wk + ".tensor", "'" + tensor + "' is not a tensor of the model");
          if (wm[k].contains("signed")) mf.boolean(wm[k], "signed", wk);
          listed[tensor] = wm[k];
        }
        for (const auto& [tensor, e2] : listed) {
          const nlohmann::json want = quantizer_json(m, m.tensor(tensor), false);
          if (quantizer_fields(e2) != want)
            return mismatch(fmt::format("{} (unit mem): the weight map's zero points, part shifts, form or signedness "
                                        "of '{}' differ from the model's ({})",
                                        fname, tensor, want.empty() ? "symmetric" : want.dump()));
        }
      }
      if (CheckResult d = compare_keys(mf, f, where,
                                       {{"order", "[word]"}, {"signed", false}, {"rounding", "none"}, {"overflow", "none"}});
          !d.ok)
        return d;
      const std::vector<std::string> want = memh_words(name == "weight_mem" ? weight_text : state_text);
      const int word_bits = static_cast<int>(name == "weight_mem" ? weight_bits : state_bits);
      if (en.width != word_bits || en.count != want.size())
        return mismatch(fmt::format("{} (unit mem): the manifest's width {} and count {} differ from the memory's "
                                    "{}-bit words and {} words used", fname, en.width, en.count, word_bits, want.size()));
      std::string bad;
      std::vector<std::string> got(want.size());
      vecio::read_memh(in, {[&](uint64_t addr, const std::string& digits, size_t line) {
                              if (addr >= want.size() || digits.size() > static_cast<size_t>((word_bits + 3) / 4)) {
                                bad = fmt::format("{} (unit mem): line {}: word {} '{}' is past the memory's {} {}-bit "
                                                  "words", fname, line, addr, digits, want.size(), word_bits);
                                return false;
                              }
                              got[addr] = digits;
                              return true;
                            },
                            [&](const std::string& tok, size_t line) {
                              bad = fmt::format("{} (unit mem): line {}: '{}' is not a hex word or @address", fname,
                                                line, tok);
                            }});
      if (!bad.empty()) return mismatch(bad);
      for (size_t k = 0; k < want.size(); ++k)
        if (got[k] != want[k])
          return mismatch(fmt::format("{} (unit mem): word {} differs from the accelerator's memory image{}", fname, k,
                                      got[k].empty() ? " (no value)" : ""));
      continue;
    }
    const int width = en.width;
    if (kinds().count(name) && (f.contains("operand") || activation_operand(engine.consts(), name, li))) {
      // an activation in block floating point: the manifest's operand and width are the model's
      const nlohmann::json d = describe(m, engine.consts(), name, li);
      if (f.value("operand", nlohmann::json()) != d.value("operand", nlohmann::json()) || width != d["width"]) {
        r.ok = false;
        r.first_mismatch = fmt::format("{} (unit {}): the manifest's operand or width differs from the model's "
                                       "block floating point ({}, width {})",
                                       fname, unit, d.value("operand", nlohmann::json()).dump(),
                                       d["width"].get<int>());
        return r;
      }
    }
    if (name == "a" || name == "k") {  // how A's codes become operands, the update's constants' layout
      const nlohmann::json d = describe(m, engine.consts(), name, li);
      if (quantizer_fields(f) != quantizer_fields(d) || f.value("order", "") != d["order"]) {
        r.ok = false;
        r.first_mismatch = fmt::format("{} (unit cmac, layer {}): the manifest's zero points, part shifts, form or "
                                       "order differ from the model's ({}, {})",
                                       fname, li, quantizer_fields(d).dump(), d["order"].get<std::string>());
        return r;
      }
    }
    // an activation point's file: its signedness and zero point are the model's; an asymmetric
    // point's values are its stored codes, the C-model's operands plus the zero point
    int64_t zp = 0;
    if (kinds().count(name) && *kinds().at(name).point && name != "a") {
      const nlohmann::json d = describe(m, engine.consts(), name, li);
      if (f.value("signed", true) != d.value("signed", true) ||
          f.value("zero_point", nlohmann::json()) != d.value("zero_point", nlohmann::json())) {
        r.ok = false;
        r.first_mismatch = fmt::format("{} (unit {}): the manifest's signedness or zero point differs from the model's "
                                       "point (signed {}, zero point {})",
                                       fname, unit, d.value("signed", true),
                                       d.value("zero_point", nlohmann::json(0)).dump());
        return r;
      }
      zp = d.value("zero_point", int64_t{0});
    }
    std::vector<int64_t> want = expected(name, li);
    for (int64_t& v : want) v += zp;
    // the rest of the description (shape, order, signedness, scale, format...) is the model's
    if (CheckResult d = check_description(mf, f, where, describe(m, engine.consts(), name, li), want.size(), e - b,
                                          cmac_cols(engine.consts(), name, li));
        !d.ok)
      return d;
    // the per-step stride, to name the step and element of a difference
    const bool per_step = name != "a" && name != "k" && name != "logits" && name != "pool";
    const size_t stride = per_step && e > b ? std::max<size_t>(1, want.size() / (e - b)) : std::max<size_t>(1, want.size());
    auto at = [&](size_t i) {
      const std::string layer = li == kNoLayer ? "" : fmt::format(", layer {}", li);
      return per_step ? fmt::format("{} (unit {}{}), step {}, element {}", fname, unit, layer, b + i / stride, i % stride)
                      : fmt::format("{} (unit {}{}), element {}", fname, unit, layer, i);
    };
    std::string bad;
    std::vector<int64_t> got(want.size());
    std::vector<char> seen(want.size(), 0);
    vecio::read_memh(in, {[&](uint64_t addr, const std::string& digits, size_t line) {
                            if (addr >= want.size()) {
                              bad = fmt::format("{}: line {}: a value at address {}, past the {} values of steps {}:{}",
                                                fname, line, addr, want.size(), b, e);
                              return false;
                            }
                            if (!vecio::word_value(digits, width, en.is_signed, &got[addr])) {
                              bad = at(addr) + fmt::format(": '{}' (line {}) is not a {}-bit hex value", digits, line, width);
                              return false;
                            }
                            seen[addr] = 1;
                            return true;
                          },
                          [&](const std::string& tok, size_t line) {
                            bad = fmt::format("{}: line {}: '{}' is not a {}-bit hex value or @address", fname, line,
                                              tok, width);
                          }});
    if (!bad.empty()) return mismatch(bad);
    for (size_t i = 0; i < want.size(); ++i) {
      if (!seen[i]) return mismatch(at(i) + fmt::format(": no value (the file holds fewer than the {} values of steps {}:{})", want.size(), b, e));
      if (got[i] != want[i]) return mismatch(at(i) + fmt::format(": expected {}, found {}", want[i], got[i]));
      ++r.values;
    }
  }
  return r;
}

}  // namespace ssmsim::sim
