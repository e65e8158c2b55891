// The result record: every field a run's JSON record can hold, typed, in one struct. `ssmsim
// simulate --json`, `eval --json`, `train --json` and `qat --json` write one each; `ssmsim sweep` reads those two back and
// writes a design point's record (a line of results.jsonl, a row of results.csv); `ssmsim report`
// reads the design points. Each key is spelled once, in result_record.cpp, where one field list
// drives writing and reading (docs/reports.md lists the fields of each record).
//
// Every field is optional: a record holds the fields its command writes and no others, and a
// field that is absent stays absent when written. Plain data and JSON only (no SystemC, no
// hw_models): the writers fill it from their own results.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace ssmsim::reports {

// One declared statistic of the accelerator (hw_models/stats.hpp), as the record holds it.
struct StatRecord {
  std::optional<std::string> name, unit, description;
  std::optional<double> value;
};

// The stored weights of a quantized model against float32 (simulate's "footprint").
struct Footprint {
  std::optional<uint64_t> weight_elements, weight_bits, float32_bits;
  std::optional<double> reduction;                                 // float32_bits / weight_bits
  std::optional<std::map<std::string, uint64_t>> bits_by_component;  // A, B, C, ... -> bits
};

// A sweep point's settings (the record's "point").
struct PointSettings {
  std::optional<std::string> precision, hw, method;  // labels: "w8a8_state8", "wide cmac_lanes=8", "ptq"
  std::optional<uint64_t> qat_epochs;                // 0 unless the method is qat
  std::optional<std::map<std::string, int>> precision_overrides;          // component -> bits
  std::optional<std::map<std::string, std::string>> hw_overrides;        // hw key -> value
};

struct ResultRecord {
  // what ran on what
  std::optional<std::string> command;     // "simulate", "eval"
  std::optional<std::string> checkpoint;  // the model file (eval: "F + PTQ" for a PTQ in memory)
  std::optional<std::string> workload, split, precision;
  std::optional<bool> integer;            // eval on the integer C-model
  std::optional<std::string> ssm_path;    // float eval: recurrent or conv
  std::optional<std::string> mode, cmac;  // simulate: lt or cycle; cpp or rtl lanes
  std::optional<bool> checked_states;
  std::optional<std::string> energy_table;
  std::optional<nlohmann::json> hw;       // simulate: the resolved hw section

  // a sweep's design point
  std::optional<std::string> id;          // "p" + 12 hex digits: the merge key
  std::optional<uint64_t> index;          // position in the sweep's expansion order
  std::optional<std::string> label;
  std::optional<PointSettings> point;
  std::optional<std::string> model;  // sweep: the model file's name; train: the model config (YAML)
  std::optional<nlohmann::json> precision_config;   // a file name, or a resolved config
  std::optional<nlohmann::json> hw_config;          // the resolved hw section
  std::optional<std::vector<std::string>> commands;  // the command lines that reproduce the point
  std::optional<double> seconds;                    // wall time of the eval or of the point
  std::optional<std::string> host;                  // sweep: the machine that ran the point
  std::optional<std::string> slurm_job;             // sweep under Slurm: "JOB_TASK" of the array task

  // accuracy
  std::optional<uint64_t> count;                    // sequences evaluated
  std::optional<uint64_t> eval_sequences;           // a design point's: eval's count
  std::optional<double> accuracy, loss;             // accuracy a fraction
  std::optional<std::vector<std::vector<int64_t>>> confusion;  // [true class][predicted class]
  std::optional<double> mse, smape_percent;         // regression
  // integer eval: runtime events per point, and per weight tensor the codes saturated when it was
  // quantized, under weight_saturation_key(tensor)
  std::optional<std::map<std::string, uint64_t>> saturation;

  // training (train, qat)
  std::optional<bool> finished;                     // train, qat: false when stopped (time limit, signal)
  std::optional<uint64_t> epochs_done, epoch_step;  // train, qat, when stopped: where it resumes
  std::optional<std::string> state;                 // train, qat, when stopped: the training state file
  std::optional<double> best_val_accuracy, ptq_val_accuracy;
  std::optional<nlohmann::json> test;               // train: the test split's eval record (its fields)
  std::optional<double> test_accuracy;              // qat: of the integer C-model
  std::optional<uint64_t> test_count;

  // the accelerator's run
  std::optional<bool> bit_exact;
  std::optional<std::string> first_mismatch;        // only when not bit-exact
  std::optional<uint64_t> sequences, tokens, cycles, load_cycles, io_cycles;
  std::optional<double> clock_mhz, cycles_per_sequence, cycles_per_token, latency_us_per_token, tokens_per_s;
  std::optional<std::vector<double>> cycles_per_layer_per_token;
  std::optional<bool> weights_streamed;
  std::optional<double> energy_nj_per_token, energy_nj_total, leakage_nj_total;
  std::optional<std::map<std::string, double>> energy_breakdown_nj;  // per token, leakage included

  // memory: `memory_bits` is the weight bits stored, a number in every record
  std::optional<uint64_t> memory_bits, state_bits;
  std::optional<std::map<std::string, uint64_t>> memory_bits_by_tensor;     // weights and states
  std::optional<std::map<std::string, uint64_t>> memory_bits_by_component;  // weights
  std::optional<double> footprint_reduction;
  std::optional<Footprint> footprint;

  std::optional<double> area_mm2;
  std::optional<std::map<std::string, double>> area_breakdown_mm2, utilization;
  std::optional<std::vector<StatRecord>> stats;
  std::optional<double> wall_seconds, simulated_tokens_per_wall_s, simulated_cycles_per_wall_s;
};

// The key in `saturation` of a weight tensor's codes saturated at quantization: "weights.<tensor>"
// (distinct from the per-point runtime events, whose keys are point names).
std::string weight_saturation_key(const std::string& tensor);

// The record as JSON: the fields that hold a value, keys sorted (nlohmann::json's order).
nlohmann::json to_json(const ResultRecord& record);
nlohmann::json to_json(const PointSettings& point);

// A record from JSON, leniently: a field that is absent, null or of another type stays empty; in
// maps and lists only the entries of the field's type are kept (a string list or map keeps other
// entries as their JSON text); integers accept whole numbers written as floats. Unknown keys are
// ignored. Use it on records written by ssmsim (or by hand, for `ssmsim report`).
ResultRecord record_from_json(const nlohmann::json& j);

// Writes the record to `path` atomically (write_json, reports/record.hpp).
void write_record(const std::filesystem::path& path, const ResultRecord& record);

// results.csv, the table form of design points: the header line and one point's row (no line
// ends). Columns: id, index, label, the point's precision, hw and method, accuracy, bit_exact,
// energy_nj_per_token, latency_us_per_token, cycles_per_token, tokens_per_s, memory_bits,
// footprint_reduction, area_mm2, seconds. Throws InputError naming a column the record lacks.
std::string csv_header();
std::string csv_row(const ResultRecord& record);

namespace detail {
const char* key_at(const ResultRecord& probe, const void* member);
const char* key_at(const PointSettings& probe, const void* member);
}  // namespace detail

// The JSON key of a field: record_key(&ResultRecord::accuracy) == "accuracy",
// record_key(&PointSettings::method) == "method".
template <typename S, typename T>
const char* record_key(std::optional<T> S::*member) {
  static const S probe{};
  return detail::key_at(probe, &(probe.*member));
}

}  // namespace ssmsim::reports
