// `ssmsim quantize`: post-training quantization of a float checkpoint to a quantized model.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "quant/precision.hpp"
#include "sim/verb_common.hpp"
#include "ssm_core/checkpoint.hpp"
#include "ssm_core/qmodel.hpp"

namespace ssmsim::sim {

int run_quantize(const Invocation& inv) {
  const auto& o = inv.options;
  const std::string path = o["ckpt"].as<std::string>();
  const core::FloatCheckpoint ck = core::load_checkpoint(path);
  const quant::PrecisionConfig prec = inv.config.get<quant::PrecisionConfig>("precision");
  const std::string workload = checkpoint_workload(inv, ck, path, "quantize");
  const workloads::Workload w = load_data(inv, inv.err, workload);
  const core::PtqOptions opt = ptq_options(inv);
  const auto t0 = std::chrono::steady_clock::now();
  core::QModel q = core::quantize_ptq(ck, prec, w.train, opt);
  q.metadata["source.checkpoint"] = path;
  q.metadata["data.workload"] = workload;
  q.metadata["quantize.method"] = "ptq";
  const std::string out = o["out"].as<std::string>();
  core::save_qmodel(out, q);
  inv.err << fmt::format("calibrated on {} '{}' training sequences ({:.1f} s)\n", std::min(opt.calib, w.train.n),
                         workload, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  for (const auto& [name, t] : q.tensors)  // a code clipped at quantization is named, not silent
    if (t.saturated) inv.err << core::saturation_warning(name, t, prec) << "\n";
  inv.out << fmt::format("quantized {} with precision '{}' (PTQ) -> {}\n", path, prec.name(), out);
  return 0;
}

}  // namespace ssmsim::sim
