#include "ssm_core/ranks.hpp"

#include <algorithm>
#include <stdexcept>
#include <thread>
#ifdef __linux__
#include <sched.h>
#endif

#include "ssm_core/trainer.hpp"

namespace ssmsim::core {

const Ranks& one_process() {
  static const Ranks alone;
  return alone;
}

size_t usable_cores() {
#ifdef __linux__
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return static_cast<size_t>(CPU_COUNT(&set));
#endif
  return std::max(1u, std::thread::hardware_concurrency());
}

size_t rank_threads(const Ranks& ranks, size_t threads) {
  if (threads) return threads;
  const size_t share = std::max(1u, std::thread::hardware_concurrency()) / std::max<size_t>(1, ranks.on_this_host());
  return std::max<size_t>(1, std::min(usable_cores(), share));
}

const char* Unpacker::take(size_t n) {
  if (n > bytes_.size() - pos_) fail();
  const char* p = bytes_.data() + pos_;
  pos_ += n;
  return p;
}

void Unpacker::fail() const {
  throw std::logic_error("a chunk's results from another rank do not have the layout this rank expects "
                         "(the ranks must run the same ssmsim binary)");
}

void all_gather(const Ranks& ranks, std::vector<std::string>& items) {
  const size_t K = ranks.size(), n = items.size();
  if (K == 1) return;
  Packer mine;
  for (size_t i = ranks.rank(); i < n; i += K) mine.put(items[i]);
  const std::vector<std::string> all = ranks.gather_each(mine.take());
  for (size_t r = 0; r < K; ++r) {
    if (r == ranks.rank()) continue;
    Unpacker in(all.at(r));
    for (size_t i = r; i < n; i += K) in.get(items[i]);
    in.finish();
  }
}

void run_chunks(const Ranks& ranks, size_t n, size_t threads, const RankedChunks& work) {
  if (ranks.size() == 1) {
    parallel_for(n, threads, work.run);
    return;
  }
  std::vector<size_t> mine;
  for (size_t c = ranks.rank(); c < n; c += ranks.size()) mine.push_back(c);
  std::vector<std::string> items(n);
  parallel_for(mine.size(), threads, [&](size_t k, size_t w) {
    work.run(mine[k], w);
    Packer p;
    work.pack(mine[k], p);
    items[mine[k]] = p.take();
  });
  all_gather(ranks, items);
  for (size_t c = 0; c < n; ++c)
    if (!ranks.owns(c)) {
      Unpacker in(items[c]);
      work.unpack(c, in);
      in.finish();
    }
}

}  // namespace ssmsim::core
