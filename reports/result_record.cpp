#include "reports/result_record.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <type_traits>

#include "quant/errors.hpp"
#include "reports/record.hpp"

namespace ssmsim::reports {

using nlohmann::json;

namespace {

// The one list of each struct's keys: f(key, field) per field. Writing, reading and record_key all
// walk these lists, so a key is spelled here and nowhere else.
template <typename S, typename F>
void stat_fields(S& s, F&& f) {
  f("name", s.name);
  f("unit", s.unit);
  f("description", s.description);
  f("value", s.value);
}

template <typename S, typename F>
void footprint_fields(S& s, F&& f) {
  f("weight_elements", s.weight_elements);
  f("weight_bits", s.weight_bits);
  f("float32_bits", s.float32_bits);
  f("reduction", s.reduction);
  f("bits_by_component", s.bits_by_component);
}

template <typename S, typename F>
void point_fields(S& s, F&& f) {
  f("precision", s.precision);
  f("hw", s.hw);
  f("method", s.method);
  f("qat_epochs", s.qat_epochs);
  f("precision_overrides", s.precision_overrides);
  f("hw_overrides", s.hw_overrides);
}

template <typename S, typename F>
void record_fields(S& r, F&& f) {
  f("command", r.command);
  f("checkpoint", r.checkpoint);
  f("workload", r.workload);
  f("split", r.split);
  f("precision", r.precision);
  f("integer", r.integer);
  f("ssm_path", r.ssm_path);
  f("mode", r.mode);
  f("cmac", r.cmac);
  f("checked_states", r.checked_states);
  f("energy_table", r.energy_table);
  f("hw", r.hw);

  f("id", r.id);
  f("index", r.index);
  f("label", r.label);
  f("point", r.point);
  f("model", r.model);
  f("precision_config", r.precision_config);
  f("hw_config", r.hw_config);
  f("commands", r.commands);
  f("seconds", r.seconds);
  f("host", r.host);
  f("slurm_job", r.slurm_job);

  f("count", r.count);
  f("eval_sequences", r.eval_sequences);
  f("accuracy", r.accuracy);
  f("loss", r.loss);
  f("confusion", r.confusion);
  f("mse", r.mse);
  f("smape_percent", r.smape_percent);
  f("saturation", r.saturation);

  f("finished", r.finished);
  f("epochs_done", r.epochs_done);
  f("epoch_step", r.epoch_step);
  f("state", r.state);
  f("best_val_accuracy", r.best_val_accuracy);
  f("ptq_val_accuracy", r.ptq_val_accuracy);
  f("test", r.test);
  f("test_accuracy", r.test_accuracy);
  f("test_count", r.test_count);

  f("bit_exact", r.bit_exact);
  f("first_mismatch", r.first_mismatch);
  f("sequences", r.sequences);
  f("tokens", r.tokens);
  f("cycles", r.cycles);
  f("load_cycles", r.load_cycles);
  f("io_cycles", r.io_cycles);
  f("clock_mhz", r.clock_mhz);
  f("cycles_per_sequence", r.cycles_per_sequence);
  f("cycles_per_token", r.cycles_per_token);
  f("latency_us_per_token", r.latency_us_per_token);
  f("tokens_per_s", r.tokens_per_s);
  f("cycles_per_layer_per_token", r.cycles_per_layer_per_token);
  f("weights_streamed", r.weights_streamed);
  f("energy_nj_per_token", r.energy_nj_per_token);
  f("energy_nj_total", r.energy_nj_total);
  f("leakage_nj_total", r.leakage_nj_total);
  f("energy_breakdown_nj", r.energy_breakdown_nj);

  f("memory_bits", r.memory_bits);
  f("state_bits", r.state_bits);
  f("memory_bits_by_tensor", r.memory_bits_by_tensor);
  f("memory_bits_by_component", r.memory_bits_by_component);
  f("footprint_reduction", r.footprint_reduction);
  f("footprint", r.footprint);

  f("area_mm2", r.area_mm2);
  f("area_breakdown_mm2", r.area_breakdown_mm2);
  f("utilization", r.utilization);
  f("stats", r.stats);
  f("wall_seconds", r.wall_seconds);
  f("simulated_tokens_per_wall_s", r.simulated_tokens_per_wall_s);
  f("simulated_cycles_per_wall_s", r.simulated_cycles_per_wall_s);
}

template <typename T>
struct is_map : std::false_type {};
template <typename V>
struct is_map<std::map<std::string, V>> : std::true_type {};
template <typename T>
struct is_vector : std::false_type {};
template <typename V>
struct is_vector<std::vector<V>> : std::true_type {};

// ---- writing

template <typename T>
json encode(const T& v);

template <typename S, typename Fields>
json encode_struct(const S& s, Fields fields) {
  json j = json::object();
  fields(s, [&](const char* key, const auto& field) {
    if (field) j[key] = encode(*field);
  });
  return j;
}

template <typename T>
json encode(const T& v) {
  if constexpr (std::is_same_v<T, StatRecord>) {
    return encode_struct(v, [](const auto& s, auto&& f) { stat_fields(s, f); });
  } else if constexpr (std::is_same_v<T, Footprint>) {
    return encode_struct(v, [](const auto& s, auto&& f) { footprint_fields(s, f); });
  } else if constexpr (std::is_same_v<T, PointSettings>) {
    return encode_struct(v, [](const auto& s, auto&& f) { point_fields(s, f); });
  } else if constexpr (is_map<T>::value) {
    json j = json::object();
    for (const auto& [k, e] : v) j[k] = encode(e);
    return j;
  } else if constexpr (is_vector<T>::value) {
    json j = json::array();
    for (const auto& e : v) j.push_back(encode(e));
    return j;
  } else {
    return json(v);
  }
}

// ---- reading (lenient: what does not fit stays empty)

template <typename T>
std::optional<T> decode(const json& j, bool element = false);

template <typename S, typename Fields>
std::optional<S> decode_struct(const json& j, Fields fields) {
  if (!j.is_object()) return std::nullopt;
  S s{};
  fields(s, [&](const char* key, auto& field) {
    using V = typename std::decay_t<decltype(field)>::value_type;
    if (const auto it = j.find(key); it != j.end()) field = decode<V>(*it);
  });
  return s;
}

template <typename T>
std::optional<T> decode(const json& j, bool element) {
  if (j.is_null()) return std::nullopt;
  if constexpr (std::is_same_v<T, StatRecord>) {
    return decode_struct<T>(j, [](auto& s, auto&& f) { stat_fields(s, f); });
  } else if constexpr (std::is_same_v<T, Footprint>) {
    return decode_struct<T>(j, [](auto& s, auto&& f) { footprint_fields(s, f); });
  } else if constexpr (std::is_same_v<T, PointSettings>) {
    return decode_struct<T>(j, [](auto& s, auto&& f) { point_fields(s, f); });
  } else if constexpr (is_map<T>::value) {
    if (!j.is_object()) return std::nullopt;
    T m;
    for (auto it = j.begin(); it != j.end(); ++it)
      if (auto e = decode<typename T::mapped_type>(it.value(), true)) m.emplace(it.key(), std::move(*e));
    return m;
  } else if constexpr (is_vector<T>::value) {
    if (!j.is_array()) return std::nullopt;
    T v;
    for (const auto& x : j)
      if (auto e = decode<typename T::value_type>(x, true)) v.push_back(std::move(*e));
    return v;
  } else if constexpr (std::is_same_v<T, json>) {
    return j;
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (j.is_string()) return j.get<std::string>();
    if (element) return j.dump(2, ' ', false, json::error_handler_t::replace);  // e.g. hw_overrides {"lanes": 8}
    return std::nullopt;
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!j.is_boolean()) return std::nullopt;
    return j.get<bool>();
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!j.is_number()) return std::nullopt;
    const double v = j.get<double>();
    if (!std::isfinite(v)) return std::nullopt;
    return static_cast<T>(v);
  } else {
    static_assert(std::is_integral_v<T>, "a record field of a type the record cannot read");
    if (j.is_number_unsigned()) {
      const auto v = j.get<uint64_t>();
      if (v > static_cast<uint64_t>(std::numeric_limits<T>::max())) return std::nullopt;
      return static_cast<T>(v);
    }
    if (j.is_number_integer()) {
      const auto v = j.get<int64_t>();
      if (std::is_unsigned_v<T> && v < 0) return std::nullopt;
      if (!std::is_unsigned_v<T> && (v < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
                                     v > static_cast<int64_t>(std::numeric_limits<T>::max())))
        return std::nullopt;
      return static_cast<T>(v);
    }
    if (j.is_number_float()) {  // a whole number written as a float (a hand-written record)
      const double v = j.get<double>();
      if (!std::isfinite(v) || v != std::floor(v) || v < static_cast<double>(std::numeric_limits<T>::min()) ||
          v > static_cast<double>(std::numeric_limits<T>::max()))
        return std::nullopt;
      return static_cast<T>(v);
    }
    return std::nullopt;
  }
}

}  // namespace

