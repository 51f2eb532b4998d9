#include "engine/core/eval/plots.hpp"

#ifdef ENGINE_HAVE_OPENCV
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <map>
#include <sstream>
#include <stdexcept>

#include "engine/core/error.hpp"
#include "engine/core/files.hpp"

extern char** environ;

namespace engine::eval {
namespace fs = std::filesystem;

namespace {

// matplotlib's "tab10": distinct, colour-blind-friendly enough, familiar to readers.
const char* const kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

// A gnuplot double-quoted string.
std::string gp_string(const std::string& text) {
  std::string out = "\"";
  for (char ch : text) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch == '\n' ? ' ' : ch;
  }
  return out + "\"";
}

// A gnuplot single-quoted string (no escapes inside except '' for ').
std::string gp_single_quoted(const std::string& text) {
  std::string out = "'";
  for (char ch : text) out += ch == '\'' ? std::string("''") : std::string(1, ch);
  return out + "'";
}

// Runs gnuplot on `script` with `dir` as its working directory, so the script's relative file names
// resolve there. No shell: paths with spaces or quotes are passed as they are.
void run_gnuplot(const fs::path& dir, const fs::path& script) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) throw std::runtime_error("pipe failed: " + std::string(strerror(errno)));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[1]);

  const std::string cd = "cd " + gp_single_quoted(dir.string());
  const std::string script_name = script.filename().string();
  std::vector<char*> argv = {const_cast<char*>("gnuplot"), const_cast<char*>("-e"), const_cast<char*>(cd.c_str()),
                             const_cast<char*>(script_name.c_str()), nullptr};
  pid_t pid = 0;
  const int spawn_error = posix_spawnp(&pid, "gnuplot", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);
  if (spawn_error != 0) {
    close(pipe_fds[0]);
    throw UserError("cannot run gnuplot (" + std::string(strerror(spawn_error)) +
                    "): install it (Debian: apt-get install gnuplot-nox, see tools/setup) to draw " + script.string());
  }
  std::string output;
  char buf[4096];
  for (ssize_t n; (n = read(pipe_fds[0], buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    output.append(buf, static_cast<std::size_t>(n));
  }
  close(pipe_fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw UserError("gnuplot failed on " + (dir / script_name).string() + ": " + output);
}

}  // namespace

void line_chart(const fs::path& png_path, const std::vector<Series>& series, const ChartOptions& options) {
  if (series.empty()) throw std::invalid_argument("line_chart: no series for " + png_path.string());
  for (const auto& s : series)
    if (s.x.size() != s.y.size() || (!s.lo.empty() && (s.lo.size() != s.x.size() || s.hi.size() != s.x.size())))
      throw std::invalid_argument("line_chart: series '" + s.name + "' has x, y and band of different sizes");

  const fs::path dir = png_path.has_parent_path() ? png_path.parent_path() : fs::path(".");
  fs::create_directories(dir);
  const std::string stem = png_path.stem().string();
  const std::string csv_name = stem + ".csv", gp_name = stem + ".gp", png_name = stem + ".png";

  // Wide CSV: one row per x present in any series, one column per series (and two more per
  // band), empty when missing (gnuplot skips empty fields and still joins the points around them).
  struct Column {
    std::string name;
    std::size_t series;
    const std::vector<double>* values;
  };
  std::vector<Column> columns;
  std::vector<std::size_t> line_column(series.size()), band_column(series.size(), 0);
  for (std::size_t i = 0; i < series.size(); ++i) {
    line_column[i] = columns.size();
    columns.push_back({series[i].name, i, &series[i].y});
    if (series[i].lo.empty()) continue;
    band_column[i] = columns.size();
    columns.push_back({series[i].name + " low", i, &series[i].lo});
    columns.push_back({series[i].name + " high", i, &series[i].hi});
  }
  std::map<double, std::vector<std::string>> rows;
  for (std::size_t c = 0; c < columns.size(); ++c) {
    const Series& s = series[columns[c].series];
    for (std::size_t j = 0; j < s.x.size(); ++j) {
      auto& row = rows[s.x[j]];
      row.resize(columns.size());
      row[c] = toml_float((*columns[c].values)[j]);  // shortest exact decimal, fine for CSV too
    }
  }
  std::string csv = csv_field(options.xlabel.empty() ? "x" : options.xlabel);
  for (const auto& c : columns) csv += "," + csv_field(c.name);
  csv += "\n";
  for (auto& [x, cells] : rows) {
    cells.resize(columns.size());
    std::ostringstream line;
    line << x;
    for (const auto& cell : cells) line << "," << cell;
    csv += line.str() + "\n";
  }
  write_file_atomic(dir / csv_name, csv);

  std::ostringstream gp;
  gp << "# Drawn by the engine from " << csv_name << ". Restyle here, then rerun from this folder:\n"
     << "#   gnuplot " << gp_name << "\n"
     << "if (strstrt(GPVAL_TERMINALS, \"pngcairo\") > 0) {\n"
     << "  set terminal pngcairo size " << options.width << "," << options.height << " noenhanced font \"sans,11\"\n"
     << "} else {\n"
     << "  set terminal png size " << options.width << "," << options.height << " noenhanced\n"
     << "}\n"
     << "set output " << gp_single_quoted(png_name) << "\n"
     << "set datafile separator comma\n"
     << "set datafile columnheaders\n"
     << "set title " << gp_string(options.title) << "\n"
     << "set xlabel " << gp_string(options.xlabel) << "\n"
     << "set ylabel " << gp_string(options.ylabel) << "\n"
     << "set grid\n"
     << "set key outside right top\n";
  // Whole-number x (epochs) gets whole-number tics, about ten of them.
  if (!rows.empty()) {
    const double lo = rows.begin()->first, hi = rows.rbegin()->first;
    bool whole = true;
    for (const auto& row : rows) whole = whole && row.first == std::floor(row.first);
    if (whole) gp << "set xtics " << std::max(1.0, std::ceil((hi - lo) / 10)) << "\n";
  }
  // Bands first, so every line is drawn over them.
  gp << "plot";
  bool first = true;
  auto source = [&] {
    std::string out = first ? " " + gp_single_quoted(csv_name) : std::string(", \\\n     ''");
    first = false;
    return out;
  };
  auto colour = [&](std::size_t i) {
    return kPalette[(series[i].color >= 0 ? series[i].color : static_cast<int>(i)) % 10];
  };
  for (std::size_t i = 0; i < series.size(); ++i)
    if (!series[i].lo.empty())
      gp << source() << " using 1:" << band_column[i] + 2 << ":" << band_column[i] + 3
         << " with filledcurves fs transparent solid 0.15 noborder lc rgb \"" << colour(i) << "\" notitle";
  for (std::size_t i = 0; i < series.size(); ++i)
    gp << source() << " using 1:" << line_column[i] + 2 << " with linespoints lw 2 pt 7 ps 0.6 dt "
       << (series[i].dashed ? 2 : 1) << " lc rgb \"" << colour(i) << "\" title " << gp_string(series[i].name);
  gp << "\n";
  write_file_atomic(dir / gp_name, gp.str());
  run_gnuplot(dir, dir / gp_name);
}

// ---- OpenCV figures ----
#ifdef ENGINE_HAVE_OPENCV

namespace {

constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;

// Hershey fonts only draw ASCII; long names are cut so the layout stays readable.
std::string printable(const std::string& text, std::size_t max_chars) {
  std::string out;
  for (unsigned char ch : text) out += (ch >= 32 && ch < 127) ? static_cast<char>(ch) : '?';
  if (out.size() > max_chars) out = out.substr(0, max_chars - 2) + "..";
  return out;
}

int text_width(const std::string& text, double scale, int thickness = 1) {
  int baseline = 0;
  return cv::getTextSize(text, kFont, scale, thickness, &baseline).width;
}

void write_png(const fs::path& path, const cv::Mat& image) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  bool ok = false;
  try {
    ok = cv::imwrite(path.string(), image);
  } catch (const cv::Exception& e) {
    throw UserError("cannot write " + path.string() + ": " + e.what());
  }
  if (!ok) throw UserError("cannot write " + path.string());
}

// Confusion heatmap layout (pixels).
constexpr int kCell = 56, kMargin = 16, kTitleHeight = 40, kLabelGap = 10;
constexpr double kLabelScale = 0.5, kCountScale = 0.5, kTitleScale = 0.6;
constexpr std::size_t kMaxLabelChars = 24;
const char* const kConfusionTitle = "Confusion matrix (rows: true class, columns: predicted)";

int longest_label_width(const std::vector<std::string>& names) {
  int width = 0;
  for (const auto& n : names) width = std::max(width, text_width(printable(n, kMaxLabelChars), kLabelScale));
  return width;
}

}  // namespace

