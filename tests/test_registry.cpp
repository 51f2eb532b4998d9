// Every op: the validator's static shape and parameter count match the module it builds.
#include <doctest/doctest.h>

#include "engine/core/graph.hpp"
#include "engine/core/registry.hpp"
#include "engine/nn/model.hpp"

using namespace engine;

namespace {
Graph graph_of(const std::string& input, const std::string& layers) {
  std::string text = "name = \"t\"\n[input]\nshape = " + input +
                     "\n[limits]\nmax_params = 100_000_000\nmax_channels = 4096\n" + layers;
  Value spec = parse_toml_string(text, "t.toml");
  substitute_vars(spec, {{"classes", Value::of_int(10)}});
  return resolve_graph(spec).graph;
}

// Builds the graph, runs a batch of 2 through it, compares with the static figures.
void check_matches_module(const Graph& g) {
  GraphModule m = build_model(g);
  CHECK(count_parameters(*m) == g.params);
  std::vector<int64_t> in{2};
  in.insert(in.end(), g.input.begin(), g.input.end());
  m->eval();
  torch::NoGradGuard ng;
  torch::Tensor y = m->forward(torch::randn(in));
  std::vector<int64_t> want{2};
  want.insert(want.end(), g.output().begin(), g.output().end());
  CHECK(y.sizes().vec() == want);
}

struct Case {
  const char* what;
  const char* input;
  const char* layers;
};
}  // namespace

