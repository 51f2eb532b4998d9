// `engine time`: every leaf node timed forward and backward, the step and eval rates.
#include <doctest/doctest.h>

#include <algorithm>

#include "engine/core/error.hpp"
#include "engine/nn/runner/run.hpp"
#include "tests/support.hpp"

using namespace engine;
namespace fs = std::filesystem;

TEST_SUITE("time") {
  TEST_CASE("engine time lists every leaf of a residual graph with forward and backward times that add up") {
    TimeOptions o;
    o.batch = 8;
    o.iterations = 2;
    o.sets = {"train.memory_format=auto"};  // the file pins channels_last for its recorded metrics
    TimeOutcome r = time_graph(test::source_dir() / "tests" / "regression" / "small.toml", o);
    std::vector<std::string> names;
    for (const auto& n : r.nodes) names.push_back(n.name);
    // Named as the model's modules: the spliced stages add no level, a block's leaves one each.
    for (const char* name :
         {"conv1", "bn1", "layer1.0.conv1", "layer1.0.add", "layer2.0.downsample.0", "layer2.0.act2", "fc", "loss"}) {
      CAPTURE(name);
      CHECK(std::find(names.begin(), names.end(), name) != names.end());
    }
    // Rows in the order the model runs them: the stem's max-pool before its ReLU (model.hpp).
    CHECK(names.at(2).rfind("maxpool2d", 0) == 0);
    CHECK(names.at(3).rfind("relu", 0) == 0);
    CHECK(r.nodes.size() == 25);  // 4 stem + 7 + 9 block leaves + pool, flatten, dropout, fc + loss
    double total = 0, backward = 0;
    for (const auto& n : r.nodes) {
      CAPTURE(n.name);
      CHECK(n.forward_ms > 0);
      CHECK(n.backward_ms >= 0);
      total += n.forward_ms + n.backward_ms;
      backward += n.backward_ms;
    }
    CHECK(backward > 0);
    CHECK(r.nodes.front().macs == 16 * 3 * 9 * 32 * 32);  // the validator's MACs per image
    CHECK(r.batch == 8);
    CHECK(r.step_ms > 0);
    CHECK(r.train_img_s == doctest::Approx(8 / (r.step_ms / 1e3)));
    CHECK(r.eval_img_s > 0);
    CHECK(r.text.find("layer2.0.downsample.0") != std::string::npos);
    CHECK(r.text.find("img/s") != std::string::npos);
    // "auto": both formats, node for node, and the figures above are the faster step's.
    REQUIRE(r.formats.size() == 2);
    CHECK(r.formats[0].memory_format == "channels_last");
    CHECK(r.formats[1].memory_format == "contiguous");
    CHECK(r.formats[0].nodes.size() == r.nodes.size());
    CHECK(r.step_ms == std::min(r.formats[0].step_ms, r.formats[1].step_ms));
  }

  TEST_CASE("engine time from the command line; bad options are refused") {
    test::TempDir dir;
    fs::path graph = dir.write("tiny.toml", test::tiny_graph("tiny"));
    auto r =
        test::run_cli({"time", graph.string(), "--batch", "4", "--iterations", "1", "--set", "train.precision=fp32"});
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("batch 4, 1 iterations after 2 warm-up, on cpu") != std::string::npos);
    for (const char* row : {"conv2d_0", "batchnorm2d_1", "relu_2", "linear_5", "loss", "total", "train step"}) {
      CAPTURE(row);
      CHECK(r.out.find(row) != std::string::npos);
    }
    // "auto" (the default): both formats timed, the faster one's table first, then node by node.
    const bool cl_faster = r.out.find("faster step: channels_last") != std::string::npos;
    CHECK(r.out.find(cl_faster ? "fp32 channels_last;" : "fp32 contiguous;") != std::string::npos);
    CHECK(r.out.find("channels_last ms     contiguous ms") != std::string::npos);
    // A format that is set is timed alone.
    auto set = test::run_cli(
        {"time", graph.string(), "--batch", "4", "--iterations", "1", "--set", "train.memory_format=contiguous"});
    REQUIRE(set.code == 0);
    CHECK(set.out.find("bf16 contiguous;") != std::string::npos);
    CHECK(set.out.find("memory format = \"auto\"") == std::string::npos);
    CHECK(test::run_cli({"time", graph.string(), "--iterations", "0"}).code == 2);
    CHECK(test::run_cli({"time", graph.string(), "--device", "tpu"}).code == 2);
    if (!std::getenv("CUDA_VISIBLE_DEVICES")) {
      auto cuda = test::run_cli({"time", graph.string(), "--device", "cuda", "--batch", "2", "--iterations", "1"});
      if (cuda.code != 0) CHECK(cuda.err.find("sees no CUDA device") != std::string::npos);
    }
    CHECK_FALSE(fs::exists(fs::path("runs") / "tiny"));  // no run directory
  }
}
