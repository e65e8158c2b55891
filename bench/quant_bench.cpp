// Throughput of quant/'s bit-accurate kernels against SystemC's fixed-point types doing the same
// operation with the same rounding and overflow modes:
//   (a) requantize an int32 accumulator (s32.16) to an int8 activation (s8.4), HalfEven/Saturate
//       (SystemC: SC_RND_CONV/SC_SAT), with a prebuilt quant::Requantizer (per element and on
//       the whole buffer), sc_fixed<> and sc_fix;
//   (b) the complex MAC of the state update x' = a*x + b in 16-bit fixed point (a s16.15,
//       x, b, x' s16.12), one rounding per part, with quant::cmac and sc_fixed<>.
// Each implementation reads its own native representation of the inputs (raw integers for quant,
// prebuilt sc_fixed / sc_fix objects for SystemC) from a buffer of seeded values and writes its
// native result. The outputs are checked to be bit-identical before anything is timed.
//
// After the Google Benchmark table, main() prints a summary with the operations per second of
// each implementation and the speed-up quant / sc_fixed against the target of 50x. Requantize is
// measured both per element (Requantizer::operator()) and on the buffer (Requantizer::apply, the
// form for whole tensors); the target is judged on the buffer form.
#define SC_INCLUDE_FX
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <systemc>
#include <vector>

#include "quant/arith.hpp"
#include "quant/format.hpp"
#include "quant/requantize.hpp"

// libsystemc.so references sc_main; this program has its own main() and never elaborates.
int sc_main(int, char**) { return 0; }

namespace {

namespace sd = sc_dt;
namespace q = ssmsim::quant;

constexpr size_t kN = 4096;       // values per buffer (one benchmark iteration)
constexpr double kTarget = 50.0;  // required speed-up of quant over sc_fixed

// ----- (a) requantize s32.16 -> s8.4 ------------------------------------------------------------

const q::Format kAcc = q::Format::fixed(true, 32, 16);
const q::Format kAct = q::Format::fixed(true, 8, 4);
using AccFixed = sd::sc_fixed<32, 16>;
using ActFixed = sd::sc_fixed<8, 4, sd::SC_RND_CONV, sd::SC_SAT>;
const sd::sc_fxtype_params kAccParams(32, 16, sd::SC_TRN, sd::SC_WRAP);
const sd::sc_fxtype_params kActParams(8, 4, sd::SC_RND_CONV, sd::SC_SAT);

// ----- (b) complex MAC x' = a*x + b
// ---------------------------------------------------------------

const q::Format kA = q::Format::fixed(true, 16, 15);  // Lambda_bar, |a| < 1
const q::Format kX = q::Format::fixed(true, 16, 12);  // state x, input term b, result x'
using AFixed = sd::sc_fixed<16, 1>;
using XFixed = sd::sc_fixed<16, 4>;
using XOutFixed = sd::sc_fixed<16, 4, sd::SC_RND_CONV, sd::SC_SAT>;

struct ScComplexA {
  AFixed re, im;
};
struct ScComplexX {
  XFixed re, im;
};
struct ScComplexOut {
  XOutFixed re, im;
};

// The exact value raw * 2^-frac as an sc_fxval (no double involved).
sd::sc_fxval exact_value(int64_t raw, int frac) {
  return sd::sc_fxval(static_cast<sd::int64>(raw)) >> frac;
}

// The raw integer held by a SystemC word: its bits, sign-extended.
int64_t raw_bits(const sd::sc_fxnum& f, int width) {
  auto bits = static_cast<uint64_t>(f.range(width - 1, 0).to_uint64());
  bits &= (uint64_t{1} << width) - 1;
  if ((bits >> (width - 1)) & 1) bits |= ~uint64_t{0} << width;
  return static_cast<int64_t>(bits);
}

struct Data {
  std::vector<int32_t> acc;         // quant: raw accumulators
  std::vector<AccFixed> acc_fixed;  // SystemC: the same values as sc_fixed<32,16>
  std::vector<sd::sc_fix> acc_fix;  // SystemC: the same values as run-time sc_fix(32,16)
  std::vector<q::Complex> a, x, b;  // quant: raw parts
  std::vector<ScComplexA> a_fixed;  // SystemC: the same values
  std::vector<ScComplexX> x_fixed, b_fixed;

