// Precision configs: which component of an S4D/S5 model is quantized, and how
// (docs/precision.md; presets in configs/precision/).
//
// A config names the fixed components of kComponents. Each is either float (not quantized) or a QuantizerSpec,
// optionally with an explicit binary point (frac) instead of calibration. Configs are read from
// YAML, validated once (every invalid value or combination throws ConfigError naming the full
// dotted key, the value and what is allowed) and then passed around as this typed object.
#pragma once

#include <array>
#include <filesystem>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "quant/keys.hpp"
#include "quant/quantizer.hpp"

namespace YAML {
class Node;
}

namespace ssmsim::quant {

// The quantizable parts of a model. The enumerators are the rows of kComponents, in its order.
enum class Component {
  A, B, C, D, x, ssm_in, ssm_out, encoder, decoder, mixing, act, input, residual, gelu_out, glu, gate, pool, bias, norm
};

enum class ComponentKind { Weight, State, Activation, Bias };

// One row per component: everything the precision config, the PTQ, the QAT, the integer C-model,
// the memory layout and the reports know about a component, from which every list, name lookup
// and per-component rule is derived (docs/precision.md). Where the model uses a component is
// typed: a weight tensor carries its Component (QTensor::component, set where the PTQ quantizes
// it), an activation or state point takes it from its row in ssm_core's point table (kPoints).
struct ComponentInfo {
  Component id;
  const char* name;         // its key in precision configs, quantized-model metadata and reports
  ComponentKind kind;
  bool complex;             // both parts share one format (and one zero point)
  bool meets_bias;          // added together with the bias at accumulator scale: the bias must be
                            // at least as wide (rule 7)
  int max_integer_bits;     // the widest the integer model takes (16: its points feed lookup tables)
  const char* covers;       // the tensors and points of a quantized model it quantizes
                            // (docs/fixed_point.md 9.2; "i" stands for the layer index)
  const char* description;  // one line for reports and `ssmsim info`
  // The component whose entry it takes when a precision config does not list it (itself: none).
  // The activation points split from `act` inherit act's entry, so `act: 8` still means every
  // activation at 8 bits unless a point is given its own width.
  Component parent;
};

inline constexpr ComponentInfo kComponents[] = {
    {Component::A, "A", ComponentKind::Weight, true, false, 32, "layers.i.A",
     "discretized state matrix Lambda_bar (complex, diagonal)", Component::A},
    {Component::B, "B", ComponentKind::Weight, true, false, 32, "layers.i.B", "input matrix B_bar (complex)",
     Component::B},
    {Component::C, "C", ComponentKind::Weight, true, false, 32, "layers.i.C", "output matrix C (complex)",
     Component::C},
    {Component::D, "D", ComponentKind::Weight, false, false, 32, "layers.i.D", "feed-through D", Component::D},
    {Component::x, "x", ComponentKind::State, true, false, 32, "layers.i.x layers.i.xo",
     "state x (complex): its storage, and its operand at the multipliers (operand_bits, operand_block)",
     Component::x},
    {Component::ssm_in, "ssm_in", ComponentKind::Activation, false, false, 32, "layers.i.u",
     "SSM input activation u", Component::ssm_in},
    {Component::ssm_out, "ssm_out", ComponentKind::Activation, false, true, 16, "layers.i.y",
     "SSM output activation y (feeds the GELU)", Component::ssm_out},
    {Component::encoder, "encoder", ComponentKind::Weight, false, true, 32, "encoder.weight", "encoder weights",
     Component::encoder},
    {Component::decoder, "decoder", ComponentKind::Weight, false, true, 32, "decoder.weight", "decoder weights",
     Component::decoder},
    {Component::mixing, "mixing", ComponentKind::Weight, false, true, 32, "layers.i.mix.weight",
     "mixing (GLU) weights", Component::mixing},
    {Component::act, "act", ComponentKind::Activation, false, false, 32, "",
     "the default of every activation point below (input ... pool) that is not listed itself", Component::act},
    {Component::input, "input", ComponentKind::Activation, false, true, 32, "input",
     "the model input (the encoder's input)", Component::act},
    {Component::residual, "residual", ComponentKind::Activation, false, false, 32,
     "encoder.out layers.i.res layers.i.out", "the residual stream (encoder output, residual sums, post-norm "
     "outputs): the norm's input", Component::act},
    {Component::gelu_out, "gelu_out", ComponentKind::Activation, false, true, 32, "layers.i.act",
     "the GELU output (the mixing layer's input)", Component::act},
    {Component::glu, "glu", ComponentKind::Activation, false, false, 16, "layers.i.mix layers.i.mixg layers.i.g",
     "the GLU: its dense outputs (value, gate pre-activation: feeds the sigmoid) and its gated output",
     Component::act},
    {Component::gate, "gate", ComponentKind::Activation, false, false, 32, "gate",
     "the sigmoid gate's output (unsigned, one integer bit: holds 1.0; not calibrated)", Component::act},
    {Component::pool, "pool", ComponentKind::Activation, false, true, 32, "pool",
     "the pooled vector (the decoder's input)", Component::act},
    {Component::bias, "bias", ComponentKind::Bias, false, false, 32, "encoder.bias layers.i.mix.bias decoder.bias",
     "biases of encoder, decoder and mixing (accumulator scale; 32 bits unless listed)", Component::bias},
    {Component::norm, "norm", ComponentKind::Weight, false, false, 32, "layers.i.norm.scale layers.i.norm.shift",
     "normalisation parameters (LayerNorm scale and shift; BatchNorm folded to scale and shift)",
     Component::norm},
};
constexpr int kNumComponents = static_cast<int>(std::size(kComponents));

namespace detail {
constexpr bool rows_in_enum_order() {
  for (int i = 0; i < kNumComponents; ++i)
    if (static_cast<int>(kComponents[i].id) != i) return false;
  return static_cast<int>(Component::norm) + 1 == kNumComponents;  // the last enumerator
}
}  // namespace detail
static_assert(detail::rows_in_enum_order(), "kComponents must list every Component once, in enum order");

// The row of a component.
constexpr const ComponentInfo& info(Component c) { return kComponents[static_cast<int>(c)]; }

// All components in table order (the order of to_yaml() and of reports).
const std::array<Component, kNumComponents>& all_components();
std::string component_name(Component c);
// The names joined by ", ": "A, B, C, D, x, ssm_in, ..., act, input, ..., pool, bias, norm".
const char* component_names();
// Throws ConfigError(key, name, <the allowed names>) for an unknown name.
Component parse_component(std::string_view name, const std::string& key = "component");
inline ComponentKind component_kind(Component c) { return info(c).kind; }
// A, B, C and x are complex: both parts share one format (and, for weights, one zero point).
inline bool is_complex(Component c) { return info(c).complex; }
// One line for reports and `ssmsim info`.
inline const char* component_description(Component c) { return info(c).description; }

struct ComponentPrecision {
  bool quantized = false;
  QuantizerSpec spec{};  // normalized; the default spec when float

