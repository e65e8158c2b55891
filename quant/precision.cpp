#include "quant/precision.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "quant/errors.hpp"
#include "quant/yaml_value.hpp"

namespace ssmsim::quant {

// ---------------------------------------------------------------------------------------------
// Components
// ---------------------------------------------------------------------------------------------

namespace {

int index_of(Component c) { return static_cast<int>(c); }

}  // namespace

const std::array<Component, kNumComponents>& all_components() {
  static const std::array<Component, kNumComponents> all = [] {
    std::array<Component, kNumComponents> a{};
    for (int i = 0; i < kNumComponents; ++i) a[i] = kComponents[i].id;
    return a;
  }();
  return all;
}

std::string component_name(Component c) { return info(c).name; }

const char* component_names() {
  static const std::string names = [] {
    std::string s;
    for (const ComponentInfo& row : kComponents) s += (s.empty() ? "" : ", ") + std::string(row.name);
    return s;
  }();
  return names.c_str();
}

Component parse_component(std::string_view name, const std::string& key) {
  for (const ComponentInfo& row : kComponents)
    if (name == row.name) return row.id;
  throw ConfigError(key, std::string(name),
                    std::string("unknown component; allowed: ") + component_names());
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

namespace {

// Where errors point: the dotted key prefix and, for files, the file name.
struct Context {
  std::string prefix;
  std::string source;
};

std::string join(const std::string& a, const std::string& b) {
  return a.empty() ? b : a + "." + b;
}

std::string text_of(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return "null";
  if (n.IsScalar()) return n.Scalar();
  YAML::Emitter e;
  e << YAML::Flow << n;
  return e.c_str();
}

std::string location(const Context& ctx, const YAML::Node* at) {
  if (ctx.source.empty()) return "";
  if (!at || !at->IsDefined() || at->Mark().line < 0) return " (in " + ctx.source + ")";
  const YAML::Mark m = at->Mark();
  return " (at " + ctx.source + ":" + std::to_string(m.line + 1) + ":" +
         std::to_string(m.column + 1) + ")";
}

[[noreturn]] void fail(const Context& ctx, const std::string& key, const std::string& value,
                       const std::string& allowed, const YAML::Node* at = nullptr) {
  throw ConfigError(key, value, allowed + location(ctx, at));
}

constexpr const char* kTopLevelNames = "name, description, gelu, rescale_bits, default, defaults, components";

bool parse_int(const std::string& t, int& out) {
  const char* first = t.data();
  if (!t.empty() && t[0] == '+') ++first;
  const auto r = std::from_chars(first, t.data() + t.size(), out);
  return r.ec == std::errc() && r.ptr == t.data() + t.size() && first != t.data() + t.size();
}

bool parse_double(const std::string& t, double& out) {
  if (t.empty()) return false;
  char* end = nullptr;
  errno = 0;
  out = std::strtod(t.c_str(), &end);
  return end == t.c_str() + t.size() && errno == 0;
}

std::string shortest(double v) {
  for (int digits = 1; digits <= 17; ++digits) {
    std::ostringstream s;
    s.precision(digits);
    s << v;
    if (std::strtod(s.str().c_str(), nullptr) == v) return s.str();
  }
  return std::to_string(v);
}

// The keys of a quantizer map, each spelled once, in the order of messages and of to_yaml(): how
// a written value is read (false, or a FormatError: it does not parse), what it may be, how the
// resolved spec writes it (only where it applies: a fixed binary point replaces scale and
// calibration, scale_bits belongs to a dyadic scale, percentile to the percentile and
// quantile_nearest calibrations) and how an inherited value is dropped. The ranges themselves
// are check_spec()'s.
struct Field {
  const char* name;
  bool component_only;  // frac: a binary point is a property of one tensor's range, never a default
  std::string (*allowed)();
  bool (*read)(QuantizerSpec&, const std::string&);
  bool (*write)(const QuantizerSpec&, YAML::Node& value);  // false: does not apply
  void (*reset)(QuantizerSpec&);
};

template <typename T>
bool put(YAML::Node& v, const T& x) {
  v = x;
  return true;
}

template <typename T>
std::string allowed_names(T names) {
  return std::string("allowed: ") + names();
}

const Field kFields[] = {
    {"bits", false, [] { return std::string("an integer 1..32"); },
     [](QuantizerSpec& s, const std::string& t) { return parse_int(t, s.bits); },
     [](const QuantizerSpec& s, YAML::Node& v) { return put(v, s.bits); },
     [](QuantizerSpec& s) { s.bits = QuantizerSpec{}.bits; }},
    {"scheme", false, [] { return allowed_names(scheme_names); },
     [](QuantizerSpec& s, const std::string& t) { return s.scheme = parse_scheme(t), true; },
     [](const QuantizerSpec& s, YAML::Node& v) { return put(v, to_string(s.scheme)); },
     [](QuantizerSpec& s) { s.scheme = QuantizerSpec{}.scheme; }},
    {"granularity", false, [] { return allowed_names(granularity_names); },
     [](QuantizerSpec& s, const std::string& t) { return s.granularity = parse_granularity(t), true; },
     [](const QuantizerSpec& s, YAML::Node& v) { return put(v, to_string(s.granularity)); },
     [](QuantizerSpec& s) { s.granularity = QuantizerSpec{}.granularity; }},
    {"scale", false, [] { return allowed_names(scale_kind_names); },
     [](QuantizerSpec& s, const std::string& t) { return s.scale = parse_scale_kind(t), true; },
     [](const QuantizerSpec& s, YAML::Node& v) { return !s.frac && put(v, to_string(s.scale)); },
     [](QuantizerSpec& s) { s.scale = QuantizerSpec{}.scale; }},
    {"scale_bits", false, [] { return std::string("an integer 2..31"); },
     [](QuantizerSpec& s, const std::string& t) { return parse_int(t, s.scale_bits); },
     [](const QuantizerSpec& s, YAML::Node& v) { return !s.frac && s.scale == ScaleKind::Dyadic && put(v, s.scale_bits); },
     [](QuantizerSpec& s) { s.scale_bits = QuantizerSpec{}.scale_bits; }},
    {"calibration", false, [] { return allowed_names(calibration_names); },
     [](QuantizerSpec& s, const std::string& t) { return s.calibration = parse_calibration(t), true; },
     [](const QuantizerSpec& s, YAML::Node& v) { return !s.frac && put(v, to_string(s.calibration)); },
     [](QuantizerSpec& s) { s.calibration = QuantizerSpec{}.calibration; }},
    {"percentile", false, [] { return std::string("a number in (0, 100]"); },
     [](QuantizerSpec& s, const std::string& t) { return parse_double(t, s.percentile); },
     [](const QuantizerSpec& s, YAML::Node& v) { return !s.frac && uses_percentile(s.calibration) && put(v, shortest(s.percentile)); },
     [](QuantizerSpec& s) { s.percentile = QuantizerSpec{}.percentile; }},
    {"frac", true, [] { return std::string("an integer -1024..1024"); },
     [](QuantizerSpec& s, const std::string& t) {
       int f = 0;
       if (!parse_int(t, f)) return false;
       s.frac = f;
       return true;
     },
     [](const QuantizerSpec& s, YAML::Node& v) { return s.frac && put(v, *s.frac); },
     [](QuantizerSpec& s) { s.frac = QuantizerSpec{}.frac; }},
    {"operand_bits", true,
     [] { return std::string("0 (none) or an integer 2..bits; the state x, and input, ssm_in, gelu_out, pool"); },
     [](QuantizerSpec& s, const std::string& t) { return parse_int(t, s.operand_bits); },
     [](const QuantizerSpec& s, YAML::Node& v) { return s.operand_bits != 0 && put(v, s.operand_bits); },
     [](QuantizerSpec& s) { s.operand_bits = QuantizerSpec{}.operand_bits; }},
    {"operand_block", true,
     [] { return std::string("0 (a static operand scale) or 1..4096 states per exponent; with operand_bits"); },
     [](QuantizerSpec& s, const std::string& t) { return parse_int(t, s.operand_block); },
     [](const QuantizerSpec& s, YAML::Node& v) { return s.operand_bits != 0 && put(v, s.operand_block); },
     [](QuantizerSpec& s) { s.operand_block = QuantizerSpec{}.operand_block; }},
    {"parts", true, [] { return std::string("allowed: shared, separate; the complex weights A, B, C"); },
     [](QuantizerSpec& s, const std::string& t) {
       if (t != "shared" && t != "separate") return false;
       s.separate_parts = t == "separate";
       return true;
     },
     [](const QuantizerSpec& s, YAML::Node& v) { return s.separate_parts && put(v, std::string("separate")); },
     [](QuantizerSpec& s) { s.separate_parts = QuantizerSpec{}.separate_parts; }},
    {"form", true, [] { return std::string("allowed: direct, delta; A only"); },
     [](QuantizerSpec& s, const std::string& t) {
       if (t != "direct" && t != "delta") return false;
       s.delta = t == "delta";
       return true;
     },
     [](const QuantizerSpec& s, YAML::Node& v) { return s.delta && put(v, std::string("delta")); },
     [](QuantizerSpec& s) { s.delta = QuantizerSpec{}.delta; }},
    {"rounding", false, [] { return allowed_names(rounding_names); },
     [](QuantizerSpec& s, const std::string& t) { return s.rounding = parse_rounding(t), true; },
     [](const QuantizerSpec& s, YAML::Node& v) { return put(v, to_string(s.rounding)); },
     [](QuantizerSpec& s) { s.rounding = QuantizerSpec{}.rounding; }},
    {"overflow", false, [] { return allowed_names(overflow_names); },
     [](QuantizerSpec& s, const std::string& t) { return s.overflow = parse_overflow(t), true; },
     [](const QuantizerSpec& s, YAML::Node& v) { return put(v, to_string(s.overflow)); },
     [](QuantizerSpec& s) { s.overflow = QuantizerSpec{}.overflow; }},
};

const Field* find_field(const std::string& name) {
  for (const Field& f : kFields)
    if (name == f.name) return &f;
  return nullptr;
}

// "bits, scheme, ..., overflow": the keys of a component entry, or (without frac) of `defaults`.
std::string field_names(bool component) {
  std::string out;
  for (const Field& f : kFields)
    if (component || !f.component_only) out += (out.empty() ? "" : ", ") + std::string(f.name);
  return out;
}

// One key of a quantizer map as written: its field, full key and value.
struct Entry {
  std::string field;
  std::string key;
  YAML::Node value;
};

// Stores one written value into the spec; a value that does not parse throws at its key.
void set_field(QuantizerSpec& s, const Entry& e, const Context& ctx) {
  const Field& f = *find_field(e.field);  // entries_of() admits known fields only
  const auto bad = [&]() { fail(ctx, e.key, text_of(e.value), f.allowed(), &e.value); };
  if (!e.value.IsScalar()) bad();
  try {
    if (!f.read(s, e.value.Scalar())) bad();
  } catch (const FormatError&) {
    bad();
  }
}

// Where a resolved field came from: its key, value node and level (0 the defaults block, 1 the
// component entry; absent: the built-in default).
struct Written {
  std::string key;
  YAML::Node value;
  int level = 0;
};
using Origins = std::map<std::string, Written>;

int level_of(const Origins& o, const std::string& field) {
  const auto it = o.find(field);
  return it == o.end() ? -1 : it->second.level;
}

// The key and value text to blame for a field of a resolved component.
struct Blame {
  std::string key;
  std::string value;
  const YAML::Node* at = nullptr;
};

Blame blame(const std::string& entry_key, const Origins& o,
            const std::string& field, const std::string& fallback_value) {
  const auto it = o.find(field);
  if (it == o.end()) return {join(entry_key, field), fallback_value, nullptr};
  return {it->second.key, text_of(it->second.value), &it->second.value};
}

void reset_field(QuantizerSpec& s, const std::string& field) { find_field(field)->reset(s); }

// Records where a field was written. Never assigns one YAML::Node over another: yaml-cpp's
// Node::operator= rebinds the *document* node it refers to, which would rewrite the defaults.
void set_origin(Origins& o, const std::string& field, const Entry& e, int level) {
  o.erase(field);
  o.emplace(field, Written{e.key, e.value, level});
}

struct Resolved {
  QuantizerSpec spec;
  Origins origins;
};

// built-in defaults <- the defaults block (level 0) <- the component entry (level 1), then the
// rules about keys that only mean something together with another setting. A key written at the
// same or a deeper level than the setting that makes it meaningless is an error; an inherited key
// that a component's own setting makes meaningless is dropped (a component that switches to
// `calibration: mse` does not inherit the defaults' percentile as an error).
Resolved resolve(const std::vector<Entry>& defaults, const std::vector<Entry>* entry,
                 const std::string& entry_key, const Context& ctx) {
  Resolved r;
  for (const Entry& e : defaults) {
    set_field(r.spec, e, ctx);
    set_origin(r.origins, e.field, e, 0);
  }
  if (entry)
    for (const Entry& e : *entry) {
      set_field(r.spec, e, ctx);
      set_origin(r.origins, e.field, e, 1);
    }

  const auto conflict = [&](const std::string& field, int because_level, const std::string& why) {
    const auto it = r.origins.find(field);
    if (it == r.origins.end()) return;
    if (it->second.level < because_level) {  // inherited, overridden by the entry: drop it
      reset_field(r.spec, field);
      r.origins.erase(it);
      return;
    }
    fail(ctx, it->second.key, text_of(it->second.value), why, &it->second.value);
  };

  if (r.spec.frac) {
    // A fixed binary point replaces calibration: a calibration setting next to it would be
    // silently ignored, so it is rejected (the defaults' ones are dropped).
    const int lf = level_of(r.origins, "frac");
    const std::string why =
        "not allowed together with frac: a fixed binary point is not calibrated (with frac "
        "only calibration maxabs and scale pow2 may be written, and no percentile or scale_bits)";
    if (r.spec.calibration != Calibration::MaxAbs) conflict("calibration", lf, why);
    conflict("percentile", lf, why);
    if (r.spec.scale == ScaleKind::Dyadic) conflict("scale", lf, why);
    conflict("scale_bits", lf, why);
  }
  if (!uses_percentile(r.spec.calibration))
    // A percentile without a calibrator that reads it would be silently ignored.
    conflict("percentile", level_of(r.origins, "calibration"),
             "percentile applies only to calibration: percentile or quantile_nearest (calibration here is " +
                 to_string(r.spec.calibration) + ")");
  if (r.spec.scale != ScaleKind::Dyadic)
    // scale_bits sizes the dyadic multiplier; a power-of-two scale has none.
    conflict("scale_bits", level_of(r.origins, "scale"),
             "scale_bits applies only to scale: dyadic (the scale here is " +
                 to_string(r.spec.scale) + ")");

  if (const auto issue = check_spec(r.spec)) {
    const Blame b = blame(entry_key, r.origins, issue->field, issue->value);
    fail(ctx, b.key, b.value, issue->allowed, b.at);
  }
  r.spec = r.spec.normalized();
  return r;
}

// The keys of a quantizer map, checked against the allowed ones.
std::vector<Entry> entries_of(const YAML::Node& map, const std::string& key, bool component,
                              const Context& ctx) {
  std::vector<Entry> out;
  for (const auto& kv : map) {
    const std::string field = kv.first.Scalar();
    const std::string k = join(key, field);
    const Field* f = find_field(field);
    if (!f || (f->component_only && !component))
      fail(ctx, k, text_of(kv.second),
           "unknown key; allowed: " + field_names(component) +
               (component ? "" : " (frac only in a component entry: a binary point belongs to one tensor)"),
           &kv.first);
    out.push_back({field, k, kv.second});
  }
  return out;
}

// The rules that involve more than one component (or a component's role). Blames through
// `origins` (empty for a programmatically built config).
void check_combinations(const std::array<ComponentPrecision, kNumComponents>& comps,
                        const std::array<Origins, kNumComponents>& origins, const Context& ctx) {
  const std::string components_key = join(ctx.prefix, "components");
  const auto key_of = [&](Component c) { return join(components_key, component_name(c)); };
  for (Component c : all_components()) {
    const ComponentPrecision& p = comps[index_of(c)];
    if (!p.quantized) continue;
    if (const auto issue = check_spec(p.spec)) {
      const Blame b = blame(key_of(c), origins[index_of(c)], issue->field, issue->value);
      fail(ctx, b.key, b.value, issue->allowed, b.at);
    }
    // The state's parts are stored and multiplied as signed values sharing one format: a zero
    // point would add cross terms (zp * im, zp * re) to every complex product of the recurrence.
    // (Weights take zero points: the operand is q - zp, formed at fetch.)
    if (component_kind(c) == ComponentKind::State && p.spec.scheme == Scheme::Asymmetric) {
      const Blame b = blame(key_of(c), origins[index_of(c)], "scheme", "asymmetric");
      fail(ctx, b.key, b.value,
           "scheme asymmetric is not allowed for the state " + component_name(c) +
               " (a zero point on the state breaks the complex multiply of the recurrence); allowed: symmetric",
           b.at);
    }
    // parts: the complex weights' real and imaginary quantizers; form: how A is stored
    if (p.spec.separate_parts && c != Component::A && c != Component::B && c != Component::C) {
      const Blame b = blame(key_of(c), origins[index_of(c)], "parts", "separate");
      fail(ctx, b.key, b.value, "parts applies only to the complex weights A, B and C", b.at);
    }
    if (p.spec.delta && c != Component::A) {
      const Blame b = blame(key_of(c), origins[index_of(c)], "form", "delta");
      fail(ctx, b.key, b.value, "form delta applies only to A (the state update's Lambda_bar - 1)", b.at);
    }
    // The operand keys describe a narrowing at the multipliers: the state's, or block floating
    // point on an activation point whose consumers multiply it (docs/fixed_point.md 9.3).
    const bool takes_operand = c == Component::x || c == Component::input || c == Component::ssm_in ||
                               c == Component::gelu_out || c == Component::pool;
    if (!takes_operand && (p.spec.operand_bits != 0 || p.spec.operand_block != 0)) {
      const Blame b = blame(key_of(c), origins[index_of(c)], "operand_bits", std::to_string(p.spec.operand_bits));
      fail(ctx, b.key, b.value,
           "operand_bits and operand_block apply only to the state x and to the activations input, ssm_in, "
           "gelu_out and pool",
           b.at);
    }
    if (takes_operand && c != Component::x && p.spec.operand_bits != 0) {
      if (p.spec.operand_block == 0) {
        const Blame b = blame(key_of(c), origins[index_of(c)], "operand_block", "0");
        fail(ctx, b.key, b.value,
             "an activation's operand is block floating point: operand_block 1..4096 (a static narrower operand "
             "is the activation at fewer bits: set bits)",
             b.at);
      }
      if (p.spec.scheme == Scheme::Asymmetric) {
        const Blame b = blame(key_of(c), origins[index_of(c)], "scheme", "asymmetric");
        fail(ctx, b.key, b.value,
             "an activation narrowed to a block-floating-point operand (operand_bits) is symmetric: its mantissas "
             "are signed; drop operand_bits or use scheme symmetric",
             b.at);
      }
      if (p.spec.bits > 30) {
        const Blame b = blame(key_of(c), origins[index_of(c)], "bits", std::to_string(p.spec.bits));
        fail(ctx, b.key, b.value, "at most 30 with an activation operand (the operand times 2^e is held in 32 bits)",
             b.at);
      }
    }
  }

  const ComponentPrecision& bias = comps[index_of(Component::bias)];
  if (!bias.quantized) return;
  // The bias is added into the accumulator, whose scale is s_w * s_a and whose zero point is 0.
  if (bias.spec.scheme == Scheme::Asymmetric) {
    const Blame b = blame(key_of(Component::bias), origins[index_of(Component::bias)],
                          "scheme", "asymmetric");
    fail(ctx, b.key, b.value,
         "the bias is added at accumulator scale, which has zero point 0; allowed: symmetric",
         b.at);
  }
  // At accumulator scale one unit of the bias is s_w * s_a, finer than either operand's unit, so a
  // bias narrower than an operand it is added with cannot even span that operand's range: it
  // would saturate for ordinary bias values. The floor is therefore the widest quantized weight
  // or activation the bias meets (encoder, decoder, mixing; ssm_out, act); 32 is the usual choice.
  // (The table's meets_bias column; weights before activations, so that of equally wide ones the
  // message names the weight.)
  int need = 0;
  Component widest = Component::bias;
  for (ComponentKind kind : {ComponentKind::Weight, ComponentKind::Activation})
    for (const ComponentInfo& row : kComponents) {
      const ComponentPrecision& p = comps[index_of(row.id)];
      if (row.meets_bias && row.kind == kind && p.quantized && p.spec.bits > need) {
        need = p.spec.bits;
        widest = row.id;
      }
    }
  if (bias.spec.bits < need) {
    const Blame b = blame(key_of(Component::bias), origins[index_of(Component::bias)], "bits",
                          std::to_string(bias.spec.bits));
    fail(ctx, b.key, b.value,
         "the bias is added at accumulator scale and must be at least as wide as every quantized "
         "weight and activation it is added with (" + component_name(widest) + " has " +
             std::to_string(need) + " bits); allowed: " + std::to_string(need) + "..32",
         b.at);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// PrecisionConfig
// ---------------------------------------------------------------------------------------------

struct PrecisionConfigReader {
  // The top-level keys: name and description into `cfg`, the rest for read().
  struct TopLevel {
    bool quantize_unlisted = false;
    YAML::Node defaults, components;
  };
  static TopLevel top_level(const YAML::Node& node, const Context& ctx, PrecisionConfig& cfg, bool* named) {
    TopLevel top;
    for (const auto& kv : node) {
      const std::string k = kv.first.Scalar();
      const std::string key = join(ctx.prefix, k);
      const YAML::Node& v = kv.second;
      if (k == "name") {
        if (!v.IsScalar() || v.Scalar().empty())
          fail(ctx, key, text_of(v), "a non-empty string", &v);
        cfg.name_ = v.Scalar();
        if (named) *named = true;
      } else if (k == "description") {
        if (!v.IsScalar()) fail(ctx, key, text_of(v), "a string", &v);
        cfg.description_ = v.Scalar();
      } else if (k == "gelu") {
        if (!v.IsScalar() || (v.Scalar() != "lut" && v.Scalar() != "hard"))
          fail(ctx, key, text_of(v),
               "allowed: lut (the exact GELU tabulated), hard (x*clip(x+2,0,4)/4, the papers' quantized GELU)", &v);
        cfg.gelu_ = v.Scalar();
      } else if (k == "rescale_bits") {
        int b = 0;
        if (!v.IsScalar() || !parse_int(v.Scalar(), b) || b < 1 || b > 31)
          fail(ctx, key, text_of(v),
               "an integer 1..31: the width of every rescale multiplier (31 by default; 1: shift-only)", &v);
        cfg.rescale_bits_ = b;
      } else if (k == "default") {
        if (!v.IsScalar() || (v.Scalar() != "float" && v.Scalar() != "quantized"))
          fail(ctx, key, text_of(v),
               "allowed: float (unlisted components stay float), quantized (unlisted components "
               "are quantized with the defaults)",
               &v);
        top.quantize_unlisted = v.Scalar() == "quantized";
      } else if (k == "defaults") {
        if (!v.IsNull() && !v.IsMap())
          fail(ctx, key, text_of(v), "a map with keys " + field_names(false), &v);
        top.defaults.reset(v);
      } else if (k == "components") {
        if (!v.IsNull() && !v.IsMap())
          fail(ctx, key, text_of(v),
               std::string("a map from component names (") + component_names() +
                   ") to float, quantized, a bit width or a quantizer map",
               &v);
        top.components.reset(v);
      } else {
        fail(ctx, key, text_of(v), std::string("unknown key; allowed: ") + kTopLevelNames,
             &kv.first);
      }
    }
    return top;
  }

  // A component's entry as quantizer keys: `quantized` (none), `A: 8` (`A: {bits: 8}`) or a map.
  // `float` is handled by the caller.
  static std::vector<Entry> entry_of(const YAML::Node& v, const std::string& key, const Context& ctx) {
    const std::string allowed =
        "float, quantized, wide, a bit width 1..32, or a map with keys " + field_names(true);
    if (v.IsScalar() && v.Scalar() == "wide")  // the accumulator's: where a paper keeps the point float
      return {{"bits", key, YAML::Node("32")},
              {"scheme", key, YAML::Node("symmetric")},
              {"calibration", key, YAML::Node("maxabs")}};
    if (v.IsScalar() && v.Scalar() != "quantized") {
      int b = 0;
      if (!parse_int(v.Scalar(), b)) fail(ctx, key, text_of(v), allowed, &v);
      return {{"bits", key, v}};
    }
    if (v.IsMap()) return entries_of(v, key, true, ctx);
    if (!v.IsScalar()) fail(ctx, key, text_of(v), allowed, &v);
    return {};
  }

  // Reads `node`; sets *named when the node gave a name.
  static PrecisionConfig read(const YAML::Node& node, const Context& ctx, bool* named) {
    PrecisionConfig cfg;
    if (named) *named = false;
    if (!node.IsDefined() || node.IsNull()) return cfg;
    cfg.name_ = "custom";
    if (!node.IsMap())
      fail(ctx, ctx.prefix, text_of(node), std::string("a map with keys ") + kTopLevelNames,
           &node);
    const TopLevel top = top_level(node, ctx, cfg, named);

    const std::string defaults_key = join(ctx.prefix, "defaults");
    std::vector<Entry> defaults;
    if (top.defaults.IsDefined() && top.defaults.IsMap())
      defaults = entries_of(top.defaults, defaults_key, false, ctx);
    resolve(defaults, nullptr, defaults_key, ctx);  // the block is checked even if unused

    std::array<Origins, kNumComponents> origins{};
    std::array<bool, kNumComponents> listed{};
    const std::string components_key = join(ctx.prefix, "components");
    if (top.components.IsDefined() && top.components.IsMap()) {
      for (const auto& kv : top.components) {
        const std::string cname = kv.first.Scalar();
        const std::string key = join(components_key, cname);
        Component c{};
        try {
          c = parse_component(cname, key);
        } catch (const ConfigError&) {
          fail(ctx, key, cname, std::string("unknown component; allowed: ") + component_names(),
               &kv.first);
        }
        const int i = index_of(c);
        listed[i] = true;
        if (kv.second.IsScalar() && kv.second.Scalar() == "float") {
          cfg.components_[i] = ComponentPrecision{};
          continue;
        }
        const std::vector<Entry> entry = entry_of(kv.second, key, ctx);
        Resolved r = resolve(defaults, &entry, key, ctx);
        cfg.components_[i] = ComponentPrecision{true, r.spec};
        origins[i] = std::move(r.origins);
      }
    }
    if (top.quantize_unlisted)
      for (Component c : all_components()) {
        const int i = index_of(c);
        if (listed[i] || info(c).parent != c) continue;
        // a bias not listed is at the accumulator's width whatever the defaults' bits
        const std::vector<Entry> acc{{"bits", join(components_key, "bias"), YAML::Node("32")}};
        Resolved r = resolve(defaults, c == Component::bias ? &acc : nullptr, join(components_key, component_name(c)),
                             ctx);
        cfg.components_[i] = ComponentPrecision{true, r.spec};
        origins[i] = std::move(r.origins);
      }
    // a split-off point not listed takes its parent's entry (act's, as before the split)
    for (Component c : all_components()) {
      const int i = index_of(c);
      if (listed[i] || info(c).parent == c) continue;
      cfg.components_[i] = cfg.components_[index_of(info(c).parent)];
      origins[i] = origins[index_of(info(c).parent)];
    }
    check_combinations(cfg.components_, origins, ctx);
    return cfg;
  }
};

PrecisionConfig::PrecisionConfig() = default;

PrecisionConfig PrecisionConfig::from_yaml(const YAML::Node& node, const std::string& key_prefix) {
  return PrecisionConfigReader::read(node, Context{key_prefix, ""}, nullptr);
}

PrecisionConfig PrecisionConfig::load(const std::filesystem::path& file) {
  const std::string name = file.string();
  const YAML::Node root = load_config_yaml(file, "precision config");
  bool named = false;
  PrecisionConfig cfg = PrecisionConfigReader::read(root, Context{"precision", name}, &named);
  if (!named) cfg.name_ = file.stem().string();
  return cfg;
}

YAML::Node PrecisionConfig::to_yaml() const {
  YAML::Node n;
  n["name"] = name_;
  if (!description_.empty()) n["description"] = description_;
  if (!gelu_.empty()) n["gelu"] = gelu_;
  if (rescale_bits_ != kDefaultRescaleBits) n["rescale_bits"] = rescale_bits_;
  n["default"] = "float";
  YAML::Node comps(YAML::NodeType::Map);
  for (Component c : all_components()) {
    const ComponentPrecision& p = components_[index_of(c)];
    // a split-off point equal to its parent is left out: unlisted, it inherits the same entry
    // (so a config that never separates them writes what it wrote before the split)
    if (info(c).parent != c && p == components_[index_of(info(c).parent)]) continue;
    if (!p.quantized) {
      comps[component_name(c)] = "float";
      continue;
    }
    YAML::Node m(YAML::NodeType::Map);
    for (const Field& f : kFields) {
      YAML::Node v;
      if (f.write(p.spec, v)) m[f.name] = v;
    }
    m.SetStyle(YAML::EmitterStyle::Flow);  // one line per component in --dump-config
    comps[component_name(c)] = m;
  }
  n["components"] = comps;
  return n;
}

std::vector<keys::KeyDoc> PrecisionConfig::key_docs(const std::string& prefix) {
  std::vector<keys::KeyDoc> docs = {
      {prefix + ".name", "float", "a string", "", "the config's name (reports)"},
      {prefix + ".description", "", "a string", "", "free text"},
      {prefix + ".gelu", "", "lut or hard", "",
       "the integer GELU this config asks for (used when quantize.gelu is precision, its default)"},
      {prefix + ".rescale_bits", "31", "an integer 1..31", "bits",
       "the width of every rescale multiplier of the integer datapath (1: shift-only; docs/fixed_point.md 9.1)"},
      {prefix + ".default", "float", "one of: float, quantized", "",
       "whether components not listed under components are float or quantized with defaults"}};
  const QuantizerSpec builtin{};
  for (const Field& f : kFields) {
    if (f.component_only) continue;
    YAML::Node v;
    const std::string def = f.write(builtin, v) && v.IsScalar() ? v.Scalar() : "";
    docs.push_back({prefix + ".defaults." + f.name, def, f.allowed(), f.name == std::string("bits") ? "bits" : "",
                    "the default of every quantized component (docs/precision.md)"});
  }
  for (const Component c : all_components())
    docs.push_back({prefix + ".components." + component_name(c), "float",
                    "float, quantized, wide, a bit width 1..32, or a map with keys " + field_names(true), "",
                    component_description(c)});
  return docs;
}

std::string PrecisionConfig::to_yaml_string() const {
  YAML::Emitter e;
  e << to_yaml();
  return std::string(e.c_str()) + "\n";
}

int PrecisionConfig::bits(Component c) const {
  const ComponentPrecision& p = component(c);
  return p.quantized ? p.spec.bits : 32;
}

const QuantizerSpec& PrecisionConfig::spec(Component c) const {
  const ComponentPrecision& p = component(c);
  if (!p.quantized)
    throw InputError("precision config '" + name_ + "': component " + component_name(c) +
                     " is float, it has no quantizer spec");
  return p.spec;
}

const ComponentPrecision& PrecisionConfig::component(Component c) const {
  return components_[index_of(c)];
}

void PrecisionConfig::set_float(Component c) {
  for (Component k : all_components())
    if (k == c || info(k).parent == c) components_[index_of(k)] = ComponentPrecision{};
}

void PrecisionConfig::set_quantized(Component c, const QuantizerSpec& spec) {
  for (Component k : all_components())
    if (k == c || info(k).parent == c) components_[index_of(k)] = ComponentPrecision{true, spec.normalized()};
}

void PrecisionConfig::validate(const std::string& key_prefix) const {
  check_combinations(components_, std::array<Origins, kNumComponents>{}, Context{key_prefix, ""});
}

bool PrecisionConfig::operator==(const PrecisionConfig& o) const {
  return name_ == o.name_ && description_ == o.description_ && gelu_ == o.gelu_ && rescale_bits_ == o.rescale_bits_ &&
         components_ == o.components_;
}

void PrecisionConfig::set_rescale_bits(int bits) {
  if (bits < 1 || bits > 31)
    throw ConfigError("precision.rescale_bits", std::to_string(bits), "an integer 1..31 (1: shift-only)");
  rescale_bits_ = bits;
}

}  // namespace ssmsim::quant
