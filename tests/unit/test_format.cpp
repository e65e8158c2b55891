// quant::Format: the notation (parse / to_string), its limits, the raw ranges and the names of the
// rounding and overflow modes.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>

#include "quant/errors.hpp"
#include "quant/format.hpp"
#include "tests/support/testing.hpp"

namespace {

using ssmsim::FormatError;
using ssmsim::quant::Format;
using ssmsim::quant::Overflow;
using ssmsim::quant::Rounding;
using ssmsim::quant::Scale;

// The message of the FormatError that `fn` throws, or a note that it threw none.
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const FormatError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("<not a FormatError: ") + e.what() + ">";
  }
  return "<no error>";
}

TEST(Format, ParsesEveryFormOfItsNotation) {
  const Format a = Format::parse("s8.4");
  EXPECT_TRUE(a.is_signed);
  EXPECT_EQ(a.width, 8);
  EXPECT_EQ(a.frac(), 4);
  EXPECT_TRUE(a.is_binary_point());

  const Format b = Format::parse("u16.0");
  EXPECT_FALSE(b.is_signed);
  EXPECT_EQ(b.width, 16);
  EXPECT_EQ(b.frac(), 0);

  const Format c = Format::parse("s8.-3");
  EXPECT_EQ(c.frac(), -3);

  const Format d = Format::parse("s8*12345>>20");
  EXPECT_FALSE(d.is_binary_point());
  EXPECT_EQ(d.scale.mult, 12345);
  EXPECT_EQ(d.scale.shift, 20);

  const Format e = Format::parse("u12*3>>-5");
  EXPECT_EQ(e.scale.mult, 3);
  EXPECT_EQ(e.scale.shift, -5);

  EXPECT_EQ(Format::parse("s8.20").frac(), 20);  // binary point beyond the word
}

TEST(Format, ToStringAndParseRoundTripForRandomFormats) {
  auto rng = ssmsim::testing::seeded_rng();
  for (int i = 0; i < 5000; ++i) {
    const bool is_signed = rng() % 2 == 0;
    const int width = 1 + static_cast<int>(rng() % (is_signed ? 64u : 63u));
    const int shift = static_cast<int>(rng() % 2049) - 1024;
    const int64_t mult = rng() % 3 == 0 ? 1 : 1 + static_cast<int64_t>(rng() % Format::kMaxMult);
    const Format f{is_signed, width, Scale{mult, shift}};
    const std::string text = f.to_string();
    EXPECT_EQ(Format::parse(text), f) << text;
    EXPECT_EQ(Format::parse(text).to_string(), text);
  }
}

TEST(Format, ToStringWritesTheDocumentedNotation) {
  EXPECT_EQ(Format::fixed(true, 8, 4).to_string(), "s8.4");
  EXPECT_EQ(Format::fixed(false, 16, 0).to_string(), "u16.0");
  EXPECT_EQ(Format::fixed(true, 8, -3).to_string(), "s8.-3");
  EXPECT_EQ(Format::dyadic(true, 8, 12345, 20).to_string(), "s8*12345>>20");
  // a dyadic multiplier of 1 is a binary point
  EXPECT_EQ(Format::dyadic(true, 8, 1, 20).to_string(), "s8.20");
}

TEST(Format, RejectsEveryMalformedStringNamingTheText) {
  const char* bad[] = {
      "",
      "8.4",
      "x8.4",
      "S8.4",
      "s",
      "s.4",
      "s8",
      "s8.",
      "s8.4x",
      "s8.4 ",
      " s8.4",
      "s8..4",
      "s8.-",
      "s8.--3",
      "s+8.4",
      "s8.+4",
      "s8,4",
      "s8*",
      "s8*12",
      "s8*12>",
      "s8*12>20",
      "s8*12>>",
      "s8*>>3",
      "s8*12>>>3",
      "s8*12>>3x",
      "s8*-3>>2",
      "s8.4.2",
      "sx.4",
      "s8.0x1",
      "u16.0.",
      "s1234567890123.0",
      "s8.1234567890123",
      "s8*1234567890123>>2",
      "s4294967304.4",
      "s8.4294967300",
      "s8*4294967299>>3",
      "s0.4",
      "s65.0",
      "u64.0",
      "s-8.4",
      "s8.1025",
      "s8.-1025",
      "s8*0>>3",
      "s8*2147483648>>3",
  };
  for (const char* text : bad) {
    const std::string msg = error_of([&] { Format::parse(text); });
    EXPECT_NE(msg.find("'" + std::string(text) + "'"), std::string::npos)
        << "'" << text << "' -> " << msg;
  }
}