  bool operator==(const ComponentPrecision& o) const {
    return quantized == o.quantized && spec == o.spec;
  }
  bool operator!=(const ComponentPrecision& o) const { return !(*this == o); }
};

struct PrecisionConfigReader;

class PrecisionConfig {
 public:
  // Everything float, named "float".
  PrecisionConfig();

  // Reads a precision section (docs/precision.md for the schema). Keys in errors are
  // `key_prefix` + "." + the path inside the node, e.g. precision.components.A.bits. A null node
  // is the all-float config.
  static PrecisionConfig from_yaml(const YAML::Node& node,
                                   const std::string& key_prefix = "precision");
  // Reads a file. Unreadable file or YAML syntax error: InputError naming the file (and the line
  // and column); invalid content: ConfigError as from_yaml, with the file and line appended to
  // its allowed text. A file without `name` is named after its stem.
  static PrecisionConfig load(const std::filesystem::path& file);

  // The resolved config: name, description, `default: float` and every component, float or with
  // its full spec, except a split-off point equal to its parent (unlisted, it inherits it).
  // from_yaml(to_yaml()) == *this.
  YAML::Node to_yaml() const;
  // to_yaml() as YAML text (block style).
  std::string to_yaml_string() const;
  // Every key of the schema with its default and what it allows, for `--help-config`: name,
  // description, default, defaults.<quantizer key>, components.<component>.
  static std::vector<keys::KeyDoc> key_docs(const std::string& key_prefix = "precision");

  const std::string& name() const { return name_; }
  const std::string& description() const { return description_; }
  // The integer GELU the config asks for ("lut", "hard"), or "" when it says nothing (top-level
  // key `gelu`; `quantize.gelu` decides then, docs/precision.md).
  const std::string& gelu() const { return gelu_; }
  void set_gelu(std::string g) { gelu_ = std::move(g); }
  void set_name(std::string name) { name_ = std::move(name); }
  void set_description(std::string text) { description_ = std::move(text); }
  // The width of every rescale multiplier of the integer datapath (top-level key `rescale_bits`,
  // docs/fixed_point.md 9.1): each scaled sum's constant K has exactly this many bits; 1 is a
  // shift-only rescale (every ratio rounded to a power of two). 31 unless the config says.
  static constexpr int kDefaultRescaleBits = 31;
  int rescale_bits() const { return rescale_bits_; }
  void set_rescale_bits(int bits);

  bool is_float(Component c) const { return !component(c).quantized; }
  // The bit width of a quantized component; 32 (IEEE binary32 storage) for a float one.
  int bits(Component c) const;
  // The spec of a quantized component; throws InputError for a float one.
  const QuantizerSpec& spec(Component c) const;
  const ComponentPrecision& component(Component c) const;

  // Programmatic edits (sweeps). set_quantized stores spec.normalized(); neither validates, call
  // validate() after the last edit. Setting a parent (act) sets the components that inherit from
  // it too, as a config that lists only the parent does; set a child after its parent to differ.
  void set_float(Component c);
  void set_quantized(Component c, const QuantizerSpec& spec);
  // The single-spec rules (check_spec) and the combination rules (docs/precision.md) over the
  // whole config; throws ConfigError with keys key_prefix.components.<name>.<field>.
  void validate(const std::string& key_prefix = "precision") const;

  bool operator==(const PrecisionConfig& o) const;
  bool operator!=(const PrecisionConfig& o) const { return !(*this == o); }

 private:
  friend struct PrecisionConfigReader;

  std::string name_ = "float";
  std::string description_;
  std::string gelu_;
  int rescale_bits_ = kDefaultRescaleBits;
  std::array<ComponentPrecision, kNumComponents> components_{};
};

}  // namespace ssmsim::quant
