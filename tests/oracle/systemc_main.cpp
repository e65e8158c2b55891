// libsystemc.so references sc_main and brings its own main() that calls it. Which main() the
// linker keeps depends on the link order, so sc_main runs the GoogleTest suites too: the oracle
// tests run whichever entry point wins. No test calls sc_start; only the fixed-point data types
// of SystemC are used.
#include <gtest/gtest.h>

#include <systemc>  // declares sc_main with C linkage

int sc_main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
