#pragma once
// Shared test helpers: run the CLI in-process, write fixture files, reach the repo.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "engine/cli/cli.hpp"

namespace test {

inline std::filesystem::path source_dir() { return ENGINE_SOURCE_DIR; }
inline std::filesystem::path data_dir() { return source_dir() / ".." / "shared" / "tiny-imagenet-10"; }

struct CliResult {
  int code = 0;
  std::string out, err;
};

// Runs `engine args...` in this process, capturing stdout and stderr.
inline CliResult run_cli(std::vector<std::string> args) {
  args.insert(args.begin(), "engine");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  std::ostringstream out, err;
  auto* old_out = std::cout.rdbuf(out.rdbuf());
  auto* old_err = std::cerr.rdbuf(err.rdbuf());
  CliResult r;
  try {
    r.code = engine::cli_main(static_cast<int>(argv.size()), argv.data());
  } catch (...) {
    std::cout.rdbuf(old_out);
    std::cerr.rdbuf(old_err);
    throw;
  }
  std::cout.rdbuf(old_out);
  std::cerr.rdbuf(old_err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

// A fresh temporary directory, removed when the object goes (kept when
// ENGINE_KEEP_TEST_OUTPUT is set, to look at what a test wrote).
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "engine-test") {
    path_ = std::filesystem::temp_directory_path() /
            (tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    if (std::getenv("ENGINE_KEEP_TEST_OUTPUT")) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

  std::filesystem::path write(const std::string& name, const std::string& text) const {
    auto p = path_ / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p;
  }

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }
  std::filesystem::path path_;
};

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace test

#include <opencv2/imgcodecs.hpp>

namespace test {

// A small dataset in the official Tiny ImageNet layout: each class a distinct colour plus
// noise, so a tiny network learns it in an epoch or two.
inline void write_tiny_dataset(const std::filesystem::path& root, int classes = 3, int train_per_class = 24,
                               int val_per_class = 6, int size = 32) {
  namespace fs = std::filesystem;
  fs::create_directories(root / "val" / "images");
  std::ofstream wnids(root / "wnids.txt"), words(root / "words.txt"), ann(root / "val" / "val_annotations.txt");
  cv::RNG rng(7);
  auto image = [&](int c) {
    cv::Mat m(size, size, CV_8UC3);
    rng.fill(m, cv::RNG::UNIFORM, 0, 80);
    m += cv::Scalar((c * 97) % 176, (c * 53) % 176, (c * 151) % 176);
    return m;
  };
  for (int c = 0; c < classes; ++c) {
    char wnid[16];
    std::snprintf(wnid, sizeof wnid, "n%08d", 1000 + c);
    wnids << wnid << "\n";
    words << wnid << "\tclass" << c << ", thing " << c << "\n";
    fs::create_directories(root / "train" / wnid / "images");
    for (int k = 0; k < train_per_class; ++k)
      cv::imwrite((root / "train" / wnid / "images" / (std::string(wnid) + "_" + std::to_string(k) + ".JPEG")).string(),
                  image(c));
    for (int k = 0; k < val_per_class; ++k) {
      std::string name = "val_" + std::to_string(c * val_per_class + k) + ".JPEG";
      cv::imwrite((root / "val" / "images" / name).string(), image(c));
      ann << name << "\t" << wnid << "\t0\t0\t" << size - 1 << "\t" << size - 1 << "\n";
    }
  }
}

// A graph small enough to train in a second on the dataset above.
inline std::string tiny_graph(const std::string& name, const std::string& extra = "") {
  return "name = \"" + name + R"("
[input]
shape = [3, 32, 32]
[vars]
width = 8
act = "relu"
[data]
num_classes = 3
val_fraction = 0.25
[train]
epochs = 2
batch_size = 16
lr = 0.01
[[layers]]
op = "conv2d"
out = "$width"
kernel = 3
stride = 2
padding = 1
[[layers]]
op = "batchnorm2d"
[[layers]]
op = "$act"
[[layers]]
op = "adaptive_avgpool2d"
[[layers]]
op = "flatten"
[[layers]]
op = "linear"
out = "$classes"
)" + extra;
}

}  // namespace test
