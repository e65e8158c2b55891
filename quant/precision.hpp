// Precision configs: which component of an S4D/S5 model is quantized, and how
// (docs/precision.md; presets in configs/precision/).
//
// A config names thirteen fixed components. Each is either float (not quantized) or a QuantizerSpec,
// optionally with an explicit binary point (frac) instead of calibration. Configs are read from
// YAML, validated once (every invalid value or combination throws ConfigError naming the full
// dotted key, the value and what is allowed) and then passed around as this typed object.
#pragma once

#include <array>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

#include "quant/quantizer.hpp"

namespace YAML {
class Node;
}

namespace ssmsim::quant {

// The quantizable parts of a model, with their config names (component_name()).
enum class Component {
  A,        // discretized state matrix Lambda_bar (complex, diagonal)
  B,        // input matrix B_bar (complex)
  C,        // output matrix C (complex)
  D,        // feed-through D (real)
  x,        // the state (complex)
  ssm_in,   // the SSM's input activation u
  ssm_out,  // the SSM's output activation y
  encoder,  // encoder weights
  decoder,  // decoder weights
  mixing,   // GLU / mixing-layer weights
  act,      // every other activation (after nonlinearities, between layers, pooled)
  bias,     // the biases of encoder, decoder and mixing (added at accumulator scale)
  norm,     // normalisation parameters (LayerNorm scale/shift; BatchNorm folded to scale/shift)
};
constexpr int kNumComponents = 13;

enum class ComponentKind { Weight, State, Activation, Bias };

// All components in declaration order (the order of to_yaml() and of reports).
const std::array<Component, kNumComponents>& all_components();
std::string component_name(Component c);
// "A, B, C, D, x, ssm_in, ssm_out, encoder, decoder, mixing, act, bias".
const char* component_names();
// Throws ConfigError(key, name, <the allowed names>) for an unknown name.
Component parse_component(std::string_view name, const std::string& key = "component");
ComponentKind component_kind(Component c);
// A, B, C and x are complex: both parts share one format and the zero point must be 0.
bool is_complex(Component c);
// One line for reports and `ssmsim info`.
const char* component_description(Component c);

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
  // its full spec. from_yaml(to_yaml()) == *this.
  YAML::Node to_yaml() const;
  // to_yaml() as YAML text (block style).
  std::string to_yaml_string() const;

  const std::string& name() const { return name_; }
  const std::string& description() const { return description_; }
  void set_name(std::string name) { name_ = std::move(name); }
  void set_description(std::string text) { description_ = std::move(text); }

  bool is_float(Component c) const { return !component(c).quantized; }
  // The bit width of a quantized component; 32 (IEEE binary32 storage) for a float one.
  int bits(Component c) const;
  // The spec of a quantized component; throws InputError for a float one.
  const QuantizerSpec& spec(Component c) const;
  const ComponentPrecision& component(Component c) const;

  // Programmatic edits (sweeps). set_quantized stores spec.normalized(); neither validates, call
  // validate() after the last edit.
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
  std::array<ComponentPrecision, kNumComponents> components_{};
};

}  // namespace ssmsim::quant
