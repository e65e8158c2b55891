// Integer evaluation of a quantized model over a set: QEngine's chunks on threads (and ranks), in
// set order.
#include <algorithm>
#include <thread>

#include "ssm_core/qmodel.hpp"
#include "ssm_core/trainer.hpp"

namespace ssmsim::core {

QEvalResult evaluate_quantized(const QModel& model, const SequenceSet& set, size_t num_classes, size_t limit,
                               size_t threads, const Ranks& ranks) {
  const QEngine engine(model);
  const size_t n = limit ? std::min(limit, set.n) : set.n;
  const size_t nchunks = (n + kLanes - 1) / kLanes;
  threads = std::min(rank_threads(ranks, threads), std::max<size_t>(nchunks, 1));
  std::vector<QChunkResult> results(nchunks);
  std::vector<quant::SaturationCounters> counters(threads);
  std::vector<std::unique_ptr<QWorkspace>> ws;
  for (size_t w = 0; w < threads; ++w) ws.push_back(engine.make_workspace());
  std::vector<size_t> idx(n);
  for (size_t i = 0; i < n; ++i) idx[i] = i;
  RankedChunks work;
  work.run = [&](size_t c, size_t w) {
    const size_t begin = c * kLanes;
    results[c] = engine.run_chunk(make_chunk(set, &idx[begin], std::min(kLanes, n - begin)), *ws[w], counters[w]);
  };
  work.pack = [&](size_t c, Packer& p) { p.put(results[c].logits).put(results[c].predicted).put(results[c].count); };
  work.unpack = [&](size_t c, Unpacker& u) { u.get(results[c].logits).get(results[c].predicted).get(results[c].count); };
  run_chunks(ranks, nchunks, threads, work);
  QEvalResult r;
  r.count = n;
  r.confusion.assign(num_classes * num_classes, 0);
  size_t correct = 0;
  for (size_t c = 0; c < nchunks; ++c) {
    r.logits.insert(r.logits.end(), results[c].logits.begin(), results[c].logits.end());
    for (size_t l = 0; l < results[c].predicted.size(); ++l) {
      const int32_t p = results[c].predicted[l];
      const int32_t y = set.labels[c * kLanes + l];
      r.predicted.push_back(p);
      correct += p == y;
      if (y >= 0 && static_cast<size_t>(y) < num_classes && p >= 0 && static_cast<size_t>(p) < num_classes)
        ++r.confusion[static_cast<size_t>(y) * num_classes + static_cast<size_t>(p)];
    }
  }
  for (const auto& c : counters) r.saturation.merge(c);
  if (ranks.size() > 1) {  // every rank's counts (sums: the order does not matter)
    Packer p;
    for (const auto& [tensor, count] : r.saturation.all()) p.put(tensor).put(count);
    const std::vector<std::string> all = ranks.gather_each(p.take());
    for (size_t k = 0; k < all.size(); ++k) {
      if (k == ranks.rank()) continue;
      Unpacker u(all[k]);
      while (u.position() < all[k].size()) {
        std::string tensor;
        uint64_t count = 0;
        u.get(tensor).get(count);
        *r.saturation.slot(tensor) += count;
      }
    }
  }
  r.accuracy = n ? static_cast<double>(correct) / static_cast<double>(n) : 0;
  return r;
}

}  // namespace ssmsim::core
