// Our CPU kernels (engine/kernels/) against LibTorch's: each forward and backward in fp32 and
// bf16, the measured choice between them, and kernels = "aten". ctest runs this suite on every
// CPU path it can reach (oneDNN held to AVX512_CORE_BF16, AVX512_CORE and AVX2, our loops held
// to AVX2 and below by ENGINE_CPU_ISA).
#include "engine/kernels/choose.hpp"  // torch before doctest
#include "engine/nn/model.hpp"
#include "engine/nn/runner/hardware.hpp"

#include <doctest/doctest.h>

#include <set>

#include "engine/core/graph.hpp"
#include "engine/core/spec.hpp"
#include "tests/support.hpp"

using namespace engine;

namespace {
Graph graph_of(const std::string& text) { return resolve_graph(parse_toml_string(text, "k.toml")).graph; }

// Whether oneDNN computes bf16 convolutions and products on this path. Without AVX-512 it has
// none (the engine refuses bf16 there and "auto" takes fp32), so a bf16 case that needs one is
// skipped with a message, and its fp32 twin still runs.
bool bf16_runs() {
  static const bool runs = bf16_support("cpu") != Bf16::none;
  if (!runs) MESSAGE("oneDNN at " << cpu_isa() << " has no bf16 convolution: bf16 cases that need one are skipped");
  return runs;
}

// The CPU under bf16 autocast, for engine::Autocast.
const Hardware kBf16 = [] {
  Hardware hw;
  hw.bf16 = true;
  return hw;
}();

// |got - exact| <= rel * |exact| + 1e-6 everywhere, exact computed in double.
bool within(const torch::Tensor& got, const torch::Tensor& exact, double rel) {
  const torch::Tensor err = (got.to(torch::kDouble) - exact).abs();
  return (err <= exact.abs() * rel + 1e-6).all().item<bool>();
}

// As within, plus 1e-5 of the largest |exact|: where terms of that size cancel, fp32 arithmetic
// leaves an error relative to them, not to the small result.
bool close(const torch::Tensor& got, const torch::Tensor& exact, double rel) {
  const torch::Tensor e = exact.detach().to(torch::kDouble);
  const torch::Tensor err = (got.detach().to(torch::kDouble) - e).abs();
  return (err <= e.abs() * rel + 1e-5 * e.abs().max()).all().item<bool>();
}

// |got - exact| <= rel * scale everywhere, where scale is the same sum over |terms|: a sum of
// products of mixed signs is only exact to a fraction of that.
bool bounded(const torch::Tensor& got, const torch::Tensor& exact, const torch::Tensor& scale, double rel) {
  const torch::Tensor err = (got.detach().to(torch::kDouble) - exact.detach()).abs();
  return (err <= scale.detach() * rel + 1e-12).all().item<bool>();
}
}  // namespace

