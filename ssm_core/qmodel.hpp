// Quantized S4D / S5 models and the integer C-model that runs them (docs/fixed_point.md, section 9).
//
// A QModel is a float model's architecture plus, for every weight, integer codes and their
// quantizer parameters, and for every activation and state point of the datapath its format.
// `quantize_ptq` makes one from a float checkpoint and a precision config (calibrating on training
// sequences); `save_qmodel` / `load_qmodel` store it as safetensors with each tensor's format in
// the metadata. `QEngine` derives the integer constants (scaled sums, lookup tables) and runs
// chunks of sequences on integers only: the only floating-point operation is the input quantizer.
//
// One header for the quantized model's contract; one source file per job: qmodel.cpp (the point
// table's names, lookups), ptq.cpp (PTQ: calibration, quantize_weights), qmodel_io.cpp (the file),
// qengine.cpp (QEngine: one function per step of docs/fixed_point.md 9.3; evaluate_quantized).
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "quant/intops.hpp"
#include "quant/precision.hpp"
#include "quant/quantizer.hpp"
#include "ssm_core/checkpoint.hpp"
#include "ssm_core/model.hpp"
#include "ssm_core/ranks.hpp"
#include "ssm_core/sequences.hpp"

namespace ssmsim::core {

struct QConsts;

// The integer GELU: a lookup table of the exact (erf) GELU, or the S4D paper's hardware-friendly
// x * clip(x + 2, 0, 4) / 4 computed with a multiply and a rescale. `Precision` (an option, never a
// model's): what the precision config's `gelu` key says, the table when it says nothing.
enum class QGelu { Lut, Hard, Precision };
QGelu resolve_gelu(QGelu option, const quant::PrecisionConfig& precision);

// Integer codes of one weight tensor and their quantizer parameters: one entry per tensor or one
// per channel (the first dimension). Complex tensors end in a dimension of 2 (re, im).
struct QTensor {
  quant::Component component = quant::Component::A;
  std::vector<int64_t> shape;
  std::vector<int32_t> q;
  std::vector<quant::QuantParams> params;
  // Codes that did not fit the format when the tensor was quantized (saturated, or wrapped under
  // overflow wrap): the charter counts saturations per tensor, biases included. Quantization only
  // counts them; the codes are the same either way. Stored in the file as "saturated.<name>".
  uint64_t saturated = 0;
  // Separate parts (A, B, C with `parts: separate`; docs/fixed_point.md 9.2): `params` holds two
  // entries per channel (or two for the tensor), index 2 * channel + part (0 re, 1 im); the two
  // scales differ by a power of two. Otherwise one entry per tensor or per channel.
  bool separate_parts = false;
  const quant::QuantParams& p(size_t channel) const { return params.size() == 1 ? params[0] : params[channel]; }
  size_t channels() const { return static_cast<size_t>(shape.empty() ? 1 : shape[0]); }
  size_t size() const { return q.size(); }
  // The quantizer groups (1, or one per channel) and the entry of `params` that codes element i.
  size_t groups() const { return separate_parts ? params.size() / 2 : params.size(); }
  size_t param_index(size_t i) const {
    const size_t g = groups() == 1 ? 0 : i / (q.size() / groups());
    return separate_parts ? 2 * g + i % 2 : g;
  }
  // The unit of channel c's operands: its scale, or with separate parts the finer part's scale
  // (the real part's on a tie); unit_params gives the parameters whose scale it is.
  const quant::QuantParams& unit_params(size_t c) const {
    if (!separate_parts) return p(c);
    const size_t g = groups() == 1 ? 0 : c;
    return params[2 * g + 1].scale() < params[2 * g].scale() ? params[2 * g + 1] : params[2 * g];
  }
  double unit(size_t c) const { return unit_params(c).scale(); }
  // The left shift of element i's products: log2 of its part's scale over the unit (0 without
  // separate parts).
  int part_shift(size_t i) const;
  // The multiplier's operand of element i in its channel's unit: (q - zp) * 2^part_shift.
  int64_t operand(size_t i) const {
    return (q[i] - params[param_index(i)].zero_point) * (int64_t{1} << part_shift(i));
  }
};

// The activation and state points of the integer datapath (docs/fixed_point.md 9.2), one row
// each: its name and the component whose spec gives its format. The PTQ calibrates a point by its
// row, never by its name.
enum class PointId { input, encoder_out, u, x, xo, y, act, mix, mixg, g, res, out, pool, gate };

struct PointInfo {
  PointId id;
  const char* name;           // a per-layer point's name follows "layers.<i>."
  bool per_layer;
  quant::Component component;  // whose spec gives its format
  bool calibrated;            // false: a fixed format (gate: unsigned, the component's bits, one
                              // integer bit: the sigmoid's [0, 1] including 1.0)
};

// `xo` is the state operand (docs/fixed_point.md 9.3): present only when the state's spec narrows
// it with a static scale (x.operand_bits > 0, operand_block 0); it is calibrated on the state's
// values with operand_bits bits.
inline constexpr PointInfo kPoints[] = {
    {PointId::input, "input", false, quant::Component::input, true},
    {PointId::encoder_out, "encoder.out", false, quant::Component::residual, true},
    {PointId::u, "u", true, quant::Component::ssm_in, true},
    {PointId::x, "x", true, quant::Component::x, true},
    {PointId::xo, "xo", true, quant::Component::x, true},
    {PointId::y, "y", true, quant::Component::ssm_out, true},
    {PointId::act, "act", true, quant::Component::gelu_out, true},
    {PointId::mix, "mix", true, quant::Component::glu, true},
    {PointId::mixg, "mixg", true, quant::Component::glu, true},
    {PointId::g, "g", true, quant::Component::glu, true},
    {PointId::res, "res", true, quant::Component::residual, true},
    {PointId::out, "out", true, quant::Component::residual, true},
    {PointId::pool, "pool", false, quant::Component::pool, true},
    {PointId::gate, "gate", false, quant::Component::gate, false},
};

static_assert(static_cast<int>(PointId::gate) + 1 == static_cast<int>(std::size(kPoints)) &&
                  kPoints[static_cast<int>(PointId::gate)].id == PointId::gate,
              "kPoints must list every PointId once, in enum order");

constexpr const PointInfo& point_info(PointId id) { return kPoints[static_cast<int>(id)]; }

// A point's key in QModel::points and in the file: "input", "layers.<layer>.u", ...
std::string point_name(PointId id, size_t layer = 0);

// The point a layer's output is stored in: `out` after a post-norm, else the residual sum `res`.
inline PointId layer_output(const ModelConfig& mc) { return mc.norm_out() ? PointId::out : PointId::res; }

// "layers.<i>": the prefix of layer i's tensors and points.
std::string layer_name(size_t i);

struct QModel {
  ModelConfig config;
  quant::PrecisionConfig precision;
  QGelu gelu = QGelu::Lut;
  std::map<std::string, QTensor> tensors;                      // weights, biases, norm parameters
  std::map<std::string, std::vector<quant::QuantParams>> points;  // activation and state formats
  std::map<std::string, std::string> metadata;                 // provenance

