// quant::requantize and quant::Requantizer against SystemC's fixed-point types (IEEE 1666 sc_fix /
// sc_ufix), the reference the arithmetic contract (docs/fixed_point.md) is stated against.
//
// Mode mapping (ssmsim -> SystemC):
//   Rounding::Floor          SC_TRN          Overflow::Wrap               SC_WRAP, n_bits 0
//   Rounding::TowardZero     SC_TRN_ZERO     Overflow::Saturate           SC_SAT
//   Rounding::HalfUp         SC_RND          Overflow::SaturateSymmetric  SC_SAT_SYM
//   Rounding::HalfDown       SC_RND_MIN_INF
//   Rounding::HalfEven       SC_RND_CONV
//   Rounding::HalfAway       SC_RND_INF
//   Rounding::HalfTowardZero SC_RND_ZERO
// SystemC overflow modes with no ssmsim counterpart, hence not tested: SC_SAT_ZERO (an overflow
// gives 0), SC_WRAP_SM (sign-magnitude wrap) and SC_WRAP with n_bits > 0 (saturate the top bits).
// Every SystemC quantization mode has a counterpart.
//
// SC_SAT_SYM and the signed minimum: SystemC 2.3.4 clamps an in-range -2^(w-1) to -(2^(w-1)-1),
// exactly as ssmsim's SaturateSymmetric does (the range is symmetric, so a hardware negation never
// overflows); the exhaustive tests below check that case like every other input, and
// SaturateSymmetricClampsTheSignedMinimumExactlyLikeScSatSym states it on its own.
//
// The oracle is exact: a raw value enters SystemC as an sc_fxval built from its integer bits and a
// binary-point shift (which only moves the exponent), never through double; SystemC then applies
// its quantization and overflow modes when the value is assigned to an sc_fix / sc_ufix of
// word length `width` and integer word length iwl = width - frac. The raw result is read back from
// the word's bits. An overflow event is expected exactly when SystemC's result differs from the
// same value rounded into a word too wide to overflow.
#define SC_INCLUDE_FX
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <ostream>
#include <random>
#include <iterator>
#include <sstream>
#include <string>
#include <systemc>
#include <vector>

#include "quant/format.hpp"
#include "quant/requantize.hpp"
#include "tests/support/testing.hpp"

