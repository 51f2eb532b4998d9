// The validator: reference parameter counts, limits, residual graphs, in-place safety.
#include <doctest/doctest.h>

#include "engine/core/graph.hpp"
#include "engine/core/registry.hpp"
#include "engine/nn/model.hpp"
#include "tests/support.hpp"

using namespace engine;

namespace {
std::filesystem::path graph_file(const std::string& name) { return test::source_dir() / "graphs" / name; }

Graph resnet(const std::vector<std::string>& sets, bool limits = true) {
  return load_graph(graph_file("baseline.toml"), sets, {}, limits).graph;
}
}  // namespace

TEST_SUITE("validator") {
  TEST_CASE("reference parameter counts (10 classes, 7x7/s2 stem + maxpool)") {
    CHECK(resnet({}).params == 2'785'354);
    CHECK(resnet({"vars.widths=[32,64,128,256]", "vars.blocks=[2,2,2,2]"}).params == 2'801'450);
    CHECK(resnet({"vars.widths=[32,64,128,256]", "vars.blocks=[3,3,3,3]"}).params == 4'370'090);
    Graph r18 = resnet({"vars.widths=[64,128,256,512]", "vars.blocks=[2,2,2,2]"}, false);
    CHECK(r18.params == 11'181'642);  // torchvision resnet18 with a 10-class head
    CHECK(count_parameters(*build_model(r18)) == 11'181'642);
    CHECK_THROWS_WITH_AS(resnet({"vars.widths=[64,128,256,512]", "vars.blocks=[2,2,2,2]"}),
                         doctest::Contains("11,181,642 parameters, over limits.max_params = 5,000,000"), SpecError);
  }

  TEST_CASE("the channel limit points at the offending width") {
    try {
      resnet({"vars.widths=[64,128,1024]", "limits.max_params=100000000"});
      FAIL("must be rejected");
    } catch (const SpecError& e) {
      CHECK(std::string(e.what()).find("1024 output channels exceed limits.max_channels = 512") != std::string::npos);
      CHECK(e.loc().file == "--set vars.widths=[64,128,1024]");
    }
  }

  TEST_CASE("a residual block written by hand with from/add equals basic_block") {
    const char* by_hand = R"(name = "hand"
[input]
shape = [16, 8, 8]
[[layers]]
op = "conv2d"
name = "c1"
out = 32
kernel = 3
stride = 2
padding = 1
bias = false
[[layers]]
op = "batchnorm2d"
[[layers]]
op = "relu"
[[layers]]
op = "conv2d"
out = 32
kernel = 3
padding = 1
bias = false
[[layers]]
op = "batchnorm2d"
name = "b2"
[[layers]]
op = "conv2d"
name = "skip"
from = "input"
out = 32
kernel = 1
stride = 2
bias = false
[[layers]]
op = "batchnorm2d"
name = "skip_bn"
[[layers]]
op = "add"
from = ["b2", "skip_bn"]
[[layers]]
op = "relu"
)";
    const char* block =
        "name = \"block\"\n[input]\nshape = [16, 8, 8]\n[[layers]]\nop = \"basic_block\"\nout = 32\nstride = 2\n";
    Graph a = resolve_graph(parse_toml_string(by_hand, "hand.toml")).graph;
    Graph b = resolve_graph(parse_toml_string(block, "block.toml")).graph;
    CHECK(a.output() == b.output());
    CHECK(a.params == b.params);
    CHECK(a.macs == b.macs);

    // Same weights, same outputs: copy the block's parameters into the hand-written graph.
    GraphModule ma = build_model(a), mb = build_model(b);
    auto pa = ma->parameters(), pb = mb->parameters();
    REQUIRE(pa.size() == pb.size());
    torch::NoGradGuard ng;
    // Order: hand graph c1, bn, conv, bn, skip, skip_bn; block conv1, bn1, conv2, bn2, downsample.
    for (size_t k = 0; k < pa.size(); ++k) pa[k].copy_(pb[k]);
    ma->eval();
    mb->eval();
    torch::Tensor x = torch::randn({2, 16, 8, 8});
    CHECK(torch::allclose(ma->forward(x), mb->forward(x), 1e-5, 1e-6));
  }

  TEST_CASE("an in-place activation never overwrites a tensor another node still reads") {
    const char* text = R"(name = "fan"
[input]
shape = [4, 6, 6]
[[layers]]
op = "conv2d"
name = "c"
out = 4
kernel = 1
[[layers]]
op = "relu"
name = "r"
[[layers]]
op = "add"
from = ["r", "c"]
)";
    Graph g = resolve_graph(parse_toml_string(text, "fan.toml")).graph;
    CHECK(g.nodes[1].input_shared);
    GraphModule m = build_model(g);
    torch::NoGradGuard ng;
    torch::Tensor x = torch::randn({3, 4, 6, 6});
    torch::Tensor c = m->named_children()["c"]->as<torch::nn::Conv2d>()->forward(x);
    CHECK(torch::allclose(m->forward(x), torch::relu(c) + c));
  }

  TEST_CASE("a residual graph gives the same result as its modules run by hand and trains") {
    const char* text = R"(name = "res"
[input]
shape = [3, 8, 8]
[[layers]]
op = "conv2d"
name = "stem"
out = 4
kernel = 3
padding = 1
[[layers]]
op = "basic_block"
name = "b"
out = 4
[[layers]]
op = "add"
name = "sum"
from = ["b", "stem"]
[[layers]]
op = "flatten"
[[layers]]
op = "linear"
out = 2
)";
    Graph g = resolve_graph(parse_toml_string(text, "res.toml")).graph;
    GraphModule m = build_model(g);
    torch::Tensor x = torch::randn({5, 3, 8, 8});
    torch::Tensor loss = m->forward(x).pow(2).sum();
    loss.backward();
    for (const auto& p : m->parameters()) CHECK(p.grad().defined());
  }

  TEST_CASE("the printed model uses node names like torchvision") {
    std::string text = model_text(*build_model(resnet({})));
    for (const char* name :
         {"(conv1): torch::nn::Conv2d(3, 64", "(bn1)", "(maxpool)", "(layer1): Sequential", "(layer3): Sequential",
          "(downsample): Sequential", "(avgpool)", "(fc): torch::nn::Linear(in_features=256, out_features=10"}) {
      CAPTURE(name);
      CHECK(text.find(name) != std::string::npos);
    }
  }
}
