// Metric maths against hand-computed confusion matrices, the sklearn report layout, the file
// writers, and the figures (files exist and decode at the expected sizes).
#include <doctest/doctest.h>

#include <toml++/toml.h>
#include <opencv2/imgcodecs.hpp>
#include "tests/support.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "engine/core/error.hpp"
#include "engine/core/eval/bootstrap.hpp"
#include "engine/core/eval/metrics.hpp"
#include "engine/core/eval/paired.hpp"
#include "engine/core/eval/plots.hpp"
#include "engine/core/run_dir.hpp"

namespace fs = std::filesystem;
using namespace engine::eval;

namespace {

// One seed of a comparison on `n` images: `a_only` images only A got right (+1), `b_only` only B
// (-1), the rest alike; the statistic is the image mean, as for decide_on = "best_val".
SeedDifference seed_of(size_t n, size_t a_only, size_t b_only) {
  SeedDifference s;
  s.images.assign(n, 0);
  for (size_t k = 0; k < a_only; ++k) s.images[k] = 1;
  for (size_t k = a_only; k < a_only + b_only; ++k) s.images[k] = -1;
  s.statistic = (static_cast<double>(a_only) - static_cast<double>(b_only)) / static_cast<double>(n);
  return s;
}

bool excludes_zero(const Bootstrap::Interval& ci) { return ci.lo > 0 || ci.hi < 0; }

// A fresh directory, removed afterwards unless ENGINE_KEEP_TEST_OUTPUT is set (to look at PNGs).

}  // namespace