  const QTensor& tensor(const std::string& name) const;                       // InputError if absent
  const quant::QuantParams& point(const std::string& name, size_t ch = 0) const;  // InputError if absent
  // A point by its id (layer: for a per-layer point).
  const quant::QuantParams& point(PointId id, size_t layer = 0) const { return point(point_name(id, layer)); }
};

// The stored weights of a quantized model (weights, biases, norm parameters) against the same
// tensors as float32: the papers' "memory reduction".
struct WeightFootprint {
  uint64_t elements = 0, bits = 0;
  double reduction() const { return bits ? 32.0 * static_cast<double>(elements) / static_cast<double>(bits) : 0.0; }
};
// One tensor's bits: its widest format times its elements.
uint64_t tensor_bits(const QTensor& t);
WeightFootprint weight_footprint(const QModel& q);

struct PtqOptions {
  size_t calib = 256;        // training sequences to calibrate on
  QGelu gelu = QGelu::Precision;
  size_t threads = 0;
  uint64_t seed = 1;         // the calibration sample of values per point (percentile / mse)
  // Keep every quantized |Lambda_bar| below 1: a state whose rounded A reaches magnitude 1 would
  // never decay. Off by default (the papers' PTQ rounds to nearest only).
  bool stable_a = false;
  // Calibrate each layer's state on the states the integer model itself produces (its quantized
  // A, B and input), layer by layer, instead of the float model's. Off by default.
  bool integer_states = false;
};

// Post-training quantization of a float checkpoint. Every component must be quantized (an integer
// model has no floating point); errors name the component. Activation formats come from the float
// model's values on the first `calib` sequences of `calib_set`.
QModel quantize_ptq(const FloatCheckpoint& ck, const quant::PrecisionConfig& precision,
                    const SequenceSet& calib_set, const PtqOptions& options);

// The weights of float parameters quantized by `precision` (each tensor calibrated on its own
// values), with the activation and state formats `points` as given: PTQ's second half, and what
// QAT does after every optimiser step.
// `coeffs` (per layer) replaces the discretized A and B by given values, interleaved (re, im) in the
// tensors' layouts (S4D A, B [H, N/2, 2]; S5 A [P2, 2], B [P2, H, 2]).
// One weight tensor quantized by its component's spec (calibrated on its own values, its shape
// ordering quantile_nearest's reductions); QTensor::saturated counts the codes that the format's
// range clipped (through quant::quantize's events).
QTensor quantize_tensor(const std::vector<double>& data, std::vector<int64_t> shape, quant::Component c,
                        const quant::PrecisionConfig& precision);
// A bias at accumulator scale (docs/fixed_point.md 9.2): code = round_half_even(b / (s_w[o] * s_in)),
// saturated to the bias width; QTensor::saturated counts the codes that the saturation changed.
QTensor quantize_bias(const std::vector<double>& b, const QTensor& weight, const quant::QuantParams& in,
                      const quant::PrecisionConfig& precision);

// The warning for a tensor whose codes saturated when it was quantized (empty when none did): the
// tensor, how many of its codes, and what to change in the precision config. For the commands
// that make quantized models to print (the library itself never prints).
std::string saturation_warning(const std::string& name, const QTensor& t, const quant::PrecisionConfig& precision);

// Throws InputError where quantize.stable_a cannot apply to `precision` (A stored directly with
// separate parts); `who` names the setting in the message.
void check_stable_a(const quant::PrecisionConfig& precision, const std::string& who);

struct CoeffOverride {
  std::vector<double> A, B;
};
QModel quantize_weights(const ModelConfig& config, const std::vector<float>& params,
                        const quant::PrecisionConfig& precision,
                        const std::map<std::string, std::vector<quant::QuantParams>>& points, QGelu gelu,
                        const std::vector<CoeffOverride>* coeffs = nullptr, bool stable_a = false);

// The file: metadata "format" = "ssmsim.quantized", "model.*" as float checkpoints, "precision"
// (the resolved precision YAML), "gelu"; per tensor "q.<name>" (its params as JSON) and per point
// "point.<name>"; "saturated.<name>" = N only for a tensor with N > 0 codes saturated at
// quantization (absent means 0, so files without clipping, and files written before the count
// existed, read the same). Codes are stored as I8 / I16 / I32 by width (an unsigned, zero-point
// code takes the next container: u8 in I16).
void save_qmodel(const std::filesystem::path& path, const QModel& model);
QModel load_qmodel(const std::filesystem::path& path);
// True when the file is a quantized model (by its "format" metadata).
bool is_qmodel_file(const std::filesystem::path& path);

struct QChunkResult {
  std::vector<int64_t> logits;     // classify: [valid lanes][classes]; integer, one common scale
  std::vector<int32_t> predicted;  // per valid lane
  size_t count = 0;
};

// The integer activations of the last chunk, in the chunk layout (ssm_core/seq.hpp): the input
// codes, the encoder output, and the last layer's u, y, act, mixing (value and gate
// pre-activations, gate, output), residual; every layer's output. Reused across chunks.
struct QWorkspace {
  Seq<int32_t> in, h0, u, y, act, mix, mixg, gate, g, res;
  std::vector<Seq<int32_t>> layer_out;
  std::vector<int64_t> yacc;  // [L][H][lanes] output accumulators
  Seq<int32_t> pooled;        // [1][H]: the decoder's input
  // With `record` set, every layer's codes are kept in `layers` (QAT's backward pass reads them):
  // x is the state at every step, S4D [H * N/2][L][re, im][lanes], S5 [L][2 P2][lanes] (as the
  // float model's state buffers). The step buffers above (u .. res) are then swapped into the
  // record: after run_chunk, read a layer's values there, not above.
  bool record = false;
  // With record16 also set, an S4D layer whose states fit int16 records them into x16 instead of
  // x (QAT's backward pass reads either; half the memory traffic, the same integers).
  bool record16 = false;
  // Threads an S4D layer's state update may split its channels over (QAT, where a batch has fewer
  // chunks than threads); the same bits for any count.
  size_t channel_threads = 1;
  struct Layer {
    Seq<int32_t> u, y, act, mix, mixg, g, res, out;
    std::vector<int32_t> x;
    std::vector<int16_t> x16;
  };
  std::vector<Layer> layers;
};

// The integer C-model of one QModel: constants derived once, then chunks on any thread.
class QEngine {
 public:
  explicit QEngine(const QModel& model);
  ~QEngine();
  QEngine(const QEngine&) = delete;
  QEngine& operator=(const QEngine&) = delete;