cv::Size confusion_png_size(const std::vector<std::string>& class_names) {
  const int k = static_cast<int>(class_names.size());
  const int label = longest_label_width(class_names) + kLabelGap;
  const int grid_right = kMargin + label + k * kCell + kMargin;
  const int width = std::max(grid_right, text_width(kConfusionTitle, kTitleScale) + 2 * kMargin);
  return {width, kTitleHeight + label + k * kCell + kMargin};
}

void confusion_png(const fs::path& path, const std::vector<std::vector<std::int64_t>>& matrix,
                   const std::vector<std::string>& class_names) {
  const int k = static_cast<int>(matrix.size());
  if (k == 0 || class_names.size() != matrix.size())
    throw std::invalid_argument("confusion_png: need one name per row of a non-empty matrix");
  const cv::Size size = confusion_png_size(class_names);
  const int label = longest_label_width(class_names) + kLabelGap;
  const int left = kMargin + label, top = kTitleHeight + label;
  cv::Mat image(size, CV_8UC3, cv::Scalar(255, 255, 255));
  const cv::Scalar ink(40, 40, 40);

  cv::putText(image, kConfusionTitle, {kMargin, 26}, kFont, kTitleScale, ink, 1, cv::LINE_AA);
  for (int i = 0; i < k; ++i) {
    const std::string name = printable(class_names[i], kMaxLabelChars);
    // Row label, right-aligned against the grid.
    cv::putText(image, name, {left - kLabelGap / 2 - text_width(name, kLabelScale), top + i * kCell + kCell / 2 + 5},
                kFont, kLabelScale, ink, 1, cv::LINE_AA);
    // Column label: drawn horizontally on a strip, then turned to read bottom-up above its column.
    cv::Mat strip(kCell, label, CV_8UC3, cv::Scalar(255, 255, 255));
    cv::putText(strip, name, {kLabelGap / 2, kCell / 2 + 5}, kFont, kLabelScale, ink, 1, cv::LINE_AA);
    cv::Mat turned;
    cv::rotate(strip, turned, cv::ROTATE_90_COUNTERCLOCKWISE);
    turned.copyTo(image(cv::Rect(left + i * kCell, kTitleHeight, kCell, label)));
  }
  for (int r = 0; r < k; ++r) {
    std::int64_t row_total = 0;
    for (auto count : matrix[r]) row_total += count;
    for (int c = 0; c < k; ++c) {
      // Shade by share of the row (white -> dark blue), so recall reads off the diagonal.
      const double share = row_total > 0 ? static_cast<double>(matrix[r][c]) / row_total : 0.0;
      const cv::Scalar dark(107, 48, 8);  // BGR of #08306b
      const cv::Scalar fill = cv::Scalar(255, 255, 255) * (1 - share) + dark * share;
      const cv::Rect cell(left + c * kCell, top + r * kCell, kCell, kCell);
      cv::rectangle(image, cell, fill, cv::FILLED);
      cv::rectangle(image, cell, cv::Scalar(200, 200, 200), 1);
      const std::string count = std::to_string(matrix[r][c]);
      const cv::Scalar text = share > 0.5 ? cv::Scalar(255, 255, 255) : ink;
      cv::putText(image, count, {cell.x + (kCell - text_width(count, kCountScale)) / 2, cell.y + kCell / 2 + 6}, kFont,
                  kCountScale, text, 1, cv::LINE_AA);
    }
  }
  // Outline the diagonal: the correct predictions.
  for (int i = 0; i < k; ++i)
    cv::rectangle(image, cv::Rect(left + i * kCell, top + i * kCell, kCell, kCell), cv::Scalar(0, 140, 255), 2);
  write_png(path, image);
}

