#pragma once
// The `engine` command line. In a library so that tests drive it in-process.
namespace engine {
int cli_main(int argc, char** argv);
}
