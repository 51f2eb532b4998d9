#include "engine/cli/cli.hpp"

int main(int argc, char** argv) { return engine::cli_main(argc, argv); }