namespace {
constexpr int kSamplePad = 12, kSampleBorder = 5, kCaptionLine = 20, kCaptionHeight = 2 * kCaptionLine + 6;
constexpr double kCaptionScale = 0.5;
}  // namespace

cv::Size samples_png_size(std::size_t image_count) {
  const int n = static_cast<int>(image_count);
  const int cols = std::min(n, kSampleColumns), rows = (n + kSampleColumns - 1) / kSampleColumns;
  return {kSamplePad + cols * (kSampleTile + kSamplePad),
          kSamplePad + rows * (kSampleTile + kCaptionHeight + kSamplePad)};
}

void samples_png(const fs::path& path, const std::vector<cv::Mat>& rgb_images,
                 const std::vector<std::string>& true_names, const std::vector<std::string>& pred_names) {
  const std::size_t n = rgb_images.size();
  if (n == 0 || true_names.size() != n || pred_names.size() != n)
    throw std::invalid_argument("samples_png: need one true and one predicted name per image");
  cv::Mat sheet(samples_png_size(n), CV_8UC3, cv::Scalar(255, 255, 255));
  const cv::Scalar green(0, 140, 0), red(0, 0, 210), ink(40, 40, 40);
  const int inner = kSampleTile - 2 * kSampleBorder;

  // The longest caption that fits under a tile.
  auto fit = [&](const std::string& prefix, const std::string& name, int thickness) {
    for (std::size_t chars = 40; chars > 4; --chars) {
      const std::string text = prefix + printable(name, chars);
      if (text_width(text, kCaptionScale, thickness) <= kSampleTile) return text;
    }
    return prefix + printable(name, 4);
  };

  for (std::size_t i = 0; i < n; ++i) {
    const cv::Mat& rgb = rgb_images[i];
    if (rgb.empty() || rgb.type() != CV_8UC3)
      throw std::invalid_argument("samples_png: image " + std::to_string(i) + " is not CV_8UC3 RGB");
    const bool correct = true_names[i] == pred_names[i];
    const cv::Scalar mark = correct ? green : red;
    const int x = kSamplePad + static_cast<int>(i % kSampleColumns) * (kSampleTile + kSamplePad);
    const int y = kSamplePad + static_cast<int>(i / kSampleColumns) * (kSampleTile + kCaptionHeight + kSamplePad);

    cv::rectangle(sheet, cv::Rect(x, y, kSampleTile, kSampleTile), mark, cv::FILLED);
    cv::Mat bgr, big;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    cv::resize(bgr, big, {inner, inner}, 0, 0, cv::INTER_NEAREST);
    big.copyTo(sheet(cv::Rect(x + kSampleBorder, y + kSampleBorder, inner, inner)));

    const int text_y = y + kSampleTile + kCaptionLine - 4;
    const int pred_thickness = correct ? 1 : 2;  // wrong predictions in bold red
    cv::putText(sheet, fit("true: ", true_names[i], 1), {x, text_y}, kFont, kCaptionScale, ink, 1, cv::LINE_AA);
    cv::putText(sheet, fit("pred: ", pred_names[i], pred_thickness), {x, text_y + kCaptionLine}, kFont, kCaptionScale,
                mark, pred_thickness, cv::LINE_AA);
  }
  write_png(path, sheet);
}

#endif  // ENGINE_HAVE_OPENCV

}  // namespace engine::eval