TEST(Format, ParseErrorsSayWhatIsExpected) {
  const std::string msg = error_of([] { Format::parse("q8.4"); });
  EXPECT_NE(msg.find("s8.4"), std::string::npos) << msg;
  EXPECT_NE(msg.find("s8*12345>>20"), std::string::npos) << msg;
}

TEST(Format, AcceptsWidthsUpTo64SignedAnd63Unsigned) {
  for (int w = 1; w <= 64; ++w) EXPECT_NO_THROW(Format::fixed(true, w, 0)) << w;
  for (int w = 1; w <= 63; ++w) EXPECT_NO_THROW(Format::fixed(false, w, 0)) << w;
  EXPECT_EQ(Format::parse("s64.0").width, 64);
  EXPECT_EQ(Format::parse("u63.0").width, 63);
}

TEST(Format, RejectsWidthsOutOfRangeNamingTheWidthAndTheLimit) {
  std::string msg = error_of([] { Format::fixed(true, 0, 0); });
  EXPECT_NE(msg.find("width 0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1..64"), std::string::npos) << msg;
  msg = error_of([] { Format::fixed(true, 65, 0); });
  EXPECT_NE(msg.find("width 65"), std::string::npos) << msg;
  msg = error_of([] { Format::fixed(false, 64, 0); });
  EXPECT_NE(msg.find("width 64"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1..63"), std::string::npos) << msg;
  msg = error_of([] { Format::fixed(false, -1, 0); });
  EXPECT_NE(msg.find("width -1"), std::string::npos) << msg;
}

TEST(Format, AcceptsMultipliersUpTo2To31Minus1AndShiftsUpTo1024) {
  EXPECT_NO_THROW(Format::dyadic(true, 8, 1, 0));
  EXPECT_NO_THROW(Format::dyadic(true, 8, Format::kMaxMult, 0));
  EXPECT_EQ(Format::kMaxMult, (int64_t{1} << 31) - 1);
  EXPECT_NO_THROW(Format::fixed(true, 8, 1024));
  EXPECT_NO_THROW(Format::fixed(true, 8, -1024));
  EXPECT_NO_THROW(Format::dyadic(true, 8, 3, 1024));
  EXPECT_NO_THROW(Format::dyadic(true, 8, 3, -1024));
  EXPECT_EQ(Format::parse("s8*2147483647>>-1024").scale, (Scale{Format::kMaxMult, -1024}));
}

TEST(Format, RejectsMultipliersAndShiftsOutOfRangeNamingTheValue) {
  std::string msg = error_of([] { Format::dyadic(true, 8, 0, 0); });
  EXPECT_NE(msg.find("multiplier 0"), std::string::npos) << msg;
  msg = error_of([] { Format::dyadic(true, 8, -5, 0); });
  EXPECT_NE(msg.find("multiplier -5"), std::string::npos) << msg;
  msg = error_of([] { Format::dyadic(true, 8, int64_t{1} << 31, 0); });
  EXPECT_NE(msg.find("multiplier 2147483648"), std::string::npos) << msg;
  msg = error_of([] { Format::fixed(true, 8, 1025); });
  EXPECT_NE(msg.find("1025"), std::string::npos) << msg;
  EXPECT_NE(msg.find("-1024..1024"), std::string::npos) << msg;
  msg = error_of([] { Format::fixed(true, 8, -1025); });
  EXPECT_NE(msg.find("-1025"), std::string::npos) << msg;
  msg = error_of([] { Format::dyadic(true, 8, 7, 5000); });
  EXPECT_NE(msg.find("5000"), std::string::npos) << msg;
}

TEST(Format, RawRangesAreTheTwosComplementAndUnsignedRanges) {
  for (int w = 1; w <= 63; ++w) {
    const Format s = Format::fixed(true, w, 0), u = Format::fixed(false, w, 0);
    EXPECT_EQ(s.min_raw(), -(int64_t{1} << (w - 1))) << w;
    EXPECT_EQ(s.max_raw(), (int64_t{1} << (w - 1)) - 1) << w;
    EXPECT_EQ(u.min_raw(), 0) << w;
    EXPECT_EQ(u.max_raw(), static_cast<int64_t>((uint64_t{1} << w) - 1)) << w;
  }
  const Format s64 = Format::fixed(true, 64, 0);
  EXPECT_EQ(s64.min_raw(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(s64.max_raw(), std::numeric_limits<int64_t>::max());
  const Format u63 = Format::fixed(false, 63, 0);
  EXPECT_EQ(u63.min_raw(), 0);
  EXPECT_EQ(u63.max_raw(), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(Format::fixed(true, 1, 0).min_raw(), -1);
  EXPECT_EQ(Format::fixed(true, 1, 0).max_raw(), 0);
  EXPECT_EQ(Format::fixed(false, 1, 0).max_raw(), 1);
  // the scale does not change the raw range
  EXPECT_EQ(Format::dyadic(true, 8, 12345, 20).min_raw(), -128);
  EXPECT_EQ(Format::dyadic(true, 8, 12345, 20).max_raw(), 127);
}

TEST(Format, ToRealAppliesTheScale) {
  EXPECT_DOUBLE_EQ(Format::fixed(true, 8, 4).to_real(-24), -1.5);
  EXPECT_DOUBLE_EQ(Format::fixed(true, 8, -3).to_real(5), 40.0);
  EXPECT_DOUBLE_EQ(Format::dyadic(true, 8, 3, 2).to_real(5), 3.75);
  EXPECT_DOUBLE_EQ((Scale{3, 2}.real()), 0.75);
}

TEST(Format, EqualityComparesSignWidthAndScale) {
  EXPECT_EQ(Format::parse("s8.4"), Format::fixed(true, 8, 4));
  EXPECT_NE(Format::parse("s8.4"), Format::fixed(false, 8, 4));
  EXPECT_NE(Format::parse("s8.4"), Format::fixed(true, 9, 4));
  EXPECT_NE(Format::parse("s8.4"), Format::fixed(true, 8, 5));
  EXPECT_NE(Format::parse("s8*3>>4"), Format::fixed(true, 8, 4));
}

TEST(Format, RoundingAndOverflowNamesRoundTrip) {
  const Rounding roundings[] = {Rounding::Floor,         Rounding::TowardZero, Rounding::HalfUp,
                                Rounding::HalfDown,      Rounding::HalfEven,   Rounding::HalfAway,
                                Rounding::HalfTowardZero};
  const char* rounding_names[] = {"floor",     "toward_zero", "half_up",         "half_down",
                                  "half_even", "half_away",   "half_toward_zero"};
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(ssmsim::quant::to_string(roundings[i]), rounding_names[i]);
    EXPECT_EQ(ssmsim::quant::parse_rounding(rounding_names[i]), roundings[i]);
    EXPECT_NE(std::string(ssmsim::quant::rounding_names()).find(rounding_names[i]),
              std::string::npos);
  }
  const Overflow overflows[] = {Overflow::Wrap, Overflow::Saturate, Overflow::SaturateSymmetric};
  const char* overflow_names[] = {"wrap", "saturate", "saturate_symmetric"};
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(ssmsim::quant::to_string(overflows[i]), overflow_names[i]);
    EXPECT_EQ(ssmsim::quant::parse_overflow(overflow_names[i]), overflows[i]);
    EXPECT_NE(std::string(ssmsim::quant::overflow_names()).find(overflow_names[i]),
              std::string::npos);
  }
}

TEST(Format, UnknownModeNamesAreRejectedListingTheAllowedNames) {
  for (const char* name : {"", "Floor", "round", "half-even", "saturate ", "trunc"}) {
    const std::string msg = error_of([&] { ssmsim::quant::parse_rounding(name); });
    EXPECT_NE(msg.find("'" + std::string(name) + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find(ssmsim::quant::rounding_names()), std::string::npos) << msg;
  }
  for (const char* name : {"", "Wrap", "sat", "saturate-symmetric", "clamp"}) {
    const std::string msg = error_of([&] { ssmsim::quant::parse_overflow(name); });
    EXPECT_NE(msg.find("'" + std::string(name) + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find(ssmsim::quant::overflow_names()), std::string::npos) << msg;
  }
}

}  // namespace