  std::unique_ptr<QWorkspace> make_workspace() const;
  // One chunk (ssm_core/model.hpp's Chunk). Saturation events add into `counters`.
  QChunkResult run_chunk(const Chunk& chunk, QWorkspace& ws, quant::SaturationCounters& counters) const;
  // The real value of one logit unit (for reports only; never used by the datapath).
  double logit_scale() const { return logit_scale_; }
  const QModel& model() const { return model_; }
  // Mean pooling over L steps: narrow(sum over t of the last layer's output) into the "pool" format.
  quant::ScaledSum mean_pool(size_t L) const;

  // The integer constants, for step-level users (ssm_core/qsteps.hpp): the SystemC model.
  const QConsts& consts() const { return *impl_; }

 private:
  const QModel& model_;
  std::unique_ptr<QConsts> impl_;
  double logit_scale_ = 1;
};

struct QEvalResult {
  double accuracy = 0;
  size_t count = 0;
  std::vector<int64_t> confusion;
  std::vector<int32_t> predicted;
  std::vector<int64_t> logits;  // [count, classes], integer codes (QEngine::logit_scale), in set order
  quant::SaturationCounters saturation;
};

// Integer evaluation over a set (classification), chunks on threads, deterministic. The logits
// are the chunks' own (run_chunk computes them anyway), kept in set order. Several ranks share the
// chunks and all get the whole result.
QEvalResult evaluate_quantized(const QModel& model, const SequenceSet& set, size_t num_classes,
                               size_t limit = 0, size_t threads = 0, const Ranks& ranks = one_process());

}  // namespace ssmsim::core