TEST_SUITE("eval") {
  TEST_CASE("confusion matrix: rows are true classes, columns predictions") {
    const auto m = confusion_matrix({0, 0, 1, 2, 2}, {0, 1, 1, 2, 0}, 3);
    CHECK(m == ConfusionMatrix{{1, 1, 0}, {0, 1, 0}, {1, 0, 1}});
    CHECK_THROWS_AS(confusion_matrix({0, 3}, {0, 0}, 3), std::invalid_argument);
    CHECK_THROWS_AS(confusion_matrix({0}, {0, 1}, 3), std::invalid_argument);
  }

  TEST_CASE("metrics with a class never predicted (1) and a class never present (3)") {
    // true 0 -> pred 0,0,2 | true 1 -> 0,2 | true 2 -> 2,2,2,0 | class 3: no examples, no predictions
    const auto m = compute_metrics(confusion_matrix({0, 0, 0, 1, 1, 2, 2, 2, 2}, {0, 0, 2, 0, 2, 2, 2, 2, 0}, 4));
    CHECK(m.total == 9);
    CHECK(m.accuracy == doctest::Approx(5.0 / 9));
    CHECK(m.classes[0].precision == doctest::Approx(0.5));
    CHECK(m.classes[0].recall == doctest::Approx(2.0 / 3));
    CHECK(m.classes[0].f1 == doctest::Approx(4.0 / 7));
    CHECK(m.classes[1].precision == 0.0);  // never predicted: zero_division=0
    CHECK(m.classes[1].recall == 0.0);
    CHECK(m.classes[1].f1 == 0.0);
    CHECK(m.classes[1].support == 2);
    CHECK(m.classes[2].precision == doctest::Approx(0.6));
    CHECK(m.classes[2].recall == doctest::Approx(0.75));
    CHECK(m.classes[2].f1 == doctest::Approx(2.0 / 3));
    CHECK(m.classes[3].precision == 0.0);  // no support and never predicted
    CHECK(m.classes[3].recall == 0.0);
    CHECK(m.classes[3].support == 0);
    // Macro counts all four classes, the empty one included.
    CHECK(m.macro.precision == doctest::Approx(0.275));
    CHECK(m.macro.recall == doctest::Approx(17.0 / 48));
    CHECK(m.macro.f1 == doctest::Approx(13.0 / 42));
    // Weighted by support 3, 2, 4, 0; weighted recall equals accuracy.
    CHECK(m.weighted.precision == doctest::Approx(3.9 / 9));
    CHECK(m.weighted.recall == doctest::Approx(5.0 / 9));
    CHECK(m.weighted.f1 == doctest::Approx(92.0 / 189));
  }

  TEST_CASE("classification_report matches scikit-learn's text") {
    // The example of sklearn.metrics.classification_report's documentation, output verbatim.
    const auto m = compute_metrics(confusion_matrix({0, 1, 2, 2, 2}, {0, 0, 2, 2, 1}, 3));
    const std::string expected =
        "              precision    recall  f1-score   support\n"
        "\n"
        "     class 0       0.50      1.00      0.67         1\n"
        "     class 1       0.00      0.00      0.00         1\n"
        "     class 2       1.00      0.67      0.80         3\n"
        "\n"
        "    accuracy                           0.60         5\n"
        "   macro avg       0.50      0.56      0.49         5\n"
        "weighted avg       0.70      0.60      0.61         5\n";
    CHECK(classification_report(m, {"class 0", "class 1", "class 2"}) == expected);

    // A name longer than "weighted avg" widens the first column for every row.
    const std::string wide = classification_report(m, {"a", "European fire salamander", "c"}, 3);
    CHECK(wide.find("European fire salamander      0.000     0.000     0.000         1\n") != std::string::npos);
    CHECK(wide.find("            weighted avg      0.700     0.600     0.613         5\n") != std::string::npos);
  }

  TEST_CASE("standard error of an accuracy") {
    CHECK(accuracy_standard_error(0.8, 100) == doctest::Approx(0.04));
    CHECK(accuracy_standard_error(0.5, 0) == 0.0);
    CHECK(accuracy_standard_error(1.0, 50) == 0.0);
  }

  TEST_CASE("metrics.toml and confusion.csv are parseable and round-trip") {
    test::TempDir tmp("eval-writers");
    const auto matrix = confusion_matrix({0, 0, 1, 1, 2}, {0, 1, 1, 1, 0}, 3);
    const auto m = compute_metrics(matrix);
    const std::vector<ClassLabel> labels = {{"n01443537", "goldfish, Carassius auratus"},
                                            {"n01629819", "European \"fire\" salamander"},
                                            {"n01641577", "bullfrog"}};
    engine::RunDir(tmp.path()).write_test_metrics(m, labels);

    const toml::table t = toml::parse_file((tmp.path() / "test" / "metrics.toml").string());
    CHECK(t["accuracy"].value<double>().value() == doctest::Approx(0.6));
    CHECK(t["total"].value<int64_t>().value() == 5);
    CHECK(t["macro"]["f1"].value<double>().value() == doctest::Approx(m.macro.f1));
    CHECK(t["weighted"]["precision"].value<double>().value() == doctest::Approx(m.weighted.precision));
    const auto* classes = t["classes"].as_array();
    REQUIRE(classes);
    REQUIRE(classes->size() == 3);
    CHECK(t["classes"][1]["name"].value<std::string>().value() == "European \"fire\" salamander");
    CHECK(t["classes"][2]["support"].value<int64_t>().value() == 1);
    CHECK(t["classes"][2]["precision"].value<double>().value() == 0.0);
    CHECK(t["classes"][2]["precision"].is_floating_point());

    const auto back = engine::RunDir(tmp.path()).read_test_metrics();
    CHECK(back.metrics.accuracy == m.accuracy);  // shortest round-trip floats: exact
    CHECK(back.metrics.classes[0].f1 == m.classes[0].f1);
    CHECK(back.labels[0].wnid == "n01443537");
    CHECK(back.labels[0].name == "goldfish, Carassius auratus");

    engine::RunDir(tmp.path()).write_confusion(matrix, {labels[0].name, labels[1].name, labels[2].name});
    const std::string csv = test::read_file(tmp.path() / "test" / "confusion.csv");
    CHECK(csv.rfind("true\\predicted,\"goldfish, Carassius auratus\",\"European \"\"fire\"\" salamander\",bullfrog\n",
                    0) == 0);
    CHECK(csv.find("\nbullfrog,1,0,0\n") != std::string::npos);
    const auto read = engine::RunDir(tmp.path()).read_confusion();
    CHECK(read.matrix == matrix);
    CHECK(read.class_names[1] == "European \"fire\" salamander");
  }

  TEST_CASE("a garbled metrics.toml is a UserError naming the file") {
    test::TempDir tmp("eval-garbled");
    const engine::RunDir run(tmp.path());
    const fs::path file = tmp.path() / "test" / "metrics.toml";
    fs::create_directories(file.parent_path());
    std::ofstream(file) << "accuracy = = 0.5\n";
    try {
      run.read_test_metrics();
      FAIL("expected a UserError");
    } catch (const engine::UserError& e) {
      CHECK(std::string(e.what()).find(file.string()) != std::string::npos);
    }
    std::ofstream(file) << "accuracy = 0.5\n";
    CHECK_THROWS_WITH_AS(run.read_test_metrics(), doctest::Contains("total"), engine::UserError);
  }

  TEST_CASE("line_chart writes csv, gp and a png of the requested size") {
    test::TempDir tmp("eval-chart");
    const Series train{"train", {1, 2, 3, 4, 5}, {40, 55, 63, 70, 74}};
    const Series val{"val \"held out\"", {1, 2, 3}, {38, 50, 56}, true};
    line_chart(tmp.path() / "accuracy.png", {train, val}, {"Run 3.1-A: accuracy", "epoch", "accuracy (%)", 800, 500});
    const cv::Mat png = cv::imread((tmp.path() / "accuracy.png").string());
    REQUIRE_FALSE(png.empty());
    CHECK(png.cols == 800);
    CHECK(png.rows == 500);
    const std::string csv = test::read_file(tmp.path() / "accuracy.csv");
    CHECK(csv.rfind("epoch,train,\"val \"\"held out\"\"\"\n1,40.0,38.0\n", 0) == 0);
    CHECK(csv.find("\n5,74.0,\n") != std::string::npos);  // val has no epoch 5: empty cell
    const std::string gp = test::read_file(tmp.path() / "accuracy.gp");
    CHECK(gp.find("'accuracy.csv'") != std::string::npos);  // relative: the folder can move
    CHECK(gp.find("dt 2") != std::string::npos);

    // The script reruns on its own from its folder.
    fs::remove(tmp.path() / "accuracy.png");
    const std::string rerun = "cd '" + tmp.path().string() + "' && gnuplot accuracy.gp";
    CHECK(std::system(rerun.c_str()) == 0);
    CHECK(fs::exists(tmp.path() / "accuracy.png"));
  }

  TEST_CASE("line_chart without gnuplot is a clear UserError") {
    test::TempDir tmp("eval-nognuplot");
    const std::string saved = std::getenv("PATH") ? std::getenv("PATH") : "";
    setenv("PATH", (tmp.path() / "empty").string().c_str(), 1);
    CHECK_THROWS_WITH_AS(line_chart(tmp.path() / "x.png", {{"a", {1, 2}, {3, 4}}}, {"t", "epoch", "y"}),
                         doctest::Contains("gnuplot"), engine::UserError);
    setenv("PATH", saved.c_str(), 1);
  }

  TEST_CASE("confusion and samples figures decode at their documented sizes") {
    test::TempDir tmp("eval-figures");
    const std::vector<std::string> names = {"goldfish",           "European fire salamander",
                                            "bullfrog",           "tailed frog",
                                            "American alligator", "boa constrictor",
                                            "trilobite",          "scorpion",
                                            "black widow",        "tarantula"};
    std::vector<std::int64_t> truth, pred;
    std::mt19937 rng(7);
    for (int c = 0; c < 10; ++c)
      for (int i = 0; i < 50; ++i) {
        truth.push_back(c);
        pred.push_back(rng() % 100 < 70 ? c : static_cast<int>(rng() % 10));
      }
    const auto matrix = confusion_matrix(truth, pred, 10);
    confusion_png(tmp.path() / "confusion.png", matrix, names);
    const cv::Mat confusion = cv::imread((tmp.path() / "confusion.png").string());
    REQUIRE_FALSE(confusion.empty());
    CHECK(confusion.size() == confusion_png_size(names));
    CHECK(confusion.cols >= 10 * 56);

    // Ten 64x64 RGB images: a colour gradient per image, so orientation and channels show.
    std::vector<cv::Mat> images;
    std::vector<std::string> true_names, pred_names;
    for (int i = 0; i < 10; ++i) {
      cv::Mat rgb(64, 64, CV_8UC3);
      for (int y = 0; y < 64; ++y)
        for (int x = 0; x < 64; ++x) rgb.at<cv::Vec3b>(y, x) = cv::Vec3b(x * 4, y * 4, i * 25);
      images.push_back(rgb);
      true_names.push_back(names[i]);
      pred_names.push_back(i % 3 == 0 ? names[(i + 1) % 10] : names[i]);
    }
    samples_png(tmp.path() / "samples.png", images, true_names, pred_names);
    const cv::Mat samples = cv::imread((tmp.path() / "samples.png").string());
    REQUIRE_FALSE(samples.empty());
    CHECK(samples.size() == samples_png_size(10));
    CHECK(samples.cols >= 5 * kSampleTile);
    CHECK(samples.rows >= 2 * kSampleTile);
    // Image 0 is wrong: its border is red (BGR); image 1 is right: green.
    CHECK(samples.at<cv::Vec3b>(12 + 1, 12 + 1) == cv::Vec3b(0, 0, 210));
    CHECK(samples.at<cv::Vec3b>(12 + 1, 12 + kSampleTile + 12 + 1) == cv::Vec3b(0, 140, 0));
    // A pixel inside image 0, top-left corner: RGB (0, 0, 0) + blue channel 0 -> black.
    CHECK(samples.at<cv::Vec3b>(12 + 6, 12 + 6) == cv::Vec3b(0, 0, 0));
    CHECK_THROWS_AS(samples_png(tmp.path() / "bad.png", images, true_names, {}), std::invalid_argument);
  }
}