namespace {

namespace sd = sc_dt;
using ssmsim::quant::Format;
using ssmsim::quant::Overflow;
using ssmsim::quant::Requantizer;
using ssmsim::quant::Rescale;
using ssmsim::quant::Rounding;
using ssmsim::quant::uwide_t;
using ssmsim::quant::wide_t;

struct RoundingPair {
  Rounding mode;
  sd::sc_q_mode sc;
  const char* name;
};
struct OverflowPair {
  Overflow mode;
  sd::sc_o_mode sc;
  const char* name;
};

constexpr RoundingPair kRoundings[] = {
    {Rounding::Floor, sd::SC_TRN, "Floor"},
    {Rounding::TowardZero, sd::SC_TRN_ZERO, "TowardZero"},
    {Rounding::HalfUp, sd::SC_RND, "HalfUp"},
    {Rounding::HalfDown, sd::SC_RND_MIN_INF, "HalfDown"},
    {Rounding::HalfEven, sd::SC_RND_CONV, "HalfEven"},
    {Rounding::HalfAway, sd::SC_RND_INF, "HalfAway"},
    {Rounding::HalfTowardZero, sd::SC_RND_ZERO, "HalfTowardZero"},
};
constexpr OverflowPair kOverflows[] = {
    {Overflow::Wrap, sd::SC_WRAP, "Wrap"},
    {Overflow::Saturate, sd::SC_SAT, "Saturate"},
    {Overflow::SaturateSymmetric, sd::SC_SAT_SYM, "SaturateSymmetric"},
};
// A mode added to quant/ must get its SystemC counterpart here (or a documented exception).
static_assert(std::size(kRoundings) == std::size(ssmsim::quant::kAllRoundings));
static_assert(std::size(kOverflows) == std::size(ssmsim::quant::kAllOverflows));

struct ModePair {
  RoundingPair rounding;
  OverflowPair overflow;
};

// How GoogleTest prints a parameter in a failure message.
void PrintTo(const ModePair& m, std::ostream* os) {
  *os << m.rounding.name << "/" << m.overflow.name;
}

std::vector<ModePair> all_mode_pairs() {
  std::vector<ModePair> pairs;
  for (const auto& r : kRoundings)
    for (const auto& o : kOverflows) pairs.push_back({r, o});
  return pairs;
}

std::string to_dec(wide_t v) {
  if (v == 0) return "0";
  const bool neg = v < 0;
  uwide_t m = neg ? uwide_t{0} - static_cast<uwide_t>(v) : static_cast<uwide_t>(v);
  std::string s;
  while (m) {
    s.insert(s.begin(), static_cast<char>('0' + static_cast<int>(m % 10)));
    m /= 10;
  }
  return neg ? "-" + s : s;
}

// The exact value raw * 2^-frac as an sc_fxval: the integer enters as int64 pieces (exact), the
// binary point is a shift (exact: it only changes the exponent).
sd::sc_fxval to_sc(wide_t raw, int frac) {
  sd::sc_fxval v;
  if (raw >= std::numeric_limits<int64_t>::min() && raw <= std::numeric_limits<int64_t>::max()) {
    v = sd::sc_fxval(static_cast<sd::int64>(raw));
  } else {
    const sd::sc_fxval hi(static_cast<sd::int64>(raw >> 64));
    const sd::sc_fxval lo(static_cast<sd::uint64>(static_cast<uwide_t>(raw) & ~uint64_t{0}));
    v = (hi << 64) + lo;
  }
  if (frac >= 0) return v >> frac;
  return v << -frac;
}

// The raw integer held by a SystemC word of `width` bits: its bits, sign-extended when signed.
// (sc_fxval::to_int64 is not used: SystemC 2.3.4 returns 0 for some exact powers of two.)
int64_t raw_bits(const sd::sc_fxnum& f, int width, bool is_signed) {
  auto bits = static_cast<uint64_t>(f.range(width - 1, 0).to_uint64());
  if (width < 64) bits &= (uint64_t{1} << width) - 1;
  if (is_signed && width < 64 && ((bits >> (width - 1)) & 1) != 0) bits |= ~uint64_t{0} << width;
  return static_cast<int64_t>(bits);
}

// Integer bits of the "too wide to overflow" word that holds the exactly rounded value.
constexpr int kExactIwl = 400;

// v rounded to `frac` fraction bits with SystemC's quantization mode and no overflow possible.
sd::sc_fxval round_exact(const sd::sc_fxval& v, int frac, sd::sc_q_mode q) {
  const sd::sc_fix f(v, sd::sc_fxtype_params(kExactIwl + frac, kExactIwl, q, sd::SC_WRAP));
  return f.value();
}

struct ScResult {
  int64_t raw = 0;
  bool overflowed = false;  // the overflow mode changed the exactly rounded value
};

// SystemC's cast of v into `to`, with the rounded reference for the overflow decision.
ScResult sc_cast(const sd::sc_fxval& v, const Format& to, const ModePair& m,
                 const sd::sc_fxval& rounded) {
  const sd::sc_fxtype_params p(to.width, to.width - to.frac(), m.rounding.sc, m.overflow.sc, 0);
  if (to.is_signed) {
    const sd::sc_fix f(v, p);
    return {raw_bits(f, to.width, true), f.value() != rounded};
  }
  const sd::sc_ufix f(v, p);
  return {raw_bits(f, to.width, false), f.value() != rounded};
}

// Collects mismatches without flooding the log: the count, and the first few spelled out.
class Mismatches {
 public:
  void check(const char* what, wide_t raw, const Format& from, const Format& to, const ModePair& m,
             const ScResult& want, int64_t got, uint64_t events) {
    ++cases_;
    if (got == want.raw && events == (want.overflowed ? 1u : 0u)) return;
    if (++count_ > 12) return;
    std::ostringstream os;
    os << what << ": raw " << to_dec(raw) << " " << from.to_string() << " -> " << to.to_string()
       << " " << m.rounding.name << "/" << m.overflow.name << ": SystemC " << want.raw
       << (want.overflowed ? " (overflowed)" : "") << ", ssmsim " << got << " with " << events
       << " event(s)\n";
    examples_ += os.str();
  }
  // The event total of a batch.
  void check_events(const char* what, const Format& from, const Format& to, const ModePair& m,
                    uint64_t want, uint64_t got) {
    ++cases_;
    if (got == want) return;
    if (++count_ > 12) return;
    std::ostringstream os;
    os << what << ": " << from.to_string() << " -> " << to.to_string() << " " << m.rounding.name
       << "/" << m.overflow.name << ": SystemC overflowed " << want << " times, ssmsim counted "
       << got << " events\n";
    examples_ += os.str();
  }
  uint64_t count() const { return count_; }
  uint64_t cases() const { return cases_; }
  const std::string& examples() const { return examples_; }

