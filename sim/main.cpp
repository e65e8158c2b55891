// The `ssmsim` executable: everything lives in the sim library so tests can drive it in-process.
#include <iostream>

#include "sim/cli.hpp"

int main(int argc, char** argv) { return ssmsim::sim::run_cli(argc, argv, std::cout, std::cerr); }