TEST_SUITE("registry") {
  TEST_CASE("every op's static shape and parameter count match the built module") {
    const Case cases[] = {
        {"conv2d", "[3, 17, 17]", "[[layers]]\nop = \"conv2d\"\nout = 8\nkernel = 3\nstride = 2\npadding = 1\n"},
        {"conv2d dilated grouped no bias", "[4, 16, 16]",
         "[[layers]]\nop = \"conv2d\"\nout = 8\nkernel = 3\ndilation = 2\ngroups = 2\nbias = false\n"},
        {"batchnorm2d", "[5, 4, 4]", "[[layers]]\nop = \"batchnorm2d\"\n"},
        {"relu", "[2, 3, 3]", "[[layers]]\nop = \"relu\"\n"},
        {"leaky_relu", "[2, 3, 3]", "[[layers]]\nop = \"leaky_relu\"\nnegative_slope = 0.2\n"},
        {"elu", "[2, 3, 3]", "[[layers]]\nop = \"elu\"\nalpha = 0.5\n"},
        {"gelu", "[2, 3, 3]", "[[layers]]\nop = \"gelu\"\n"},
        {"identity", "[2, 3, 3]", "[[layers]]\nop = \"identity\"\n"},
        {"maxpool2d", "[3, 15, 15]", "[[layers]]\nop = \"maxpool2d\"\nkernel = 3\nstride = 2\npadding = 1\n"},
        {"avgpool2d", "[3, 15, 15]", "[[layers]]\nop = \"avgpool2d\"\nkernel = 2\n"},
        {"adaptive_avgpool2d", "[3, 7, 9]", "[[layers]]\nop = \"adaptive_avgpool2d\"\nsize = 2\n"},
        {"flatten + linear", "[3, 4, 4]", "[[layers]]\nop = \"flatten\"\n[[layers]]\nop = \"linear\"\nout = 5\n"},
        {"dropout", "[6]", "[[layers]]\nop = \"dropout\"\np = 0.3\n"},
        {"linear no bias", "[6]", "[[layers]]\nop = \"linear\"\nout = 2\nbias = false\n"},
        {"add", "[4, 5, 5]",
         "[[layers]]\nop = \"conv2d\"\nname = \"a\"\nout = 4\nkernel = 1\n[[layers]]\nop = \"add\"\nfrom = [\"a\", "
         "\"input\"]\n"},
        {"concat", "[4, 5, 5]",
         "[[layers]]\nop = \"conv2d\"\nname = \"a\"\nout = 3\nkernel = 1\n[[layers]]\nop = \"concat\"\nfrom = [\"a\", "
         "\"input\"]\n"},
        {"basic_block identity skip", "[8, 8, 8]", "[[layers]]\nop = \"basic_block\"\nout = 8\n"},
        {"basic_block projection skip", "[8, 8, 8]",
         "[[layers]]\nop = \"basic_block\"\nout = 16\nstride = 2\nact = \"gelu\"\n"},
        {"resnet_stages", "[8, 16, 16]",
         "[[layers]]\nop = \"resnet_stages\"\nwidths = [8, 16, 32]\nblocks = [1, 2, 1]\n"},
        {"resnet_stages one count for all", "[8, 16, 16]",
         "[[layers]]\nop = \"resnet_stages\"\nwidths = [8, 16]\nblocks = [3]\n"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.what);
      check_matches_module(graph_of(c.input, c.layers));
    }
  }

  TEST_CASE("every registered op is covered by the test above") {
    std::vector<std::string> covered{"conv2d",      "batchnorm2d",  "relu",      "leaky_relu", "elu",
                                     "gelu",        "identity",     "maxpool2d", "avgpool2d",  "adaptive_avgpool2d",
                                     "flatten",     "linear",       "dropout",   "add",        "concat",
                                     "basic_block", "resnet_stages"};
    for (const auto& name : default_registry().names()) {
      CAPTURE(name);
      CHECK(std::find(covered.begin(), covered.end(), name) != covered.end());
    }
  }

  TEST_CASE("the two halves of the registry agree: every leaf op has a builder, every builder an op") {
    const auto& builders = op_builders();
    for (const auto& [name, op] : default_registry().all()) {
      CAPTURE(name);
      CHECK((builders.count(name) == 1) != static_cast<bool>(op.expand));  // composites build from the expansion
    }
    for (const auto& [name, b] : builders) {
      CAPTURE(name);
      CHECK(default_registry().find(name) != nullptr);
    }
  }

  TEST_CASE("a composite's module is its expansion, named as torchvision names it") {
    Graph g = graph_of("[8, 8, 8]", "[[layers]]\nop = \"resnet_stages\"\nwidths = [8, 16]\nblocks = [1]\n");
    GraphModule m = build_model(g);
    std::vector<std::string> names;
    for (const auto& p : m->named_parameters()) names.push_back(p.key());
    CHECK(names.front() == "layer1.0.conv1.weight");
    CHECK(std::find(names.begin(), names.end(), "layer2.0.downsample.0.weight") != names.end());
    CHECK(std::find(names.begin(), names.end(), "layer2.0.downsample.1.bias") != names.end());
    std::string printed = model_text(*m);
    CHECK(printed.find("(layer2): Sequential(") != std::string::npos);
    CHECK(printed.find("(0): BasicBlock(") != std::string::npos);
  }

  TEST_CASE("an unknown op lists the known ones and suggests the nearest") {
    Registry r;
    register_all_ops(r);
    CHECK_THROWS_WITH_AS(
        r.at("conv2", Loc{"g.toml", 3, 6}),
        doctest::Contains(
            "g.toml:3:6: unknown op 'conv2'; did you mean 'conv2d'? (known ops: adaptive_avgpool2d, add,"),
        SpecError);
  }

  TEST_CASE("registering an op twice is a programming error") {
    Registry r;
    register_all_ops(r);
    OpDef dup;
    dup.name = "relu";
    CHECK_THROWS_AS(r.add(dup), std::logic_error);
  }

  TEST_CASE("a max-pool after a non-decreasing activation runs first: same output and gradients, same printed model") {
    for (const std::string act : {"relu", "leaky_relu", "elu", "gelu"}) {
      CAPTURE(act);
      Graph g = graph_of("[3, 16, 16]",
                         "[[layers]]\nop = \"conv2d\"\nout = 8\nkernel = 3\npadding = 1\n"
                         "[[layers]]\nop = \"batchnorm2d\"\n[[layers]]\nop = \"" +
                             act + "\"\n[[layers]]\nop = \"maxpool2d\"\nkernel = 3\nstride = 2\npadding = 1\n");
      REQUIRE(g.nodes.size() == 4);
      CHECK(pool_runs_first(g.nodes, 2) == (act != "gelu"));  // GELU is not monotone
      CHECK_FALSE(pool_runs_first(g.nodes, 1));
      GraphModule m = build_model(g);
      const std::string printed = model_text(*m);
      CHECK(printed.find(act == "leaky_relu" ? "LeakyReLU"
                         : act == "elu"      ? "ELU"
                         : act == "gelu"     ? "GELU"
                                             : "ReLU") < printed.find("MaxPool2d"));
      m->train();
      auto children = m->named_children();
      auto conv = children[g.nodes[0].name]->as<torch::nn::Conv2d>();
      auto bn = children[g.nodes[1].name]->as<torch::nn::BatchNorm2d>();
      REQUIRE(conv != nullptr);
      REQUIRE(bn != nullptr);
      // Reference: the written order, with the model's own modules and parameters.
      auto written = [&](const torch::Tensor& x) {
        torch::Tensor h = bn->forward(conv->forward(x));
        h = act == "relu"         ? torch::relu(h)
            : act == "leaky_relu" ? torch::leaky_relu(h, 0.01)
            : act == "elu"        ? torch::elu(h)
                                  : torch::gelu(h);
        return torch::max_pool2d(h, 3, 2, 1);
      };
      torch::manual_seed(1);
      const torch::Tensor x0 = torch::randn({4, 3, 16, 16});
      const torch::Tensor g_out = torch::randn({4, 8, 8, 8});
      torch::Tensor xa = x0.clone().requires_grad_(), xb = x0.clone().requires_grad_();
      m->zero_grad();
      torch::Tensor ya = m->forward(xa);
      ya.backward(g_out);
      const torch::Tensor wa = conv->weight.grad().clone();
      m->zero_grad();
      torch::Tensor yb = written(xb);
      yb.backward(g_out);
      const torch::Tensor wb = conv->weight.grad().clone();
      if (act == "relu") {  // bit for bit
        CHECK(torch::equal(ya, yb));
        CHECK(torch::equal(xa.grad(), xb.grad()));
        CHECK(torch::equal(wa, wb));
      } else {
        CHECK(torch::allclose(ya, yb, 1e-5, 1e-6));
        CHECK(torch::allclose(xa.grad(), xb.grad(), 1e-5, 1e-6));
        CHECK(torch::allclose(wa, wb, 1e-5, 1e-5));
      }
    }
  }
}