#include "engine/core/eval/paired.hpp"

TEST_SUITE("eval") {
  TEST_CASE("exact McNemar against hand-computed binomial tails") {
    using engine::eval::Discordant;
    using engine::eval::mcnemar_exact;
    CHECK(mcnemar_exact(Discordant{0, 0}) == 1.0);
    CHECK(mcnemar_exact(Discordant{5, 0}) == doctest::Approx(2.0 / 32));          // 0.0625: not significant
    CHECK(mcnemar_exact(Discordant{0, 6}) == doctest::Approx(2.0 / 64));          // 0.03125: significant
    CHECK(mcnemar_exact(Discordant{10, 2}) == doctest::Approx(2.0 * 79 / 4096));  // (1 + 12 + 66) / 2^12
    CHECK(mcnemar_exact(Discordant{3, 3}) == 1.0);                                // capped at 1
    // Large counts stay finite: 260 vs 240 of 500 is well inside chance.
    double p = mcnemar_exact(Discordant{260, 240});
    CHECK(p > 0.3);
    CHECK(p < 1.0);
  }

  TEST_CASE("discordant pairs count only the images exactly one classifier gets right") {
    std::vector<int64_t> labels{0, 1, 2, 3, 4}, a{0, 1, 0, 3, 0}, b{0, 0, 2, 0, 0};
    auto d = engine::eval::discordant(labels, a, b);
    CHECK(d.a_only == 2);  // images 1 and 3
    CHECK(d.b_only == 1);  // image 2
    CHECK_THROWS(engine::eval::discordant(labels, a, {0, 1}));
  }

  TEST_CASE("mean and sample standard deviation over seeds") {
    auto m = engine::eval::mean_sd({0.80, 0.82, 0.84});
    CHECK(m.mean == doctest::Approx(0.82));
    CHECK(m.sd == doctest::Approx(0.02));
    CHECK(m.n == 3);
    CHECK(engine::eval::mean_sd({0.5}).sd == 0);
  }

  TEST_CASE("bootstrap over images alone: one seed gives the binomial interval of a paired difference") {
    // 2000 images, 200 only A right, 100 only B: difference 0.05, per-image variance
    // 0.15 - 0.05^2, so the 95 % interval is 0.05 ± 1.96 sqrt(0.1475 / 2000) = ± 0.0168.
    const std::vector<SeedDifference> one{seed_of(2000, 200, 100)};
    const auto b = hierarchical_bootstrap(one, {20000, 7});
    CHECK(b.estimate == doctest::Approx(0.05));
    const auto ci = b.interval(0.95);
    CHECK(ci.lo == doctest::Approx(0.05 - 0.0168).epsilon(0.05));
    CHECK(ci.hi == doctest::Approx(0.05 + 0.0168).epsilon(0.05));
    CHECK(b.p_value() < 0.001);
    // The statistic moves the interval, the images' spread stays: decide_on's difference 0.03 with
    // the best epoch's image differences gives the same replicates shifted by -0.02.
    std::vector<SeedDifference> shifted = one;
    shifted[0].statistic = 0.03;
    const auto s = hierarchical_bootstrap(shifted, {20000, 7});
    CHECK(s.estimate == doctest::Approx(0.03));
    CHECK(s.interval(0.95).lo == doctest::Approx(ci.lo - 0.02).epsilon(1e-9));
    CHECK(s.interval(0.95).hi == doctest::Approx(ci.hi - 0.02).epsilon(1e-9));
  }

  TEST_CASE("bootstrap over seeds alone: the interval of a mean of known spread") {
    // 40 seeds, no image varies: differences 0.02 + 0.01 z_k with z_k alternating ±1, so the
    // mean is 0.02, the sd (n) 0.01 and the bootstrap's standard error 0.01 / sqrt(40).
    std::vector<SeedDifference> seeds;
    for (int k = 0; k < 40; ++k) seeds.push_back({0.02 + (k % 2 ? 0.01 : -0.01), std::vector<int8_t>(50, 0)});
    const auto b = hierarchical_bootstrap(seeds, {20000, 3});
    CHECK(b.estimate == doctest::Approx(0.02));
    const double half = 1.96 * 0.01 / std::sqrt(40.0);
    CHECK(b.interval(0.95).lo == doctest::Approx(0.02 - half).epsilon(0.05));
    CHECK(b.interval(0.95).hi == doctest::Approx(0.02 + half).epsilon(0.05));
  }

  TEST_CASE("seeds that disagree: pooling their pairs would call it significant, the bootstrap over seeds does not") {
    // Three seeds on 500 images: +6, +3 and -2 points (40/10, 25/10, 5/15 discordant pairs).
    const std::vector<SeedDifference> seeds{seed_of(500, 40, 10), seed_of(500, 25, 10), seed_of(500, 5, 15)};
    // The pooled McNemar test sees 70 against 35 and calls it.
    CHECK(mcnemar_exact({70, 35}) < 0.001);
    // Each seed alone is clear but the third goes the other way; over seeds, no verdict.
    const auto b = hierarchical_bootstrap(seeds, {10000, 11});
    CHECK(b.estimate == doctest::Approx(0.0233).epsilon(0.01));
    CHECK_FALSE(excludes_zero(b.interval(0.95)));
    CHECK(b.p_value() > 0.2);  // 4 of 27 seed draws have a mean <= 0: -2, -2, -2 and -2, -2, +3
    // The same differences on every seed are significant: the seed level is what decides.
    const std::vector<SeedDifference> agree{seed_of(500, 40, 10), seed_of(500, 40, 10), seed_of(500, 40, 10)};
    CHECK(excludes_zero(hierarchical_bootstrap(agree, {10000, 11}).interval(0.95)));
  }

  TEST_CASE("the bootstrap is reproducible from its seed, and images are drawn once for all seeds") {
    const std::vector<SeedDifference> seeds{seed_of(300, 30, 20), seed_of(300, 10, 25)};
    CHECK(hierarchical_bootstrap(seeds, {500, 1}).samples == hierarchical_bootstrap(seeds, {500, 1}).samples);
    CHECK(hierarchical_bootstrap(seeds, {500, 1}).samples != hierarchical_bootstrap(seeds, {500, 2}).samples);
    // Two seeds with opposite image differences: drawn once for both, the image effects cancel
    // in every replicate that holds both seeds once; drawn per seed, they would not.
    std::vector<SeedDifference> opposite{seed_of(400, 40, 0), {-0.1, std::vector<int8_t>(400, 0)}};
    for (size_t k = 0; k < 40; ++k) opposite[1].images[k] = -1;
    opposite[1].statistic = -0.1;
    const auto b = hierarchical_bootstrap(opposite, {4000, 5});
    // Seed means: 0.1 + e and -0.1 - e, so every replicate is 0.1 + e, -0.1 - e or exactly 0.
    const auto zeros = std::count_if(b.samples.begin(), b.samples.end(), [](double x) { return std::abs(x) < 1e-12; });
    CHECK(zeros > 1700);  // about half the replicates hold each seed once
    CHECK_THROWS_AS(hierarchical_bootstrap({seed_of(10, 1, 0), seed_of(11, 1, 0)}, {}), std::invalid_argument);
  }

  TEST_CASE("the percentile interval at 1 - a excludes 0 exactly when the bootstrap p < a") {
    Bootstrap b;
    for (int k = 0; k < 1000; ++k) b.samples.push_back((k - 37) / 1000.0);  // 38 replicates <= 0
    CHECK(b.p_value() == doctest::Approx(0.076));
    for (double a : {0.01, 0.05, 0.075, 0.076, 0.077, 0.1, 0.2, 0.5})
      CHECK_MESSAGE(excludes_zero(b.interval(1 - a)) == (b.p_value() < a), "a = ", a);
    const auto ci = b.interval(0.95);  // the 25th smallest and the 25th largest
    CHECK(ci.lo == doctest::Approx(-0.013));
    CHECK(ci.hi == doctest::Approx(0.938));
  }

  TEST_CASE("Holm: adjusted p-values and the step-down that stops at the first comparison it cannot reject") {
    // The ablation of the committed study: p = 0.031 among five tests is 0.155 after Holm.
    CHECK(holm_adjust({0.031, 0.5, 0.6, 0.7, 0.9})[0] == doctest::Approx(0.155));
    const auto adj = holm_adjust({0.01, 0.04, 0.03, 0.005});
    const std::vector<double> expected{0.03, 0.06, 0.06, 0.02};
    for (size_t k = 0; k < expected.size(); ++k) CHECK(adj[k] == doctest::Approx(expected[k]));
    const auto levels = holm_levels({0.01, 0.04, 0.03}, 0.05);
    CHECK(levels[0] == doctest::Approx(1 - 0.05 / 3));
    CHECK(levels[1] == doctest::Approx(0.95));
    CHECK(levels[2] == doctest::Approx(0.975));
    // p = 0.004, 0.03, 0.035: the first passes 0.05/3, the second fails 0.05/2, so the third is
    // not significant although its p < 0.05.
    auto boot = [](int at_or_below_zero) {
      Bootstrap b;
      for (int k = 0; k < 1000; ++k) b.samples.push_back(k < at_or_below_zero ? -1.0 : 1.0);
      return b;
    };
    const std::vector<Bootstrap> boots{boot(2), boot(15), boot(17)};
    CHECK(boots[1].p_value() == doctest::Approx(0.03));
    CHECK(holm_significant(boots, 0.05) == std::vector<bool>{true, false, false});
    CHECK(holm_significant({boot(2), boot(10), boot(17)}, 0.05) == std::vector<bool>{true, true, true});
  }
}