 private:
  uint64_t count_ = 0;
  uint64_t cases_ = 0;
  std::string examples_;
};

// Checks the free function and a prebuilt Requantizer for one input against SystemC.
void check_both(Mismatches& mm, const Requantizer& rq, wide_t raw, const Format& from,
                const Format& to, const ModePair& m, const ScResult& want) {
  uint64_t ev_fn = 0, ev_rq = 0;
  const int64_t got_fn =
      ssmsim::quant::requantize(raw, from, to, m.rounding.mode, m.overflow.mode, &ev_fn);
  mm.check("requantize", raw, from, to, m, want, got_fn, ev_fn);
  const int64_t got_rq = rq(raw, &ev_rq);
  mm.check("Requantizer", raw, from, to, m, want, got_rq, ev_rq);
}

std::string mode_pair_name(const ::testing::TestParamInfo<ModePair>& info) {
  return std::string(info.param.rounding.name) + "_" + info.param.overflow.name;
}

// ---------------------------------------------------------------------------------------------
// Exhaustive: every input of every source format up to 10 bits.

class RequantizeExhaustive : public ::testing::TestWithParam<ModePair> {};

TEST_P(RequantizeExhaustive, MatchesScFixForEveryInputOfEveryFormatUpTo10Bits) {
  const ModePair m = GetParam();
  Mismatches mm;
  // Destination binary point relative to the source one: narrowing (d < 0: rounding) and
  // widening (d > 0: overflow) shifts.
  const int kShifts[] = {-9, -5, -3, -2, -1, 0, 1, 2, 4, 7};
  for (const bool src_signed : {true, false}) {
    for (int ws = 1; ws <= 10; ++ws) {
      // Source binary points: negative, zero, inside the word, beyond the word.
      std::vector<int> src_fracs{-3, 0, 1, ws / 2, ws, ws + 2};
      std::sort(src_fracs.begin(), src_fracs.end());
      src_fracs.erase(std::unique(src_fracs.begin(), src_fracs.end()), src_fracs.end());
      for (const int fs : src_fracs) {
        const Format from = Format::fixed(src_signed, ws, fs);
        std::vector<wide_t> raws;
        std::vector<int16_t> raws16;
        std::vector<sd::sc_fxval> values;
        for (int64_t r = from.min_raw(); r <= from.max_raw(); ++r) {
          raws.push_back(r);
          raws16.push_back(static_cast<int16_t>(r));
          values.push_back(to_sc(r, fs));
        }
        std::vector<int16_t> out16(raws.size());
        for (const int d : kShifts) {
          const int fd = fs + d;
          std::vector<sd::sc_fxval> rounded;
          rounded.reserve(values.size());
          for (const auto& v : values) rounded.push_back(round_exact(v, fd, m.rounding.sc));
          for (const bool dst_signed : {true, false}) {
            for (int wd = 1; wd <= 10; ++wd) {
              const Format to = Format::fixed(dst_signed, wd, fd);
              const Requantizer rq(from, to, m.rounding.mode, m.overflow.mode);
              // the batch form over the whole input range (its vector loop and its tail)
              uint64_t batch_events = 0, want_events = 0;
              rq.apply(raws16.data(), out16.data(), raws16.size(), &batch_events);
              for (size_t i = 0; i < raws.size(); ++i) {
                const ScResult want = sc_cast(values[i], to, m, rounded[i]);
                check_both(mm, rq, raws[i], from, to, m, want);
                mm.check("Requantizer::apply", raws[i], from, to, m, {want.raw, false}, out16[i],
                         0);
                want_events += want.overflowed ? 1u : 0u;
              }
              mm.check_events("Requantizer::apply", from, to, m, want_events, batch_events);
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(mm.count(), 0u) << mm.count() << " of " << mm.cases()
                            << " checks differ from SystemC:\n"
                            << mm.examples();
  EXPECT_GT(mm.cases(), 1000000u);
}

INSTANTIATE_TEST_SUITE_P(EveryModePair, RequantizeExhaustive, ::testing::ValuesIn(all_mode_pairs()),
                         mode_pair_name);

// ---------------------------------------------------------------------------------------------
// Seeded random: formats up to 48 bits, random binary points on both sides.

// A random raw value of `f`, biased toward the values where modes differ: ties and near-ties of
// a right shift by `shift` bits, and the ends of the range.
int64_t random_raw(std::mt19937_64& rng, const Format& f, int shift) {
  const int64_t lo = f.min_raw(), hi = f.max_raw();
  const auto pick = rng() % 8;
  if (pick == 0) return rng() % 2 ? lo : hi;
  const auto span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
  int64_t r = static_cast<int64_t>(static_cast<uint64_t>(lo) +
                                   (span == ~uint64_t{0} ? rng() : rng() % (span + 1)));
  if (pick <= 3 && shift > 0 && shift < f.width) {
    // force the discarded bits to exactly half, half - 1 or half + 1
    const int64_t half = int64_t{1} << (shift - 1);
    const int64_t low = half + static_cast<int64_t>(rng() % 3) - 1;
    r = static_cast<int64_t>((static_cast<uint64_t>(r) & ~((uint64_t{1} << shift) - 1)) |
                             static_cast<uint64_t>(low & ((int64_t{1} << shift) - 1)));
    r = std::clamp(r, lo, hi);
  }
  return r;
}

Format random_format(std::mt19937_64& rng, int max_width) {
  const bool is_signed = rng() % 2 == 0;
  const int width = 1 + static_cast<int>(rng() % static_cast<uint64_t>(max_width));
  const int frac = static_cast<int>(rng() % static_cast<uint64_t>(width + 33)) - 16;
  return Format::fixed(is_signed, width, frac);
}

class RequantizeRandom : public ::testing::TestWithParam<ModePair> {};

TEST_P(RequantizeRandom, MatchesScFixForRandomFormatsUpTo48Bits) {
  const ModePair m = GetParam();
  auto rng = ssmsim::testing::seeded_rng();
  Mismatches mm;
  constexpr int kCases = 60000;
  for (int c = 0; c < kCases; ++c) {
    const Format from = random_format(rng, 48);
    const Format to = random_format(rng, 48);
    const Requantizer rq(from, to, m.rounding.mode, m.overflow.mode);
    const int64_t raw = random_raw(rng, from, from.frac() - to.frac());
    const sd::sc_fxval v = to_sc(raw, from.frac());
    check_both(mm, rq, raw, from, to, m,
               sc_cast(v, to, m, round_exact(v, to.frac(), m.rounding.sc)));
  }
  EXPECT_EQ(mm.count(), 0u) << mm.count() << " of " << mm.cases()
                            << " checks differ from SystemC:\n"
                            << mm.examples();
}

INSTANTIATE_TEST_SUITE_P(EveryModePair, RequantizeRandom, ::testing::ValuesIn(all_mode_pairs()),
                         mode_pair_name);

class RequantizerApply : public ::testing::TestWithParam<ModePair> {};

// The batch form on buffers: 32-bit inputs take the 32-bit-lane loop where the formats allow it
// (binary points, destinations up to 32 bits) and the 64-bit loop otherwise; 64-bit inputs the
// per-element path. Every output and the event total must match SystemC.
TEST_P(RequantizerApply, MatchesScFixOnBuffersOfRandomFormatsUpTo32Bits) {
  const ModePair m = GetParam();
  auto rng = ssmsim::testing::seeded_rng();
  Mismatches mm;
  constexpr size_t kLen = 67;  // a vector body and a tail
  for (int c = 0; c < 400; ++c) {
    const Format from = random_format(rng, 32);
    const Format to = random_format(rng, c % 4 == 0 ? 48 : 32);
    const Requantizer rq(from, to, m.rounding.mode, m.overflow.mode);
    std::vector<int32_t> in32(kLen);
    std::vector<int64_t> in64(kLen), out_a(kLen), out_b(kLen);
    for (size_t i = 0; i < kLen; ++i) {
      in32[i] = static_cast<int32_t>(random_raw(rng, from, from.frac() - to.frac()));
      in64[i] = in32[i];
    }
    uint64_t ev_a = 0, ev_b = 0, want_events = 0;
    rq.apply(in32.data(), out_a.data(), kLen, &ev_a);
    rq.apply(in64.data(), out_b.data(), kLen, &ev_b);
    for (size_t i = 0; i < kLen; ++i) {
      const sd::sc_fxval v = to_sc(in32[i], from.frac());
      const ScResult want = sc_cast(v, to, m, round_exact(v, to.frac(), m.rounding.sc));
      mm.check("apply(int32)", in32[i], from, to, m, {want.raw, false}, out_a[i], 0);
      mm.check("apply(int64)", in32[i], from, to, m, {want.raw, false}, out_b[i], 0);
      want_events += want.overflowed ? 1u : 0u;
    }
    mm.check_events("apply(int32)", from, to, m, want_events, ev_a);
    mm.check_events("apply(int64)", from, to, m, want_events, ev_b);
  }
  EXPECT_EQ(mm.count(), 0u) << mm.count() << " of " << mm.cases()
                            << " checks differ from SystemC:\n"
                            << mm.examples();
}

INSTANTIATE_TEST_SUITE_P(EveryModePair, RequantizerApply, ::testing::ValuesIn(all_mode_pairs()),
                         mode_pair_name);

// A 128-bit input of random bit length (1..127), biased toward ties of a right shift by `shift`.
wide_t random_wide(std::mt19937_64& rng, int shift) {
  const int bits = 1 + static_cast<int>(rng() % 127);
  uwide_t m = (static_cast<uwide_t>(rng()) << 64) | rng();
  m &= (uwide_t{1} << bits) - 1;
  m |= uwide_t{1} << (bits - 1);
  if (rng() % 3 == 0 && shift > 0 && shift < bits - 1) {
    const uwide_t mask = (uwide_t{1} << shift) - 1;
    m = (m & ~mask) | (((uwide_t{1} << (shift - 1)) + (rng() % 3) - 1) & mask);
  }
  auto v = static_cast<wide_t>(m);
  return rng() % 2 ? -v : v;
}

class RequantizerWide : public ::testing::TestWithParam<ModePair> {};

// Inputs beyond int64 (accumulators, exact products) take the general 128-bit path and, past
// 2^95, the arbitrary-precision one; all three paths must agree with SystemC.
TEST_P(RequantizerWide, MatchesScFixForInputsUpTo127Bits) {
  const ModePair m = GetParam();
  auto rng = ssmsim::testing::seeded_rng();
  Mismatches mm;
  constexpr wide_t kWideMax = static_cast<wide_t>((uwide_t{1} << 127) - 1);
  constexpr wide_t kWideMin = -kWideMax - 1;
  for (int c = 0; c < 20000; ++c) {
    const Format to = random_format(rng, 48);
    // shifts of both signs, including right shifts at and beyond the 126-bit datapath
    const int shift = static_cast<int>(rng() % 200) - 60;
    const Format from = Format::fixed(true, 64, to.frac() + shift);
    const Requantizer rq(from, to, m.rounding.mode, m.overflow.mode);
    wide_t raw = random_wide(rng, shift);
    if (c < 2) raw = c == 0 ? kWideMin : kWideMax;
    const sd::sc_fxval v = to_sc(raw, from.frac());
    const ScResult want = sc_cast(v, to, m, round_exact(v, to.frac(), m.rounding.sc));
    check_both(mm, rq, raw, from, to, m, want);
  }
  EXPECT_EQ(mm.count(), 0u) << mm.count() << " of " << mm.cases()
                            << " checks differ from SystemC:\n"
                            << mm.examples();
}

INSTANTIATE_TEST_SUITE_P(EveryModePair, RequantizerWide, ::testing::ValuesIn(all_mode_pairs()),
                         mode_pair_name);

// ---------------------------------------------------------------------------------------------
// Single statements.

TEST(RequantizeOracle, SaturateSymmetricClampsTheSignedMinimumExactlyLikeScSatSym) {
  for (int w = 1; w <= 64; ++w) {
    const Format f = Format::fixed(true, w, 0);
    const wide_t min = f.min_raw();
    const sd::sc_fxval v = to_sc(min, 0);
    const ModePair m{kRoundings[0], kOverflows[2]};
    const ScResult sc = sc_cast(v, f, m, round_exact(v, 0, sd::SC_TRN));
    uint64_t events = 0;
    const int64_t got =
        ssmsim::quant::requantize(min, f, f, Rounding::Floor, Overflow::SaturateSymmetric, &events);
    EXPECT_EQ(got, -f.max_raw()) << "width " << w;
    EXPECT_EQ(sc.raw, -f.max_raw()) << "width " << w;
    EXPECT_TRUE(sc.overflowed) << "width " << w;
    EXPECT_EQ(events, 1u) << "width " << w;
  }
}

TEST(RequantizeOracle, UnsignedDestinationsSaturateSymmetricallyLikeSaturate) {
  for (int w = 1; w <= 12; ++w) {
    const Format from = Format::fixed(true, 16, 0), to = Format::fixed(false, w, 0);
    for (const int64_t raw :
         {int64_t{-5}, int64_t{-1}, int64_t{0}, to.max_raw(), to.max_raw() + 1}) {
      EXPECT_EQ(
          ssmsim::quant::requantize(raw, from, to, Rounding::Floor, Overflow::Saturate),
          ssmsim::quant::requantize(raw, from, to, Rounding::Floor, Overflow::SaturateSymmetric));
    }
  }
}

TEST(RequantizeOracle, TheOracleEntersAndReadsRawValuesExactly) {
  // self-check of the oracle's own conversions, including values double cannot hold
  const wide_t big = (static_cast<wide_t>(0x0123456789abcdefLL) << 64) | 0xfedcba9876543211ULL;
  EXPECT_EQ(to_sc(big, 0).to_string(sd::SC_DEC), to_dec(big));
  EXPECT_EQ(to_sc(-big, 0).to_string(sd::SC_DEC), to_dec(-big));
  EXPECT_EQ(to_sc((int64_t{1} << 62) + 1, 0).to_string(sd::SC_DEC), "4611686018427387905");
  EXPECT_TRUE(to_sc(3, 2) == sd::sc_fxval(0.75));
  EXPECT_TRUE(to_sc(-3, -2) == sd::sc_fxval(-12.0));
  for (const int64_t raw : {std::numeric_limits<int64_t>::min(),
                            std::numeric_limits<int64_t>::max(), int64_t{1} << 62, int64_t{-1}}) {
    const sd::sc_fix f(to_sc(raw, 20), sd::sc_fxtype_params(64, 44, sd::SC_TRN, sd::SC_WRAP));
    EXPECT_EQ(raw_bits(f, 64, true), raw);
  }
}

}  // namespace