std::string weight_saturation_key(const std::string& tensor) { return "weights." + tensor; }

json to_json(const ResultRecord& record) {
  return encode_struct(record, [](const auto& s, auto&& f) { record_fields(s, f); });
}

json to_json(const PointSettings& point) { return encode(point); }

ResultRecord record_from_json(const json& j) {
  auto r = decode_struct<ResultRecord>(j, [](auto& s, auto&& f) { record_fields(s, f); });
  return r ? std::move(*r) : ResultRecord{};
}

void write_record(const std::filesystem::path& path, const ResultRecord& record) {
  write_json(path, to_json(record));
}

namespace detail {

const char* key_at(const ResultRecord& probe, const void* member) {
  const char* key = nullptr;
  record_fields(probe, [&](const char* k, const auto& field) {
    if (static_cast<const void*>(&field) == member) key = k;
  });
  return key;
}

const char* key_at(const PointSettings& probe, const void* member) {
  const char* key = nullptr;
  point_fields(probe, [&](const char* k, const auto& field) {
    if (static_cast<const void*>(&field) == member) key = k;
  });
  return key;
}

}  // namespace detail

namespace {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

// The value of a field the row needs.
template <typename S, typename T>
const T& need(const S& s, std::optional<T> S::*member) {
  const auto& v = s.*member;
  if (!v) throw InputError(std::string("results.csv: the record has no \"") + record_key(member) + "\"");
  return *v;
}

struct CsvColumn {
  const char* key;
  std::string (*cell)(const ResultRecord&);
};

const PointSettings& point_of(const ResultRecord& r) { return need(r, &ResultRecord::point); }

// The columns of results.csv, in order, each with its key and its format.
const CsvColumn kCsvColumns[] = {
    {record_key(&ResultRecord::id), [](const ResultRecord& r) { return need(r, &ResultRecord::id); }},
    {record_key(&ResultRecord::index),
     [](const ResultRecord& r) { return fmt::format("{}", need(r, &ResultRecord::index)); }},
    {record_key(&ResultRecord::label), [](const ResultRecord& r) { return csv_field(need(r, &ResultRecord::label)); }},
    {record_key(&PointSettings::precision),
     [](const ResultRecord& r) { return csv_field(need(point_of(r), &PointSettings::precision)); }},
    {record_key(&PointSettings::hw),
     [](const ResultRecord& r) { return csv_field(need(point_of(r), &PointSettings::hw)); }},
    {record_key(&PointSettings::method),
     [](const ResultRecord& r) { return need(point_of(r), &PointSettings::method); }},
    {record_key(&ResultRecord::accuracy),
     [](const ResultRecord& r) { return fmt::format("{:.6f}", need(r, &ResultRecord::accuracy)); }},
    {record_key(&ResultRecord::bit_exact),
     [](const ResultRecord& r) { return std::string(need(r, &ResultRecord::bit_exact) ? "true" : "false"); }},
    {record_key(&ResultRecord::energy_nj_per_token),
     [](const ResultRecord& r) { return fmt::format("{:.6g}", need(r, &ResultRecord::energy_nj_per_token)); }},
    {record_key(&ResultRecord::latency_us_per_token),
     [](const ResultRecord& r) { return fmt::format("{:.6g}", need(r, &ResultRecord::latency_us_per_token)); }},
    {record_key(&ResultRecord::cycles_per_token),
     [](const ResultRecord& r) { return fmt::format("{:.6g}", need(r, &ResultRecord::cycles_per_token)); }},
    {record_key(&ResultRecord::tokens_per_s),
     [](const ResultRecord& r) { return fmt::format("{:.6g}", need(r, &ResultRecord::tokens_per_s)); }},
    {record_key(&ResultRecord::memory_bits),
     [](const ResultRecord& r) { return fmt::format("{}", need(r, &ResultRecord::memory_bits)); }},
    {record_key(&ResultRecord::footprint_reduction),
     [](const ResultRecord& r) { return fmt::format("{:.6g}", need(r, &ResultRecord::footprint_reduction)); }},
    {record_key(&ResultRecord::area_mm2),
     [](const ResultRecord& r) { return fmt::format("{:.6g}", need(r, &ResultRecord::area_mm2)); }},
    {record_key(&ResultRecord::seconds),
     [](const ResultRecord& r) { return fmt::format("{:.1f}", need(r, &ResultRecord::seconds)); }},
};

}  // namespace

std::string csv_header() {
  std::string h;
  for (const auto& c : kCsvColumns) h += (h.empty() ? "" : ",") + std::string(c.key);
  return h;
}

std::string csv_row(const ResultRecord& record) {
  std::string row;
  for (const auto& c : kCsvColumns) {
    if (&c != kCsvColumns) row += ",";
    row += c.cell(record);
  }
  return row;
}

}  // namespace ssmsim::reports
