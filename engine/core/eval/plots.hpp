#pragma once
// Figures: line charts drawn by gnuplot (data and script kept beside the PNG so a user can restyle
// and rerun them), and two OpenCV figures for the test set: a confusion heatmap and a sample grid.
#ifdef ENGINE_HAVE_OPENCV
#include <opencv2/core.hpp>
#endif

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace engine::eval {

struct Series {
  std::string name;          // legend entry
  std::vector<double> x, y;  // same length; x is usually the epoch
  bool dashed = false;
  int color = -1;  // index into a 10-colour palette; -1 = the series' position in the chart
  // Optional band around the line (e.g. the spread over seeds), drawn shaded in its colour:
  // empty, or as long as x.
  std::vector<double> lo{}, hi{};
};

struct ChartOptions {
  std::string title;
  std::string xlabel = "epoch";
  std::string ylabel;
  int width = 900, height = 560;  // PNG size in pixels
};

// Writes <stem>.csv (column x, then one column per series, empty where a series has no point),
// <stem>.gp (reads that CSV by its file name; rerun with `gnuplot <stem>.gp` from that folder) and
// <stem>.png, where <stem> is png_path without its extension. Throws engine::UserError when
// gnuplot is not installed or fails (with gnuplot's message).
void line_chart(const std::filesystem::path& png_path, const std::vector<Series>& series, const ChartOptions& options);

#ifdef ENGINE_HAVE_OPENCV  // lean builds without OpenCV (GPU hosts) write no test figures
// Heatmap of a K x K confusion matrix (rows = true, columns = predicted) with the count in every
// cell, shaded by the share of its row. Image size: see confusion_png_size.
void confusion_png(const std::filesystem::path& path, const std::vector<std::vector<std::int64_t>>& matrix,
                   const std::vector<std::string>& class_names);
cv::Size confusion_png_size(const std::vector<std::string>& class_names);

// A grid of test images, each enlarged to kSampleTile x kSampleTile (nearest neighbour, so pixels
// stay visible) and captioned "true: X" / "pred: Y": green caption and border when right (the two
// names are equal), bold red when wrong. Images are cv::Mat CV_8UC3 in RGB order (as the data pipeline decodes them),
// any size. kSampleColumns per row; image size: see samples_png_size.
constexpr int kSampleTile = 192;
constexpr int kSampleColumns = 5;
void samples_png(const std::filesystem::path& path, const std::vector<cv::Mat>& rgb_images,
                 const std::vector<std::string>& true_names, const std::vector<std::string>& pred_names);
cv::Size samples_png_size(std::size_t image_count);
#endif

}  // namespace engine::eval
