#include <gtest/gtest.h>
#include "quant/format.hpp"
TEST(Format, ParsesItsOwnNotation) { EXPECT_EQ(ssmsim::quant::Format::parse("s8.4").width, 8); }