  Data() {
    std::mt19937_64 rng(20250101);
    // accumulators over +-16.0: about half of them saturate in s8.4 (+-8.0); many exact ties
    std::uniform_int_distribution<int32_t> acc_dist(-(1 << 20), 1 << 20);
    for (size_t i = 0; i < kN; ++i) {
      int32_t v = acc_dist(rng);
      if (i % 4 == 0) v = (v & ~0xfff) | 0x800;  // an exact tie of the 12-bit rounding shift
      acc.push_back(v);
      acc_fixed.emplace_back(exact_value(v, 16));
      acc_fix.emplace_back(exact_value(v, 16), kAccParams);
    }
    // |a| < 1 (a stable eigenvalue), x and b over most of the s16.12 range
    std::uniform_int_distribution<int64_t> a_dist(-32000, 32000), x_dist(-30000, 30000);
    for (size_t i = 0; i < kN; ++i) {
      a.push_back({a_dist(rng), a_dist(rng)});
      x.push_back({x_dist(rng), x_dist(rng)});
      b.push_back({x_dist(rng), x_dist(rng)});
      a_fixed.push_back({AFixed(exact_value(a[i].re, 15)), AFixed(exact_value(a[i].im, 15))});
      x_fixed.push_back({XFixed(exact_value(x[i].re, 12)), XFixed(exact_value(x[i].im, 12))});
      b_fixed.push_back({XFixed(exact_value(b[i].re, 12)), XFixed(exact_value(b[i].im, 12))});
    }
  }
};

const Data& data() {
  static const Data d;
  return d;
}

// ----- the kernels, shared by the check and the benchmarks -------------------------------------

void requantize_quant(const q::Requantizer& rq, const std::vector<int32_t>& in,
                      std::vector<int8_t>& out, uint64_t* events) {
  for (size_t i = 0; i < in.size(); ++i) out[i] = static_cast<int8_t>(rq(in[i], events));
}

void requantize_quant_apply(const q::Requantizer& rq, const std::vector<int32_t>& in,
                            std::vector<int8_t>& out, uint64_t* events) {
  rq.apply(in.data(), out.data(), in.size(), events);
}

void requantize_sc_fixed(const std::vector<AccFixed>& in, std::vector<ActFixed>& out) {
  for (size_t i = 0; i < in.size(); ++i) out[i] = in[i];
}

void requantize_sc_fix(const std::vector<sd::sc_fix>& in, std::vector<sd::sc_fix>& out) {
  for (size_t i = 0; i < in.size(); ++i) out[i] = in[i];  // out[i] carries kActParams
}

void cmac_quant(const Data& d, std::vector<q::Complex>& out, uint64_t* events) {
  for (size_t i = 0; i < kN; ++i)
    out[i] = q::cmac(d.b[i], kX, d.a[i], kA, d.x[i], kX, kX, q::Rounding::HalfEven,
                     q::Overflow::Saturate, events);
}

void cmac_sc_fixed(const Data& d, std::vector<ScComplexOut>& out) {
  for (size_t i = 0; i < kN; ++i) {
    const ScComplexA& a = d.a_fixed[i];
    const ScComplexX& x = d.x_fixed[i];
    const ScComplexX& b = d.b_fixed[i];
    // sc_fxval products and sums are exact; the assignment rounds once per part
    out[i].re = a.re * x.re - a.im * x.im + b.re;
    out[i].im = a.re * x.im + a.im * x.re + b.im;
  }
}

std::vector<sd::sc_fix> sc_fix_outputs() {
  return std::vector<sd::sc_fix>(kN, sd::sc_fix(kActParams));
}

// ----- the bit-identity check -------------------------------------------------------------------

[[noreturn]] void mismatch(const char* what, size_t i, int64_t quant, int64_t sc) {
  std::fprintf(stderr,
               "quant_bench: %s: element %zu differs (%lld vs %lld); the outputs must be"
               " bit-identical, so the comparison is void\n",
               what, i, static_cast<long long>(quant), static_cast<long long>(sc));
  std::abort();
}

void check_bit_identical() {
  const Data& d = data();
  const q::Requantizer rq(kAcc, kAct, q::Rounding::HalfEven, q::Overflow::Saturate);
  std::vector<int8_t> out_q(kN);
  std::vector<ActFixed> out_fixed(kN);
  std::vector<sd::sc_fix> out_fix = sc_fix_outputs();
  std::vector<int8_t> out_apply(kN);
  uint64_t events = 0, apply_events = 0;
  requantize_quant(rq, d.acc, out_q, &events);
  requantize_quant_apply(rq, d.acc, out_apply, &apply_events);
  requantize_sc_fixed(d.acc_fixed, out_fixed);
  requantize_sc_fix(d.acc_fix, out_fix);
  for (size_t i = 0; i < kN; ++i) {
    if (out_q[i] != raw_bits(out_fixed[i], 8))
      mismatch("requantize vs sc_fixed", i, out_q[i], raw_bits(out_fixed[i], 8));
    if (out_q[i] != raw_bits(out_fix[i], 8))
      mismatch("requantize vs sc_fix", i, out_q[i], raw_bits(out_fix[i], 8));
    if (out_apply[i] != out_q[i]) mismatch("Requantizer::apply", i, out_apply[i], out_q[i]);
  }
  if (apply_events != events)
    mismatch("Requantizer::apply event count", 0, static_cast<int64_t>(apply_events),
             static_cast<int64_t>(events));
  if (events == 0 || events == kN) {
    std::fprintf(stderr, "quant_bench: the requantize data should saturate sometimes\n");
    std::abort();
  }

  std::vector<q::Complex> cq(kN);
  std::vector<ScComplexOut> cs(kN);
  uint64_t cevents = 0;
  cmac_quant(d, cq, &cevents);
  cmac_sc_fixed(d, cs);
  for (size_t i = 0; i < kN; ++i) {
    if (cq[i].re != raw_bits(cs[i].re, 16))
      mismatch("cmac (real part) vs sc_fixed", i, cq[i].re, raw_bits(cs[i].re, 16));
    if (cq[i].im != raw_bits(cs[i].im, 16))
      mismatch("cmac (imaginary part) vs sc_fixed", i, cq[i].im, raw_bits(cs[i].im, 16));
  }
}

// ----- benchmarks
// ---------------------------------------------------------------------------------

void BM_Requantize_quant(benchmark::State& state) {
  const Data& d = data();
  const q::Requantizer rq(kAcc, kAct, q::Rounding::HalfEven, q::Overflow::Saturate);
  std::vector<int8_t> out(kN);
  uint64_t events = 0;
  for (auto _ : state) {
    requantize_quant(rq, d.acc, out, &events);
    benchmark::DoNotOptimize(out.data());
    benchmark::DoNotOptimize(events);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(kN));
}

void BM_Requantize_quant_apply(benchmark::State& state) {
  const Data& d = data();
  const q::Requantizer rq(kAcc, kAct, q::Rounding::HalfEven, q::Overflow::Saturate);
  std::vector<int8_t> out(kN);
  uint64_t events = 0;
  for (auto _ : state) {
    requantize_quant_apply(rq, d.acc, out, &events);
    benchmark::DoNotOptimize(out.data());
    benchmark::DoNotOptimize(events);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(kN));
}

void BM_Requantize_sc_fixed(benchmark::State& state) {
  const Data& d = data();
  std::vector<ActFixed> out(kN);
  for (auto _ : state) {
    requantize_sc_fixed(d.acc_fixed, out);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(kN));
}

void BM_Requantize_sc_fix(benchmark::State& state) {
  const Data& d = data();
  std::vector<sd::sc_fix> out = sc_fix_outputs();
  for (auto _ : state) {
    requantize_sc_fix(d.acc_fix, out);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(kN));
}

void BM_ComplexMac_quant(benchmark::State& state) {
  const Data& d = data();
  std::vector<q::Complex> out(kN);
  uint64_t events = 0;
  for (auto _ : state) {
    cmac_quant(d, out, &events);
    benchmark::DoNotOptimize(out.data());
    benchmark::DoNotOptimize(events);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(kN));
}

void BM_ComplexMac_sc_fixed(benchmark::State& state) {
  const Data& d = data();
  std::vector<ScComplexOut> out(kN);
  for (auto _ : state) {
    cmac_sc_fixed(d, out);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(kN));
}

BENCHMARK(BM_Requantize_quant);
BENCHMARK(BM_Requantize_quant_apply);
BENCHMARK(BM_Requantize_sc_fixed);
BENCHMARK(BM_Requantize_sc_fix);
BENCHMARK(BM_ComplexMac_quant);
BENCHMARK(BM_ComplexMac_sc_fixed);

// The console table, plus the best operations per second (real time) of every benchmark.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.run_type != Run::RT_Iteration || r.error_occurred || r.real_accumulated_time <= 0)
        continue;
      const double ops =
          static_cast<double>(r.iterations) * static_cast<double>(kN) / r.real_accumulated_time;
      double& best = ops_per_s_[r.run_name.function_name];
      best = std::max(best, ops);
    }
    ConsoleReporter::ReportRuns(runs);
  }
  double ops(const std::string& name) const {
    const auto it = ops_per_s_.find(name);
    return it == ops_per_s_.end() ? 0.0 : it->second;
  }

 private:
  std::map<std::string, double> ops_per_s_;
};

