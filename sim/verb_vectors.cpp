// `ssmsim vectors`: RTL test vectors of one sequence, or --check of a vector folder.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "hw_models/hw_config.hpp"
#include "quant/errors.hpp"
#include "sim/config.hpp"
#include "sim/vectors.hpp"
#include "sim/verb_common.hpp"
#include "ssm_core/qmodel.hpp"

namespace ssmsim::sim {

int run_vectors(const Invocation& inv) {
  const auto& o = inv.options;
  auto load_q = [](const std::string& path) {
    if (!std::filesystem::exists(path)) throw InputError("vectors: " + path + " does not exist");
    if (!core::is_qmodel_file(path))
      throw InputError("vectors: " + path + " is a float checkpoint; vectors come from a quantized model (ssmsim quantize)");
    return core::load_qmodel(path);
  };
  if (o.count("check")) {
    const std::filesystem::path dir = o["check"].as<std::string>();
    const VectorSource src = vector_source(dir);
    const core::QModel q = load_q(src.checkpoint);
    hw::HwConfig hwc = hw::HwConfig::from_yaml(load_yaml_file(src.hw));
    const workloads::Workload w = load_data(inv, inv.err, src.workload);
    const CheckResult r = check_vectors(dir, q, hwc, w.test);
    if (!r.ok) {
      inv.err << "vectors --check: mismatch in " << r.first_mismatch << "\n";
      return 1;
    }
    inv.out << fmt::format("vectors --check {}: {} files, {} values equal to the C-model\n", dir.string(), r.files, r.values);
    return 0;
  }
  for (const char* req : {"ckpt", "hw", "workload", "out-dir"})
    if (!o.count(req)) throw InputError(std::string("vectors: the option '--") + req + "' is required (or --check D)");
  VectorOptions vo;
  vo.checkpoint = o["ckpt"].as<std::string>();
  vo.hw_file = o["hw"].as<std::string>();
  vo.workload = o["workload"].as<std::string>();
  vo.out_dir = o["out-dir"].as<std::string>();
  // a negative index reaches here as a huge unsigned one (the option is unsigned): refused
  vo.index = o["index"].as<size_t>();
  if (vo.index > static_cast<size_t>(INT64_MAX))
    throw InputError(fmt::format("vectors: --index {}: expected a non-negative integer (a test-set sequence)",
                                 static_cast<int64_t>(vo.index)));
  if (o.count("units")) {
    std::stringstream ss(o["units"].as<std::string>());
    for (std::string u; std::getline(ss, u, ',');) vo.units.insert(u);
  }
  if (o.count("steps")) {
    const std::string s = o["steps"].as<std::string>();
    const auto colon = s.find(':');
    try {
      // digits only: stoul would take "-1" as a huge step and " 3" or "3x" as 3
      const std::string a = s.substr(0, colon == std::string::npos ? 0 : colon),
                        b = colon == std::string::npos ? "" : s.substr(colon + 1);
      for (const std::string& part : {a, b})
        if (part.empty() || part.size() > 18 || part.find_first_not_of("0123456789") != std::string::npos)
          throw std::invalid_argument(s);
      vo.step_begin = std::stoul(a);
      vo.step_end = std::stoul(b);
    } catch (const std::exception&) {
      throw InputError("vectors: --steps '" + s + "': expected A:B (time steps A to B-1), e.g. 0:32");
    }
  }
  const core::QModel q = load_q(vo.checkpoint);
  const hw::HwConfig hwc = inv.config.get<hw::HwConfig>("hw");
  const workloads::Workload w = load_data(inv, inv.err);
  const size_t files = export_vectors(q, hwc, w.test, vo);
  inv.out << fmt::format("vectors: {} files and manifest.json for test sequence {} of '{}' -> {}\n", files, vo.index,
                         w.name, vo.out_dir.string());
  return 0;
}

}  // namespace ssmsim::sim
