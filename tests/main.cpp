// torch (precompiled, force-included) comes before doctest: glog's CHECK macros clash otherwise.
#include <torch/torch.h>
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
