// The `ssmsim` executable: everything lives in the sim library so tests can drive it in-process.
//
// libsystemc.so brings its own main() that calls sc_main(). Which main() the linker keeps depends
// on link order and flags (sanitizer builds keep the library's), so both entry points run the same
// command line: the result is identical either way.
#include <iostream>

#include "sim/cli.hpp"

int main(int argc, char** argv) { return ssmsim::sim::run_cli(argc, argv, std::cout, std::cerr); }

extern "C" int sc_main(int argc, char** argv) { return ssmsim::sim::run_cli(argc, argv, std::cout, std::cerr); }
