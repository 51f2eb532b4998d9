#include "engine/cli.hpp"

namespace engine {
int cli_main(int, char**) { return 0; }
}  // namespace engine
