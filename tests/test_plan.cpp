// The measured execution plan of `engine run`: what [train].memory_format = "auto" becomes.
#include "engine/nn/kernels.hpp"  // torch before doctest
#include "engine/nn/runner/hardware.hpp"

#include <doctest/doctest.h>

#include "engine/core/run_dir.hpp"
#include "engine/nn/runner/plan.hpp"
#include "engine/nn/runner/run.hpp"
#include "tests/run_fixture.hpp"

using namespace engine;
namespace fs = std::filesystem;

namespace {
struct Fixture : test::TinyRun {
  fs::path plans = dir / ".cache" / "plans.toml";  // beside the run directories, as the data cache
  Fixture() : TinyRun("engine-plan") {}
  RunOptions options(const std::string& out, std::vector<std::string> sets = {"train.epochs=1"}) const {
    return TinyRun::options(out, std::move(sets));
  }
  std::string format_of(const std::string& out) const { return RunDir(dir / out).read_result().memory_format; }
  std::string log_of(const std::string& out) const { return test::read_file(dir / out / "train.log"); }
};

// The CPU under bf16 autocast, for engine::Autocast.
const Hardware kBf16 = [] {
  Hardware hw;
  hw.bf16 = true;
  return hw;
}();

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }
std::string other(const std::string& format) { return format == "contiguous" ? "channels_last" : "contiguous"; }

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