TEST_SUITE("kernels") {
  TEST_CASE("a measured choice sends one convolution shape back to ATen's kernel, and no other") {
    if (!bf16_runs()) return;
    torch::manual_seed(0);
    torch::nn::Conv2d m(torch::nn::Conv2dOptions(16, 16, 3).padding(1).bias(false));
    torch::nn::Conv2d wide(torch::nn::Conv2dOptions(16, 32, 3).padding(1).bias(false));
    const torch::Tensor x = torch::randn({8, 16, 2, 2}).to(torch::kBFloat16).contiguous(at::MemoryFormat::ChannelsLast);
    Autocast autocast(kBf16);
    REQUIRE(rule_kernel(*m, x) == ConvKernel::small_conv);
    const std::string key = conv_case(*m, x, ConvKernel::small_conv).key;
    CHECK(key == "small_conv 16->16 k3x3 s1x1 p1x1 d1x1 on 2x2");
    CHECK(conv_key(*m, 2, 2, ConvKernel::small_conv) == key);
    // Which kernel ran, by the backward it left: the product's own, or ATen's convolution's.
    auto product = [](const torch::Tensor& y) { return y.grad_fn()->name().find("SmallConv") != std::string::npos; };
    REQUIRE(product(conv2d_as_matmul(*m, x)));
    REQUIRE_FALSE(product(m->forward(x)));
    CHECK(product(conv2d(*m, x)));  // no choice: the rule's kernel

    KernelSettings settings;
    settings.conv = {{key, "aten"}};
    const ConvChoice choice = conv_choice(*m, 2, 2, settings);
    CHECK(choice.small_conv_to_aten);
    CHECK_FALSE(choice.space_to_depth_to_aten);
    CHECK_FALSE(product(conv2d(*m, x, choice)));
    CHECK(torch::equal(conv2d(*m, x, choice), m->forward(x)));
    CHECK(product(conv2d(*wide, x, conv_choice(*wide, 2, 2, settings))));  // another shape: still the rule's
    CHECK(product(conv2d(*m, x, conv_choice(*m, 4, 4, settings))));        // another map: still the rule's
    settings.conv = {{key, "small_conv"}};
    CHECK(product(conv2d(*m, x, conv_choice(*m, 2, 2, settings))));
  }

  TEST_CASE("a case log lists each convolution a rule sends to our kernels once, with its shape") {
    if (!bf16_runs()) return;
    torch::nn::Conv2d stem(torch::nn::Conv2dOptions(3, 8, 7).stride(2).padding(3).bias(false));
    torch::nn::Conv2d small(torch::nn::Conv2dOptions(8, 8, 3).padding(1).bias(false));
    const torch::Tensor img = torch::randn({4, 3, 16, 16}).contiguous(at::MemoryFormat::ChannelsLast);
    const torch::Tensor map = torch::randn({16, 8, 2, 2}).contiguous(at::MemoryFormat::ChannelsLast).requires_grad_();
    ConvChoice listing;
    listing.record = std::make_shared<ConvCaseLog>();
    {
      Autocast autocast(kBf16);
      for (int k = 0; k < 2; ++k)
        conv2d(*stem, img, listing), conv2d(*small, map, listing), conv2d(*small, map.detach(), listing);
      conv2d(*small, map);  // no log: nothing listed
    }
    const std::vector<ConvCase> cases = listing.record->cases();
    REQUIRE(cases.size() == 2);
    CHECK(cases[0].key == "space_to_depth 3->8 k7x7 s2x2 p3x3 d1x1 on 16x16");
    CHECK((cases[0].kernel == ConvKernel::space_to_depth));
    CHECK(cases[0].input == std::vector<int64_t>{4, 3, 16, 16});
    CHECK_FALSE(cases[0].input_grad);
    CHECK(cases[1].key == "small_conv 8->8 k3x3 s1x1 p1x1 d1x1 on 2x2");
    CHECK(cases[1].input_grad);  // the first one met
    CHECK(ConvCaseLog().cases().empty());
  }

  TEST_CASE("our convolution kernel is chosen only when faster than ATen's by more than the tie margin") {
    auto ours = [](double aten_ms, double ours_ms) { return ConvTiming{"k", "small_conv", aten_ms, ours_ms}.ours(); };
    CHECK(ours(10, 5));
    CHECK_FALSE(ours(10, 9.7));  // 3%: a tie, ATen's
    CHECK_FALSE(ours(10, 10));
    CHECK_FALSE(ours(10, 14));
    CHECK(ours(10, (1 - kKernelTieMargin) * 10 - 0.01));
    const ConvChoices choices =
        conv_choices_of({{"a", "small_conv", 10, 5}, {"b", "space_to_depth", 10, 12}, {"c", "space_to_depth", 10, 2}});
    CHECK(choices == ConvChoices{{"a", "small_conv"}, {"b", "aten"}, {"c", "space_to_depth"}});
  }

  TEST_CASE("kernels = aten builds LibTorch's own modules: no kernel of ours and no reordering, the same values") {
    // A stem (conv, BN, ReLU, max-pool) and a 2x2 convolution, which the rules send to ours.
    const Graph g = graph_of(R"(
name = "k"
[input]
shape = [3, 16, 16]
[data]
num_classes = 4
[[layers]]
op = "conv2d"
out = 8
kernel = 7
stride = 2
padding = 3
bias = false
[[layers]]
op = "batchnorm2d"
[[layers]]
op = "relu"
[[layers]]
op = "maxpool2d"
kernel = 3
stride = 2
padding = 1
[[layers]]
op = "maxpool2d"
kernel = 2
stride = 2
[[layers]]
op = "conv2d"
out = 8
kernel = 3
padding = 1
[[layers]]
op = "gelu"
[[layers]]
op = "adaptive_avgpool2d"
[[layers]]
op = "flatten"
[[layers]]
op = "linear"
out = 4
)");
    torch::manual_seed(0);
    GraphModule ours = build_model(g);
    KernelSettings aten_only;
    aten_only.ours = false;
    GraphModule aten = build_model(g, aten_only);
    {
      torch::NoGradGuard no_grad;
      auto a = ours->parameters(), b = aten->parameters();
      REQUIRE(a.size() == b.size());
      for (size_t k = 0; k < a.size(); ++k) b[k].copy_(a[k]);
    }
    for (GraphModule* m : {&ours, &aten})
      place_model(**m, [] {
        Hardware hw = kBf16;
        hw.channels_last = true;
        return hw;
      }());
    const torch::Tensor x = torch::randn({16, 3, 16, 16}).contiguous(at::MemoryFormat::ChannelsLast);
    // Every node of the graph that leaves a backward node: names of ours are engine's own.
    auto backward_names = [](const torch::Tensor& y) {
      std::string names;
      std::vector<torch::autograd::Node*> todo{y.grad_fn().get()};
      std::set<torch::autograd::Node*> seen;
      while (!todo.empty()) {
        torch::autograd::Node* n = todo.back();
        todo.pop_back();
        if (!n || !seen.insert(n).second) continue;
        names += n->name() + " ";
        for (const auto& e : n->next_edges()) todo.push_back(e.function.get());
      }
      return names;
    };
    // The same network: in fp32 (only the 2x2 product is bf16-only) the logits agree to rounding.
    const torch::Tensor ya = ours->forward(x), yb = aten->forward(x);
    CHECK(close(ya, yb.to(torch::kDouble), 1e-4));
    for (const bool bf16 : {false, true}) {
      if (bf16 && !bf16_runs()) continue;
      CAPTURE(bf16);
      torch::Tensor a, b;
      {
        Autocast autocast(bf16 ? kBf16 : Hardware{});
        a = ours->forward(x), b = aten->forward(x);
      }
      const std::string ours_names = backward_names(a), aten_names = backward_names(b);
      CAPTURE(ours_names);
      CAPTURE(aten_names);
      CHECK(ours_names.find("engine::") != std::string::npos);  // our autograd functions are named so
      CHECK(aten_names.find("engine::") == std::string::npos);
      CHECK((ours_names.find("SmallConv") != std::string::npos) == bf16);  // the product is bf16's alone
    }
  }

  TEST_CASE("ENGINE_KERNELS overrides [train].kernels, and anything but auto or aten is refused") {
    unsetenv("ENGINE_KERNELS");
    CHECK(effective_kernels("auto") == "auto");
    CHECK(effective_kernels("aten") == "aten");
    setenv("ENGINE_KERNELS", "aten", 1);
    CHECK(effective_kernels("auto") == "aten");
    setenv("ENGINE_KERNELS", "fast", 1);
    CHECK_THROWS_AS(effective_kernels("auto"), std::invalid_argument);
    unsetenv("ENGINE_KERNELS");
  }

  TEST_CASE("GELU on a channels_last tensor stays within one rounding of the exact GELU, forward and backward") {
    // The workaround (engine/kernels/kernels.hpp) feeds ATen another view of the same bytes; this pins
    // that the view is the right one and the result is GELU to the precision of the dtype.
    torch::manual_seed(0);
    for (const auto dtype : {torch::kBFloat16, torch::kFloat}) {
      if (dtype == torch::kBFloat16 && !bf16_runs()) continue;
      const double rel = dtype == torch::kBFloat16 ? 1.0 / 256 : 1e-6;  // bf16 keeps 8 significant bits
      for (const bool grad_channels_last : {true, false}) {
        CAPTURE(dtype);
        CAPTURE(grad_channels_last);
        const torch::Tensor x0 = (torch::randn({8, 16, 6, 6}) * 3).to(dtype);
        torch::Tensor x = x0.contiguous(at::MemoryFormat::ChannelsLast).requires_grad_();
        torch::Tensor g = torch::randn({8, 16, 6, 6}).to(dtype);
        if (grad_channels_last) g = g.contiguous(at::MemoryFormat::ChannelsLast);
        const torch::Tensor y = engine::gelu(x, "none");
        y.backward(g);

        torch::Tensor xd = x0.to(torch::kDouble).requires_grad_();
        const torch::Tensor yd = at::gelu(xd, "none");
        yd.backward(g.to(torch::kDouble));

        CHECK(y.is_contiguous(at::MemoryFormat::ChannelsLast));
        CHECK((y.scalar_type() == dtype));
        CHECK(within(y, yd, rel));
        CHECK((x.grad().scalar_type() == dtype));
        CHECK(within(x.grad(), xd.grad(), rel));
      }
    }
    // Contiguous inputs and the tanh form are ATen's own GELU, bit for bit.
    const torch::Tensor x = torch::randn({4, 8, 5, 5}).to(bf16_runs() ? torch::kBFloat16 : torch::kFloat);
    CHECK(torch::equal(engine::gelu(x, "none"), at::gelu(x, "none")));
    const torch::Tensor xc = x.contiguous(at::MemoryFormat::ChannelsLast);
    CHECK(torch::equal(engine::gelu(xc, "tanh"), at::gelu(xc, "tanh")));
  }

  TEST_CASE("batch norm on a channels_last tensor in training: the exact statistics, output and gradients") {
    // Our kernel (engine/nn/batch_norm.cpp) against batch norm computed in double from the same
    // input: output, all three gradients, the running statistics and the batch count. Shapes
    // with a partial block of rows and channels that fill no vector evenly, and the stem's at
    // batch 32, where ATen's own kernel misses these bounds (output, weight gradient, running
    // variance: its sums lose digits).
    torch::manual_seed(0);
    for (const auto dtype : {torch::kBFloat16, torch::kFloat}) {
      const double rel = dtype == torch::kBFloat16 ? 1.0 / 256 : 1e-5;  // one rounding of the dtype
      for (const auto& shape : {std::vector<int64_t>{8, 16, 6, 6}, {3, 24, 19, 21}, {32, 64, 32, 32}}) {
        CAPTURE(dtype);
        CAPTURE(shape[1]);
        const int64_t C = shape[1];
        torch::nn::BatchNorm2d ours(torch::nn::BatchNorm2dOptions(C).momentum(0.3)),
            exact(torch::nn::BatchNorm2dOptions(C).momentum(0.3));
        torch::NoGradGuard{}, ours->weight.data().uniform_(0.5, 2), ours->bias.data().normal_();
        exact->to(torch::kDouble);
        exact->weight.data().copy_(ours->weight.data());
        exact->bias.data().copy_(ours->bias.data());
        // An offset mean, so that a one-pass variance would lose digits.
        const torch::Tensor x0 = (torch::randn(shape) * 2 + 30).to(dtype);
        torch::Tensor x = x0.contiguous(at::MemoryFormat::ChannelsLast).requires_grad_();
        const torch::Tensor g = torch::randn(shape).to(dtype).contiguous(at::MemoryFormat::ChannelsLast);
        const torch::Tensor y = engine::batch_norm(*ours, x);
        y.backward(g);

        torch::Tensor xd = x0.to(torch::kDouble).requires_grad_();
        const torch::Tensor yd = exact->forward(xd);
        yd.backward(g.to(torch::kDouble));

        CHECK(y.is_contiguous(at::MemoryFormat::ChannelsLast));
        CHECK((y.scalar_type() == dtype));
        CHECK(close(y, yd, rel));
        CHECK((x.grad().scalar_type() == dtype));
        CHECK(close(x.grad(), xd.grad(), rel));
        CHECK(close(ours->weight.grad(), exact->weight.grad(), 1e-5));
        CHECK(close(ours->bias.grad(), exact->bias.grad(), 1e-5));
        CHECK(close(ours->running_mean, exact->running_mean, 1e-6));
        CHECK(close(ours->running_var, exact->running_var, 1e-5));
        CHECK(ours->num_batches_tracked.item<int64_t>() == 1);
      }
    }
    // Everything else is the module's own forward, bit for bit: a contiguous input, and eval.
    torch::nn::BatchNorm2d a(8), b(8);
    const torch::Tensor x = torch::randn({4, 8, 5, 5}).to(torch::kBFloat16);
    CHECK(torch::equal(engine::batch_norm(*a, x), b->forward(x)));
    CHECK(torch::equal(a->running_var, b->running_var));
    a->eval(), b->eval();
    const torch::Tensor xc = x.contiguous(at::MemoryFormat::ChannelsLast);
    CHECK(torch::equal(engine::batch_norm(*a, xc), b->forward(xc)));
  }

  TEST_CASE("a convolution on a small map as one matrix product: the convolution's output and gradients") {
    // conv2d_as_matmul (engine/nn/small_conv.cpp) against the convolution in double on the same
    // inputs (rounded to bf16 as autocast rounds them): output and the input, weight and bias
    // gradients, for the ResNet's 2x2 and stride-2 shapes and a geometry with every option
    // different along the two axes, so a tap read transposed or a block added twice shows.
    // Each product has over 16^3 multiply-adds, where ATen's bf16 GEMM is oneDNN's (below, it
    // sums in bf16; conv2d never sends it there).
    torch::manual_seed(0);
    struct Case {
      int64_t ci, co, h, w;
      std::vector<int64_t> k, s, p, d;
      bool bias;
    };
    const std::vector<Case> cases{{8, 12, 2, 2, {3, 3}, {1, 1}, {1, 1}, {1, 1}, true},
                                  {6, 10, 4, 4, {3, 3}, {2, 2}, {1, 1}, {1, 1}, false},
                                  {5, 7, 5, 6, {3, 2}, {2, 1}, {1, 0}, {1, 2}, true},
                                  {16, 16, 4, 4, {1, 1}, {2, 2}, {0, 0}, {1, 1}, false}};
    for (const Case& c : cases)
      for (const bool bf16 : {true, false}) {
        if (bf16 && !bf16_runs()) continue;
        CAPTURE(c.h);
        CAPTURE(c.w);
        CAPTURE(bf16);
        const double rel = bf16 ? 1.0 / 256 : 1e-5;  // one rounding of the dtype
        const auto dtype = bf16 ? torch::kBFloat16 : torch::kFloat;
        torch::nn::Conv2d m(
            torch::nn::Conv2dOptions(c.ci, c.co, c.k).stride(c.s).padding(c.p).dilation(c.d).bias(c.bias));
        m->weight.set_data(m->weight.data().contiguous(at::MemoryFormat::ChannelsLast));  // as place_model leaves it
        const torch::Tensor x0 = torch::randn({3, c.ci, c.h, c.w}).to(dtype);
        torch::Tensor x = x0.contiguous(at::MemoryFormat::ChannelsLast).requires_grad_();
        const torch::Tensor y = [&] {
          Autocast autocast(bf16 ? kBf16 : Hardware{});
          return conv2d_as_matmul(*m, x);
        }();
        const torch::Tensor g = torch::randn(y.sizes()).to(dtype).contiguous(at::MemoryFormat::ChannelsLast);
        y.backward(g);

        // The exact convolution in double, and the same sums over |terms| as the scale of its error.
        auto as_computed = [&](const torch::Tensor& t) { return t.detach().to(dtype).to(torch::kDouble); };
        torch::Tensor xd = x0.to(torch::kDouble).requires_grad_(), wd = as_computed(m->weight).requires_grad_();
        torch::Tensor bd = c.bias ? as_computed(m->bias).requires_grad_() : torch::Tensor();
        torch::Tensor xa = xd.detach().abs().requires_grad_(), wa = wd.detach().abs().requires_grad_();
        torch::Tensor ba = c.bias ? bd.detach().abs().requires_grad_() : torch::Tensor();
        torch::conv2d(xd, wd, bd, c.s, c.p, c.d).backward(g.to(torch::kDouble));
        const torch::Tensor yd = torch::conv2d(xd, wd, bd, c.s, c.p, c.d);
        const torch::Tensor ya = torch::conv2d(xa, wa, ba, c.s, c.p, c.d);
        ya.backward(g.to(torch::kDouble).abs());

        CHECK(y.is_contiguous(at::MemoryFormat::ChannelsLast));
        CHECK((y.scalar_type() == dtype));
        CHECK(bounded(y, yd, ya, rel));
        CHECK((x.grad().scalar_type() == dtype));
        CHECK(bounded(x.grad(), xd.grad(), xa.grad(), rel));
        CHECK((m->weight.grad().scalar_type() == torch::kFloat));
        CHECK(bounded(m->weight.grad(), wd.grad(), wa.grad(), rel));
        if (c.bias) CHECK(bounded(m->bias.grad(), bd.grad(), ba.grad(), rel));
      }
    // conv2d takes the matrix product only where use_small_conv's measurements say it is faster,
    // and only in bf16; everywhere else it is the module's forward, bit for bit.
    CHECK(use_small_conv(4, 4, 16));
    CHECK(use_small_conv(16, 4, 25));
    CHECK_FALSE(use_small_conv(16, 4, 4));
    CHECK_FALSE(use_small_conv(16, 16, 100));
    torch::nn::Conv2d m(torch::nn::Conv2dOptions(8, 8, 3).padding(1).bias(false));
    for (const int64_t hw : {2, 8}) {
      const torch::Tensor x = torch::randn({2, 8, hw, hw}).contiguous(at::MemoryFormat::ChannelsLast);
      CHECK(torch::equal(conv2d(*m, x), m->forward(x)));  // fp32: ATen's
    }
    if (!bf16_runs()) return;
    const torch::Tensor x = torch::randn({2, 8, 8, 8}).to(torch::kBFloat16).contiguous(at::MemoryFormat::ChannelsLast);
    Autocast autocast(kBf16);
    CHECK(torch::equal(conv2d(*m, x), m->forward(x)));  // bf16 on 8x8: ATen's
  }

  TEST_CASE("max pooling on a channels_last tensor: ATen's output and the exact gradient, ties included") {
    // Our kernel (engine/nn/max_pool.cpp) against ATen's forward, bit for bit, and the gradient
    // of max pooling in double. Odd map sizes, windows clipped by padding, overlapping and not,
    // and integer inputs full of ties, which must go to the first maximum in window order.
    torch::manual_seed(0);
    struct Case {
      std::vector<int64_t> shape;
      int64_t k, s, p;
    };
    const std::vector<Case> cases{
        {{8, 16, 9, 11}, 3, 2, 1}, {{4, 5, 7, 7}, 2, 2, 0}, {{3, 8, 6, 5}, 3, 1, 1}, {{32, 64, 32, 32}, 3, 2, 1}};
    for (const auto dtype : {torch::kBFloat16, torch::kFloat})
      for (const Case& c : cases)
        for (const bool ties : {false, true}) {
          CAPTURE(dtype);
          CAPTURE(c.shape[2]);
          CAPTURE(ties);
          torch::nn::MaxPool2d m(torch::nn::MaxPool2dOptions(c.k).stride(c.s).padding(c.p));
          const torch::Tensor x0 =
              (ties ? torch::randint(-3, 3, c.shape).to(torch::kFloat) : torch::randn(c.shape)).to(dtype);
          torch::Tensor x = x0.contiguous(at::MemoryFormat::ChannelsLast).requires_grad_();
          const torch::Tensor y = max_pool2d(*m, x);
          const torch::Tensor g = torch::randn(y.sizes()).to(dtype).contiguous(at::MemoryFormat::ChannelsLast);
          y.backward(g);

          torch::Tensor xd = x0.to(torch::kDouble).requires_grad_();
          const torch::Tensor yd = torch::max_pool2d(xd, c.k, c.s, c.p);
          yd.backward(g.to(torch::kDouble));

          CHECK(y.is_contiguous(at::MemoryFormat::ChannelsLast));
          CHECK((y.scalar_type() == dtype));
          CHECK(torch::equal(y, m->forward(x.detach())));
          CHECK((x.grad().scalar_type() == dtype));
          CHECK(within(x.grad(), xd.grad(), dtype == torch::kBFloat16 ? 1.0 / 256 : 1e-6));
        }
    // A contiguous input is the module's own forward.
    torch::nn::MaxPool2d m(torch::nn::MaxPool2dOptions(3).stride(2).padding(1));
    const torch::Tensor x = torch::randn({2, 4, 6, 6});
    CHECK(torch::equal(max_pool2d(*m, x), m->forward(x)));
  }

  TEST_CASE("a strided convolution as a convolution of its space-to-depth rearrangement: the same values") {
    // conv2d_space_to_depth (engine/nn/space_to_depth.cpp) against the module's own forward in
    // fp32: output and the input, weight and bias gradients. The stem's geometry, padding that
    // is not a multiple of the stride, map sizes that are not whole blocks (cut and padded
    // ends), a kernel no longer than the stride, and stride 3.
    torch::manual_seed(0);
    struct Case {
      int64_t ci, co, h, w, k, s, p;
    };
    const std::vector<Case> cases{{3, 8, 16, 16, 7, 2, 3},
                                  {3, 5, 11, 9, 5, 2, 1},
                                  {2, 4, 7, 10, 2, 2, 0},
                                  {3, 6, 13, 14, 5, 3, 2},
                                  {4, 3, 8, 8, 3, 2, 1}};
    for (const Case& c : cases)
      for (const auto format : {at::MemoryFormat::ChannelsLast, at::MemoryFormat::Contiguous}) {
        CAPTURE(c.k);
        CAPTURE(c.s);
        CAPTURE(c.h);
        CAPTURE(format);
        torch::nn::Conv2d m(torch::nn::Conv2dOptions(c.ci, c.co, c.k).stride(c.s).padding(c.p).bias(true));
        const torch::Tensor x0 = torch::randn({2, c.ci, c.h, c.w}).contiguous(format);
        torch::Tensor x = x0.clone().requires_grad_(), xr = x0.clone().requires_grad_();
        const torch::Tensor y = conv2d_space_to_depth(*m, x);
        const torch::Tensor g = torch::randn(y.sizes());
        y.backward(g);
        const torch::Tensor gw = m->weight.grad().clone(), gb = m->bias.grad().clone();
        m->zero_grad();
        const torch::Tensor yr = m->forward(xr);
        yr.backward(g);
        REQUIRE(y.sizes() == yr.sizes());
        CHECK(close(y, yr, 1e-5));
        CHECK(close(x.grad(), xr.grad(), 1e-5));
        CHECK(close(gw, m->weight.grad(), 1e-5));
        CHECK(close(gb, m->bias.grad(), 1e-5));
        CHECK(y.is_contiguous(format));
      }
    // conv2d takes it for the stem in bf16 channels_last only.
    torch::nn::Conv2d stem(torch::nn::Conv2dOptions(3, 8, 7).stride(2).padding(3).bias(false));
    const torch::Tensor img = torch::randn({2, 3, 16, 16}).contiguous(at::MemoryFormat::ChannelsLast);
    CHECK_FALSE(use_space_to_depth(*stem, img));  // fp32, no autocast
    Autocast autocast(kBf16);
    CHECK(use_space_to_depth(*stem, img));
    CHECK_FALSE(use_space_to_depth(*stem, img.contiguous()));
    torch::nn::Conv2d wide(torch::nn::Conv2dOptions(64, 8, 3).stride(2).padding(1).bias(false));
    CHECK_FALSE(use_space_to_depth(*wide, torch::randn({2, 64, 8, 8}).contiguous(at::MemoryFormat::ChannelsLast)));
  }

  TEST_CASE("the space-to-depth convolution in bf16 under autocast: the convolution's values to bf16 rounding") {
    if (!bf16_runs()) return;
    // As a training step runs the stem: a fp32 image under CPU bf16 autocast. Against the
    // convolution in double of the same bf16-rounded input and weight; the error is bounded by
    // the sums over |terms| (a few roundings of bf16's 8 bits).
    torch::manual_seed(0);
    struct Case {
      int64_t ci, co, h, w, k, s, p;
    };
    for (const Case& c : std::vector<Case>{{3, 8, 16, 16, 7, 2, 3}, {3, 5, 11, 9, 5, 2, 1}, {3, 6, 13, 14, 5, 3, 2}}) {
      CAPTURE(c.k);
      CAPTURE(c.s);
      torch::nn::Conv2d m(torch::nn::Conv2dOptions(c.ci, c.co, c.k).stride(c.s).padding(c.p).bias(true));
      m->weight.set_data(m->weight.data().contiguous(at::MemoryFormat::ChannelsLast));
      const torch::Tensor x0 = torch::randn({2, c.ci, c.h, c.w}).contiguous(at::MemoryFormat::ChannelsLast);
      torch::Tensor x = x0.clone().requires_grad_();
      const torch::Tensor y = [&] {
        Autocast autocast(kBf16);
        return conv2d_space_to_depth(*m, x);
      }();
      CHECK((y.scalar_type() == torch::kBFloat16));
      const torch::Tensor g = torch::randn(y.sizes()).to(torch::kBFloat16).contiguous(at::MemoryFormat::ChannelsLast);
      y.backward(g);

      auto rounded = [](const torch::Tensor& t) { return t.detach().to(torch::kBFloat16).to(torch::kDouble); };
      torch::Tensor xd = rounded(x0).requires_grad_(), wd = rounded(m->weight).requires_grad_();
      torch::Tensor bd = rounded(m->bias).requires_grad_();
      torch::Tensor xa = xd.detach().abs().requires_grad_(), wa = wd.detach().abs().requires_grad_();
      torch::Tensor ba = bd.detach().abs().requires_grad_();
      const torch::Tensor yd = torch::conv2d(xd, wd, bd, c.s, c.p);
      yd.backward(g.to(torch::kDouble));
      torch::conv2d(xa, wa, ba, c.s, c.p).backward(g.to(torch::kDouble).abs());
      const torch::Tensor ya = torch::conv2d(xa.detach(), wa.detach(), ba.detach(), c.s, c.p);
      const double rel = 3.0 / 256;
      CHECK(bounded(y, yd, ya, rel));
      CHECK((x.grad().scalar_type() == torch::kFloat));
      CHECK(bounded(x.grad(), xd.grad(), xa.grad(), rel));
      CHECK(bounded(m->weight.grad(), wd.grad(), wa.grad(), rel));
      CHECK(bounded(m->bias.grad(), bd.grad(), ba.grad(), rel));
    }
  }
}
