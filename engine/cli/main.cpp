#include <csignal>

#include "engine/cli/cli.hpp"

int main(int argc, char** argv) {
  // A file over `ulimit -f` then fails its write with EFBIG, which the engine reports naming the
  // file, instead of the process being killed by SIGXFSZ.
  std::signal(SIGXFSZ, SIG_IGN);
  return engine::cli_main(argc, argv);
}