TEST_SUITE("plan") {
  TEST_CASE("auto times both formats once, records and caches the faster; a second run reads the cache") {
    Fixture f;
    CHECK(run_graph(f.graph, f.options("a")).complete);
    const std::string chosen = f.format_of("a");
    CHECK((chosen == "channels_last" || chosen == "contiguous"));
    const std::string log = f.log_of("a");
    CHECK(has(log, "memory format: measured"));
    CHECK(has(log, "  channels_last  "));
    CHECK(has(log, "  contiguous     "));
    REQUIRE(fs::exists(f.plans));
    const std::string plans = test::read_file(f.plans);
    CHECK(has(plans, "memory_format = \"" + chosen + "\""));
    CHECK(has(plans, "graph = \"tiny\""));

    CHECK(run_graph(f.graph, f.options("b")).complete);
    CHECK_FALSE(has(f.log_of("b"), "memory format: measured"));
    CHECK(has(f.log_of("b"), "memory format: " + chosen + ", as measured before"));
    CHECK(f.format_of("b") == chosen);

    // Another batch size is another plan.
    CHECK(run_graph(f.graph, f.options("c", {"train.epochs=1", "train.batch_size=8"})).complete);
    CHECK(has(f.log_of("c"), "memory format: measured"));
  }

  TEST_CASE("contiguous is chosen only when faster by more than the tie margin") {
    CHECK(choose_contiguous(100, 90));         // 10% faster
    CHECK_FALSE(choose_contiguous(100, 97));   // 3%: a tie, channels_last
    CHECK_FALSE(choose_contiguous(100, 100));  // equal: channels_last
    CHECK_FALSE(choose_contiguous(100, 130));  // slower
    CHECK(choose_contiguous(100, (1 - kPlanTieMargin) * 100 - 0.01));
    CHECK_FALSE(choose_contiguous(100, (1 - kPlanTieMargin) * 100 + 0.01));
  }

  TEST_CASE("a resumed run keeps the format it recorded, whatever the cache says now") {
    Fixture f;
    RunOptions part = f.options("run", {"train.epochs=2"});
    part.stop_after = 1;
    CHECK_FALSE(run_graph(f.graph, part).complete);
    const std::string recorded = f.format_of("run");
    // The cache now claims the other format: the resume must not follow it.
    std::string plans = test::read_file(f.plans);
    const std::string line = "memory_format = \"" + recorded + "\"";
    REQUIRE(has(plans, line));
    plans.replace(plans.find(line), line.size(), "memory_format = \"" + other(recorded) + "\"");
    f.dir.write(".cache/plans.toml", plans);

    part.stop_after = 0;
    CHECK(run_graph(f.graph, part).complete);
    CHECK(has(f.log_of("run"), "memory format: " + recorded + ", as the run being resumed recorded"));
    CHECK(f.format_of("run") == recorded);
    CHECK(RunDir(f.dir / "run").read_metrics().size() == 2);
  }

  TEST_CASE("under ENGINE_THREADS (engine study --jobs) the plan is measured and cached on those threads") {
    Fixture f;
    setenv("ENGINE_THREADS", "1", 1);
    const bool done = run_graph(f.graph, f.options("a")).complete;
    unsetenv("ENGINE_THREADS");
    REQUIRE(done);
    CHECK(has(f.log_of("a"), "memory format: measured"));
    CHECK(has(test::read_file(f.plans), "threads = 1\n"));
    CHECK(has(f.log_of("a"), "(1 threads)"));
  }

  TEST_CASE("an explicit memory_format is used as written, with nothing measured or cached") {
    Fixture f;
    for (const std::string format : {"contiguous", "channels_last"}) {
      CAPTURE(format);
      CHECK(run_graph(f.graph, f.options(format, {"train.epochs=1", "train.memory_format=" + format})).complete);
      CHECK(f.format_of(format) == format);
      CHECK_FALSE(has(f.log_of(format), "memory format:"));
      CHECK_FALSE(has(f.log_of(format), "convolution kernels:"));
      CHECK(RunDir(f.dir / format).read_result().conv_kernels.empty());
    }
    CHECK_FALSE(fs::exists(f.plans));
  }

  TEST_CASE("a measured choice sends one convolution shape back to ATen's kernel, and no other") {
    torch::manual_seed(0);
    set_conv_choices({});
    torch::nn::Conv2d m(torch::nn::Conv2dOptions(16, 16, 3).padding(1).bias(false));
    torch::nn::Conv2d wide(torch::nn::Conv2dOptions(16, 32, 3).padding(1).bias(false));
    const torch::Tensor x = torch::randn({8, 16, 2, 2}).to(torch::kBFloat16).contiguous(at::MemoryFormat::ChannelsLast);
    Autocast autocast(kBf16);
    REQUIRE(rule_kernel(*m, x) == ConvKernel::small_conv);
    const std::string key = conv_case(*m, x, ConvKernel::small_conv).key;
    CHECK(key == "small_conv 16->16 k3x3 s1x1 p1x1 d1x1 on 2x2");
    // Which kernel ran, by the backward it left: the product's own, or ATen's convolution's.
    auto product = [](const torch::Tensor& y) { return y.grad_fn()->name().find("SmallConv") != std::string::npos; };
    REQUIRE(product(conv2d_as_matmul(*m, x)));
    REQUIRE_FALSE(product(m->forward(x)));
    CHECK(product(conv2d(*m, x)));  // the rule's kernel

    set_conv_choices({{key, "aten"}});
    CHECK_FALSE(product(conv2d(*m, x)));
    CHECK(torch::equal(conv2d(*m, x), m->forward(x)));
    CHECK(product(conv2d(*wide, x)));  // another shape: still the rule's
    set_conv_choices({{key, "small_conv"}});
    CHECK(product(conv2d(*m, x)));
    set_conv_choices({});
  }

  TEST_CASE("the recorder lists each convolution a rule sends to our kernels once, with its shape") {
    set_conv_choices({});
    torch::nn::Conv2d stem(torch::nn::Conv2dOptions(3, 8, 7).stride(2).padding(3).bias(false));
    torch::nn::Conv2d small(torch::nn::Conv2dOptions(8, 8, 3).padding(1).bias(false));
    const torch::Tensor img = torch::randn({4, 3, 16, 16}).contiguous(at::MemoryFormat::ChannelsLast);
    const torch::Tensor map = torch::randn({16, 8, 2, 2}).contiguous(at::MemoryFormat::ChannelsLast).requires_grad_();
    std::vector<ConvCase> cases;
    {
      ConvCaseRecorder recorder;
      Autocast autocast(kBf16);
      for (int k = 0; k < 2; ++k) conv2d(*stem, img), conv2d(*small, map), conv2d(*small, map.detach());
      cases = recorder.cases();
    }
    REQUIRE(cases.size() == 2);
    CHECK(cases[0].key == "space_to_depth 3->8 k7x7 s2x2 p3x3 d1x1 on 16x16");
    CHECK((cases[0].kernel == ConvKernel::space_to_depth));
    CHECK(cases[0].input == std::vector<int64_t>{4, 3, 16, 16});
    CHECK_FALSE(cases[0].input_grad);
    CHECK(cases[1].key == "small_conv 8->8 k3x3 s1x1 p1x1 d1x1 on 2x2");
    CHECK(cases[1].input_grad);  // the first one met
    {
      ConvCaseRecorder recorder;  // a new recorder starts empty
      CHECK(recorder.cases().empty());
    }
  }

  TEST_CASE("our convolution kernel is chosen only when faster than ATen's by more than the tie margin") {
    auto ours = [](double aten_ms, double ours_ms) { return ConvTiming{"k", "small_conv", aten_ms, ours_ms}.ours(); };
    CHECK(ours(10, 5));
    CHECK_FALSE(ours(10, 9.7));  // 3%: a tie, ATen's
    CHECK_FALSE(ours(10, 10));
    CHECK_FALSE(ours(10, 14));
    const ConvChoices choices =
        conv_choices_of({{"a", "small_conv", 10, 5}, {"b", "space_to_depth", 10, 12}, {"c", "space_to_depth", 10, 2}});
    CHECK(choices == ConvChoices{{"a", "small_conv"}, {"b", "aten"}, {"c", "space_to_depth"}});
  }

  TEST_CASE("auto measures the graph's convolution kernels, records them, and a resume and engine test keep them") {
    Fixture f;
    RunOptions part = f.options("run", {"train.epochs=2"});
    part.stop_after = 1;
    CHECK_FALSE(run_graph(f.graph, part).complete);
    // The tiny graph's first layer (3 -> 8, 3x3, stride 2, on 32x32 in bf16) is what the stem's rule takes.
    const std::string key = "space_to_depth 3->8 k3x3 s2x2 p1x1 d1x1 bias on 32x32";
    const ConvChoices recorded = RunDir(f.dir / "run").read_result().conv_kernels;
    REQUIRE(recorded.size() == 1);
    const std::string kernel = recorded.at(key);
    CHECK((kernel == "aten" || kernel == "space_to_depth"));
    CHECK(has(f.log_of("run"), "convolution kernels: "));
    CHECK(has(f.log_of("run"), "  " + key + "  "));
    const std::string line = "\"" + key + "\" = \"" + kernel + "\"";
    std::string plans = test::read_file(f.plans);
    REQUIRE(has(plans, line));

    // The cache now claims the other kernel: the resume must keep the recorded one.
    const std::string flipped = kernel == "aten" ? "space_to_depth" : "aten";
    plans.replace(plans.find(line), line.size(), "\"" + key + "\" = \"" + flipped + "\"");
    f.dir.write(".cache/plans.toml", plans);
    part.stop_after = 0;
    CHECK(run_graph(f.graph, part).complete);
    CHECK(has(f.log_of("run"), "as the run being resumed recorded, and its convolution kernels"));
    CHECK(RunDir(f.dir / "run").read_result().conv_kernels == recorded);

    // A new run reads the cache, flipped kernel and all.
    CHECK(run_graph(f.graph, f.options("again")).complete);
    CHECK(RunDir(f.dir / "again").read_result().conv_kernels == ConvChoices{{key, flipped}});

    set_conv_choices({});
    TestOptions t;
    t.out = (f.dir / "run").string();
    t.data_root = f.data.string();
    test_graph(f.graph, t);
    CHECK(conv_choices() == recorded);  // engine test evaluates with the kernels the run trained with
    set_conv_choices({});
  }

  TEST_CASE("GELU on a channels_last tensor stays within one rounding of the exact GELU, forward and backward") {
    // The workaround (engine/nn/kernels.hpp) feeds ATen another view of the same bytes; this pins
    // that the view is the right one and the result is GELU to the precision of the dtype.
    torch::manual_seed(0);
    for (const auto dtype : {torch::kBFloat16, torch::kFloat}) {
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
    const torch::Tensor x = torch::randn({4, 8, 5, 5}).to(torch::kBFloat16);
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
}
