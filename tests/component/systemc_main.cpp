// libsystemc.so references sc_main and brings its own main() that calls it. Which main() the
// linker keeps depends on the link order, so sc_main runs the GoogleTest suites too. The SystemC
// kernel elaborates once per process: each component test builds its modules and calls sc_start
// at most once, and ctest runs every test in its own process (run one test at a time with
// --gtest_filter when running this binary by hand).
#include <gtest/gtest.h>

#include <systemc>  // declares sc_main with C linkage

int sc_main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
