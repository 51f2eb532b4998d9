// The lean image path (ENGINE_IMAGE_BACKEND=stb) against OpenCV's: the same files must give the
// network the same pixels, to within the measured difference stated in stb_codec.hpp.
#include <doctest/doctest.h>

#ifdef ENGINE_HAVE_STB
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cstdio>
#include <fstream>
#include <iterator>

#include "engine/nn/dataset/stb_codec.hpp"
#include "tests/support.hpp"

namespace fs = std::filesystem;

namespace {
struct Difference {
  int max = 0;
  double sum = 0;
  int64_t count = 0, differing = 0;
  void add(const cv::Mat& a, const cv::Mat& b) {
    REQUIRE(a.size() == b.size());
    REQUIRE(a.type() == b.type());
    cv::Mat d;
    cv::absdiff(a, b, d);
    double m = 0;
    cv::minMaxLoc(d.reshape(1), nullptr, &m);
    max = std::max(max, int(m));
    sum += cv::sum(d)[0] + cv::sum(d)[1] + cv::sum(d)[2];
    count += int64_t(d.total()) * d.channels();
    differing += cv::countNonZero(d.reshape(1));
  }
  double mean() const { return sum / std::max<int64_t>(count, 1); }
};

// The file decoded by stb (RGB planes, as the pipeline stores them), as an RGB cv::Mat.
cv::Mat stb_rgb(const std::vector<uint8_t>& bytes, int h, int w) {
  std::vector<uint8_t> planes(size_t(3) * h * w);
  int fh = 0, fw = 0;
  auto r = engine::data::stb::decode_rgb_planes(bytes.data(), bytes.size(), h, w, true, planes.data(), fh, fw);
  REQUIRE(r == engine::data::stb::Decoded::ok);
  cv::Mat out(h, w, CV_8UC3);
  for (int i = 0; i < h * w; ++i)
    for (int c = 0; c < 3; ++c) out.data[3 * i + c] = planes[size_t(c) * h * w + i];
  return out;
}
}  // namespace

TEST_SUITE("data") {
  TEST_CASE("stb: area resizing equals OpenCV's INTER_AREA, shrinking and enlarging") {
    cv::RNG rng(5);
    cv::Mat src(61, 77, CV_8UC3);
    rng.fill(src, cv::RNG::UNIFORM, 0, 256);
    cv::GaussianBlur(src, src, {5, 5}, 1.5);  // photographs are smooth; noise makes rounding ties rare anyway
    for (cv::Size size : {cv::Size(38, 30), cv::Size(32, 32), cv::Size(77, 61), cv::Size(100, 90), cv::Size(50, 80)}) {
      CAPTURE(size);
      cv::Mat theirs, ours(size, CV_8UC3);
      cv::resize(src, theirs, size, 0, 0, cv::INTER_AREA);
      engine::data::stb::resize_area(src.data, src.rows, src.cols, ours.data, size.height, size.width, 3);
      Difference d;
      d.add(theirs, ours);
      CHECK(d.max == 0);
    }
    cv::Mat even(64, 64, CV_8UC3), theirs, ours(32, 32, CV_8UC3);  // the 2x2 path rounds halves up
    rng.fill(even, cv::RNG::UNIFORM, 0, 256);
    cv::resize(even, theirs, {32, 32}, 0, 0, cv::INTER_AREA);
    engine::data::stb::resize_area(even.data, 64, 64, ours.data, 32, 32, 3);
    CHECK(cv::norm(theirs, ours, cv::NORM_INF) == 0);
  }

  TEST_CASE("stb: the data's JPEGs decode (and resize) as OpenCV decodes them, within a few levels") {
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(test::data_dir() / "train"))
      if (e.path().extension() == ".JPEG" && files.size() < 200) files.push_back(e.path());
    REQUIRE(files.size() == 200);
    Difference same, shrunk, enlarged;
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      cv::Mat bgr = cv::imdecode(bytes, cv::IMREAD_COLOR), rgb;
      cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
      same.add(rgb, stb_rgb(bytes, 64, 64));
      cv::Mat small, big;
      cv::resize(rgb, small, {48, 48}, 0, 0, cv::INTER_AREA);
      cv::resize(rgb, big, {80, 80}, 0, 0, cv::INTER_AREA);
      shrunk.add(small, stb_rgb(bytes, 48, 48));
      enlarged.add(big, stb_rgb(bytes, 80, 80));
    }
    std::printf(
        "stb vs OpenCV over %zu JPEGs: decode max %d mean %.4f (%.2f%% of values differ); "
        "to 48x48 max %d mean %.4f; to 80x80 max %d mean %.4f\n",
        files.size(), same.max, same.mean(), 100.0 * same.differing / same.count, shrunk.max, shrunk.mean(),
        enlarged.max, enlarged.mean());
    // Measured: decode max 3, mean 0.087, 6.7% of values differ (stb's IDCT rounds otherwise than
    // libjpeg-turbo's); resizing adds nothing.
    for (const Difference* d : {&same, &shrunk, &enlarged}) {
      CHECK(d->max <= 4);
      CHECK(d->mean() < 0.15);
    }
  }
}
#endif