void print_summary(const SummaryReporter& rep) {
  const double rq_apply = rep.ops("BM_Requantize_quant_apply");
  const double rq_elem = rep.ops("BM_Requantize_quant");
  const double rq_fixed = rep.ops("BM_Requantize_sc_fixed");
  const double rq_fix = rep.ops("BM_Requantize_sc_fix");
  const double cm_q = rep.ops("BM_ComplexMac_quant");
  const double cm_fixed = rep.ops("BM_ComplexMac_sc_fixed");
  if (rq_apply == 0 || rq_elem == 0 || rq_fixed == 0 || rq_fix == 0 || cm_q == 0 || cm_fixed == 0) {
    std::printf("\n(the summary needs every benchmark: run without --benchmark_filter)\n");
    return;
  }
  // the requantize target is judged on the buffer form, Requantizer::apply: the form a tensor is
  // requantized with; the per-element call is shown beside it
  const double rq_ratio = rq_apply / rq_fixed, cm_ratio = cm_q / cm_fixed;
  const char* rq_met = rq_ratio >= kTarget ? "met" : "NOT met";
  const char* cm_met = cm_ratio >= kTarget ? "met" : "NOT met";
  std::printf("\n==== quant vs SystemC (ops/s: best real time, %zu seeded values per pass) ====\n",
              kN);
  std::printf("requantize s32.16 -> s8.4, HalfEven/Saturate (SC_RND_CONV/SC_SAT)\n");
  std::printf("  quant Requantizer::apply (buffer)   %10.3e ops/s\n", rq_apply);
  std::printf("  quant Requantizer per element       %10.3e ops/s\n", rq_elem);
  std::printf("  sc_fixed<8,4,SC_RND_CONV,SC_SAT>    %10.3e ops/s\n", rq_fixed);
  std::printf("  sc_fix (run-time parameters)        %10.3e ops/s\n", rq_fix);
  std::printf("  speed-up quant/sc_fixed: %.1fx (per element %.1fx); quant/sc_fix: %.1fx\n",
              rq_ratio, rq_elem / rq_fixed, rq_apply / rq_fix);
  std::printf("complex MAC x' = a*x + b, a s16.15, x b x' s16.12, HalfEven/Saturate\n");
  std::printf("  quant cmac                          %10.3e ops/s\n", cm_q);
  std::printf("  sc_fixed<16,...> (exact sc_fxval)   %10.3e ops/s\n", cm_fixed);
  std::printf("  speed-up quant/sc_fixed: %.1fx\n", cm_ratio);
  std::printf("target >= %.0fx: %s (requantize %.1fx %s, complex MAC %.1fx %s)\n", kTarget,
              rq_ratio >= kTarget && cm_ratio >= kTarget ? "met" : "NOT met", rq_ratio, rq_met,
              cm_ratio, cm_met);
  std::printf("outputs: bit-identical to SystemC on all %zu values (checked before timing)\n", kN);
}

}  // namespace

int main(int argc, char** argv) {
  check_bit_identical();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  print_summary(reporter);
  return 0;
}
