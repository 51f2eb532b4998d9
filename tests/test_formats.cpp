// Data formats behind the one seam (engine/nn/dataset/format.hpp): an ImageFolder tree, grey
// input, bad input refused before anything is written, and the same images as Tiny ImageNet and
// as an ImageFolder giving the same splits and the same metrics.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <opencv2/imgcodecs.hpp>

#include "engine/core/sections.hpp"
#include "engine/nn/dataset/data.hpp"
#include "engine/nn/dataset/format.hpp"
#include "tests/support.hpp"

namespace fs = std::filesystem;
using namespace engine::data;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// An ImageFolder tree: `classes` folders of noisy solid-colour PNGs, so a tiny network learns them.
// val/ only when val_per_class > 0; test/ always.
void write_image_folder(const fs::path& root, int classes = 3, int train_per_class = 24, int val_per_class = 0,
                        int test_per_class = 4, int size = 32) {
  cv::RNG rng(11);
  auto write = [&](const fs::path& file, int c) {
    cv::Mat m(size, size, CV_8UC3);
    rng.fill(m, cv::RNG::UNIFORM, 0, 80);
    m += cv::Scalar((c * 97) % 176, (c * 53) % 176, (c * 151) % 176);
    fs::create_directories(file.parent_path());
    REQUIRE(cv::imwrite(file.string(), m));
  };
  for (int c = 0; c < classes; ++c) {
    const std::string name = "class_" + std::string(1, char('a' + c));
    for (int k = 0; k < train_per_class; ++k) write(root / "train" / name / (std::to_string(k) + ".png"), c);
    for (int k = 0; k < val_per_class; ++k) write(root / "val" / name / (std::to_string(k) + ".png"), c);
    for (int k = 0; k < test_per_class; ++k) write(root / "test" / name / (std::to_string(k) + ".png"), c);
  }
}

// The tiny graph of tests/support.hpp on `input` ([3, 32, 32] there), its data in `root`.
std::string folder_graph(const std::string& name, const std::string& input = "[3, 32, 32]",
                         const std::string& data = "") {
  std::string text = test::tiny_graph(name);
  const std::string shape = "shape = [3, 32, 32]";
  text.replace(text.find(shape), shape.size(), "shape = " + input);
  const std::string section = "[data]\n";
  text.insert(text.find(section) + section.size(), data);
  return text;
}

DataConfig folder_config(const fs::path& root) {
  DataConfig config;
  config.root = root.string();
  config.num_classes = 3;
  config.height = config.width = 32;
  config.val_fraction = 0.25;
  return config;
}

std::string user_error(const std::function<void()>& action) {
  try {
    action();
  } catch (const engine::UserError& error) {
    return error.what();
  }
  return "";
}

}  // namespace

TEST_SUITE("formats") {
  TEST_CASE("data.format's allowed values are the registered formats, and auto") {
    std::vector<std::string> names{"auto"};
    for (const auto& format : data_formats()) names.push_back(format.name);
    for (const auto& key : engine::data_keys())
      if (key.name == "format") CHECK(key.choices == names);
  }

  TEST_CASE("an ImageFolder tree: classes sorted by folder, val split off train when there is no val/") {
    test::TempDir dir("engine-formats");
    write_image_folder(dir / "photos");
    const DataFiles files = list_data(folder_config(dir / "photos"));
    CHECK(files.format == "imagefolder");
    CHECK(files.wnids == std::vector<std::string>{"class_a", "class_b", "class_c"});
    CHECK(files.names == files.wnids);
    CHECK(files.train.files.size() == 3 * 18);  // 24 per class, a quarter held out
    CHECK(files.val.files.size() == 3 * 6);
    CHECK(files.test.files.size() == 3 * 4);
    CHECK(contains(files.test.files.front(), "test/class_a/"));
    CHECK(files.test.labels.back() == 2);
  }

  TEST_CASE("an ImageFolder's own val/ is used as is; nested files and non-images are ignored") {
    test::TempDir dir("engine-formats");
    write_image_folder(dir / "photos", 3, 10, 2);
    std::ofstream(dir / "photos" / "train" / "class_a" / "notes.txt") << "not an image";
    fs::create_directories(dir / "photos" / "train" / "class_b" / "more");
    fs::copy_file(dir / "photos" / "train" / "class_b" / "0.png",
                  dir / "photos" / "train" / "class_b" / "more" / "x.png");
    const DataFiles files = list_data(folder_config(dir / "photos"));
    CHECK(files.train.files.size() == 30);
    CHECK(files.val.files.size() == 6);
    for (const auto& file : files.train.files) CHECK_FALSE(contains(file, "more/"));
  }

  TEST_CASE("data.classes picks a subset of the folders, in its order") {
    test::TempDir dir("engine-formats");
    write_image_folder(dir / "photos");
    DataConfig config = folder_config(dir / "photos");
    config.classes = {"class_c", "class_a"};
    const LoadedData data = load_data(config, TestSplit::Skip);
    CHECK(data.wnids == config.classes);
    CHECK(data.train.size() == 2 * 18);
    CHECK(data.train.images.sizes() == torch::IntArrayRef{36, 3, 32, 32});
  }

  TEST_CASE("[1, 28, 28] reads colour images as one grey plane, resized, with one mean and std") {
    test::TempDir dir("engine-formats");
    write_image_folder(dir / "photos");
    DataConfig config = folder_config(dir / "photos");
    config.channels = 1;
    config.height = config.width = 28;
    const LoadedData data = load_data(config, TestSplit::Skip);
    CHECK(data.train.images.sizes() == torch::IntArrayRef{54, 1, 28, 28});
    CHECK(data.mean.size() == 1);
    CHECK(data.std.size() == 1);
  }

  TEST_CASE("a 2-epoch run, engine test and engine predict on an ImageFolder of PNGs, RGB and grey") {
    test::TempDir dir("engine-formats");
    write_image_folder(dir / "photos");
    for (const std::string input : {"[3, 32, 32]", "[1, 28, 28]"}) {
      CAPTURE(input);
      const fs::path graph = dir.write("folder.toml", folder_graph("folder", input));
      const fs::path run = dir / (std::string("run") + input[1]);
      auto r = test::run_cli({"run", graph.string(), "--run-dir", run.string(), "--data", (dir / "photos").string()});
      REQUIRE_MESSAGE(r.code == 0, r.err);
      CHECK(contains(test::read_file(run / "train.log"), "data: 3 classes, 54 train / 18 val images"));
      auto t = test::run_cli({"test", graph.string(), "--run-dir", run.string(), "--data", (dir / "photos").string()});
      CHECK_MESSAGE(t.code == 0, t.err);
      auto p = test::run_cli({"predict", run.string(), (dir / "photos" / "test" / "class_b" / "0.png").string()});
      CHECK_MESSAGE(p.code == 0, p.err);
      CHECK(contains(p.out, "class_b"));
    }
  }

  TEST_CASE("bad input: exit 2, one line naming the path and the fix, no run directory written") {
    test::TempDir dir("engine-formats");
    const fs::path root = dir / "photos";
    write_image_folder(root, 3, 8, 0, 2);
    std::string path, fix, data;
    SUBCASE("an empty class folder") {
      for (const auto& entry : fs::directory_iterator(root / "train" / "class_b")) fs::remove(entry.path());
      path = (root / "train" / "class_b").string();
      fix = "add images to it";
    }
    SUBCASE("a class in test/ that train/ does not have") {
      fs::create_directories(root / "test" / "class_x");
      path = (root / "test" / "class_x").string();
      fix = "add its train images";
    }
    SUBCASE("a file that is not an image, named as one") {
      std::ofstream(root / "train" / "class_a" / "3.png", std::ios::trunc) << "plain text";
      path = (root / "train" / "class_a" / "3.png").string();
      fix = "data.skip_corrupt = true";
    }
    SUBCASE("a truncated PNG") {
      fs::resize_file(root / "train" / "class_c" / "5.png", fs::file_size(root / "train" / "class_c" / "5.png") / 2);
      path = (root / "train" / "class_c" / "5.png").string();
      fix = "data.skip_corrupt = true";
    }
    SUBCASE("a root that matches no format") {
      fs::rename(root / "train", root / "training");
      path = root.string();
      fix = "train/<class>/<image>";
    }
    SUBCASE("a class list naming a missing class") {
      data = "classes = [\"class_a\", \"class_bb\"]\n";
      path = (root / "train").string();
      fix = "did you mean 'class_b'";
    }
    const fs::path graph = dir.write("bad.toml", folder_graph("bad", "[3, 32, 32]", data));
    auto r =
        test::run_cli({"run", graph.string(), "--run-dir", (dir / "runs" / "bad").string(), "--data", root.string()});
    CHECK(r.code == 2);
    const std::string message = r.err.substr(0, r.err.find('\n'));
    CHECK_MESSAGE(contains(message, path), message);
    CHECK_MESSAGE(contains(message, fix), message);
    CHECK_MESSAGE(!fs::exists(dir / "runs" / "bad"), "a run directory was written: ", r.err);
  }

  TEST_CASE("skip_corrupt = true skips a bad file and trains on the rest") {
    test::TempDir dir("engine-formats");
    const fs::path root = dir / "photos";
    write_image_folder(root, 3, 8, 0, 2);
    std::ofstream(root / "train" / "class_a" / "3.png", std::ios::trunc) << "plain text";
    DataConfig config = folder_config(root);
    config.skip_corrupt = true;
    CHECK(load_data(config, TestSplit::Skip).train.size() + load_data(config, TestSplit::Skip).val.size() == 23);
  }

  TEST_CASE("images of mixed sizes are resized to [input].shape") {
    test::TempDir dir("engine-formats");
    const fs::path root = dir / "photos";
    write_image_folder(root, 3, 8, 0, 2);
    REQUIRE(
        cv::imwrite((root / "train" / "class_a" / "0.png").string(), cv::Mat(50, 70, CV_8UC3, cv::Scalar(1, 2, 3))));
    CHECK(load_data(folder_config(root), TestSplit::Skip).train.images.size(3) == 32);
  }

  TEST_CASE("an explicit data.format that does not fit the root says what that format needs") {
    test::TempDir dir("engine-formats");
    write_image_folder(dir / "photos");
    DataConfig config = folder_config(dir / "photos");
    config.format = "tiny-imagenet";
    const std::string message = user_error([&] { list_data(config); });
    CHECK_MESSAGE(contains(message, "wnids.txt"), message);
    CHECK_MESSAGE(contains(message, "data.format"), message);
  }

  TEST_CASE("engine check refuses a head that does not give one logit per class, at its line") {
    test::TempDir dir("engine-formats");
    std::string wide = test::tiny_graph("wide");
    wide.replace(wide.rfind("out = \"$classes\""), 16, "out = 100");
    auto r = test::run_cli({"check", dir.write("wide.toml", wide).string()});
    CHECK(r.code == 2);
    std::string said = r.out + r.err;
    CHECK_MESSAGE(contains(said, "wide.toml:"), said);
    CHECK_MESSAGE(contains(said, "output is 100 but the data has 3 classes"), said);
    std::string spatial = test::tiny_graph("spatial");
    spatial.replace(spatial.find("[[layers]]\nop = \"adaptive_avgpool2d\""), std::string::npos, "");
    r = test::run_cli({"check", dir.write("spatial.toml", spatial).string()});
    CHECK(r.code == 2);
    said = r.out + r.err;
    CHECK_MESSAGE(contains(said, "output is 8x16x16"), said);
    CHECK(test::run_cli({"check", dir.write("ok.toml", test::tiny_graph("ok")).string()}).code == 0);
  }

  // The proof that the seam changed nothing below it: the same files, listed by two formats.
  TEST_CASE("the 10 shared classes as Tiny ImageNet and as an ImageFolder of links: same splits, same metrics") {
    const fs::path tiny = fs::canonical(test::data_dir());
    test::TempDir dir("engine-formats");
    const fs::path folder = dir / "folder";
    for (const auto& entry : fs::directory_iterator(tiny / "train")) {
      const std::string wnid = entry.path().filename().string();
      fs::create_directories(folder / "train" / wnid);
      for (const auto& image : fs::directory_iterator(entry.path() / "images"))
        fs::create_symlink(image.path(), folder / "train" / wnid / image.path().filename());
    }
    std::ifstream annotations(tiny / "val" / "val_annotations.txt");
    for (std::string file, wnid, rest; annotations >> file >> wnid && std::getline(annotations, rest);) {
      fs::create_directories(folder / "test" / wnid);
      fs::create_symlink(tiny / "val" / "images" / file, folder / "test" / wnid / file);
    }

    DataConfig config;
    config.height = config.width = 32;
    config.root = tiny.string();
    const LoadedData a = load_data(config);
    config.root = folder.string();
    const LoadedData b = load_data(config);
    CHECK(a.format == "tiny-imagenet");
    CHECK(b.format == "imagefolder");
    CHECK(a.wnids == b.wnids);
    for (auto [x, y] : {std::pair{&a.train, &b.train}, std::pair{&a.val, &b.val}}) {
      CHECK(torch::equal(x->images, y->images));
      CHECK(torch::equal(x->labels, y->labels));
    }
    CHECK(a.mean == b.mean);
    CHECK(a.std == b.std);
    CHECK(a.test.size() == b.test.size());
    CHECK(torch::equal(std::get<0>(a.test.labels.sort()), std::get<0>(b.test.labels.sort())));

    std::string graph = test::tiny_graph("same");
    graph.replace(graph.find("num_classes = 3"), 15, "num_classes = 10");
    const fs::path file = dir.write("same.toml", graph);
    std::string metrics[2];
    int i = 0;
    for (const fs::path& root : {tiny, folder}) {
      const fs::path run = dir / ("run" + std::to_string(i));
      auto r = test::run_cli({"run", file.string(), "--run-dir", run.string(), "--data", root.string(), "--set",
                              "train.threads=2", "--set", "train.memory_format=\"contiguous\""});
      REQUIRE_MESSAGE(r.code == 0, r.err);
      std::istringstream csv(test::read_file(run / "metrics.csv"));
      for (std::string line; std::getline(csv, line);) {  // without the timing columns, as the regression suite
        size_t cut = 0;
        for (int commas = 0; commas < 6 && cut != std::string::npos; ++commas) cut = line.find(',', cut + 1);
        metrics[i] += line.substr(0, cut) + "\n";
      }
      ++i;
    }
    CHECK(metrics[0] == metrics[1]);
    CHECK(std::count(metrics[0].begin(), metrics[0].end(), '\n') == 3);
  }
}

namespace {
// A CIFAR-10 binary root: `per_class` records per class in each of two train batches and the
// test batch; record r of class k has every R value 40 k, G value r % 256, B a pattern of r.
void write_cifar10(const fs::path& root, int classes = 3, int per_class = 12) {
  fs::create_directories(root);
  std::ofstream names(root / "batches.meta.txt");
  for (int k = 0; k < classes; ++k) names << "thing_" << char('a' + k) << "\n";
  names << "\n";
  for (const char* file : {"data_batch_1.bin", "data_batch_2.bin", "test_batch.bin"}) {
    std::ofstream out(root / file, std::ios::binary);
    for (int r = 0; r < classes * per_class; ++r) {
      const int k = r % classes;
      std::vector<char> record(3073);
      record[0] = char(k);
      std::fill(record.begin() + 1, record.begin() + 1025, char(40 * k));
      std::fill(record.begin() + 1025, record.begin() + 2049, char(r % 256));
      for (size_t i = 2049; i < record.size(); ++i) record[i] = char((i * 31 + size_t(r)) % 256);
      out.write(record.data(), std::streamsize(record.size()));
    }
  }
}
}  // namespace

TEST_SUITE("formats") {
  TEST_CASE("CIFAR-10 binary batches: records read straight into the splits, val split off train") {
    test::TempDir dir("engine-formats");
    write_cifar10(dir / "cifar");
    DataConfig config;
    config.root = (dir / "cifar").string();
    config.num_classes = 3;
    config.height = config.width = 32;
    config.val_fraction = 0.25;
    const LoadedData data = load_data(config);
    CHECK(data.format == "cifar-binary");
    CHECK(data.wnids == std::vector<std::string>{"thing_a", "thing_b", "thing_c"});
    CHECK(data.train.size() == 3 * 18);
    CHECK(data.val.size() == 3 * 6);
    CHECK(data.test.size() == 36);
    for (int64_t i = 0; i < data.train.size(); ++i) {
      const int64_t label = data.train.labels[i].item<int64_t>();
      CHECK(data.train.images[i][0].max().item<int>() == 40 * label);
      CHECK(data.train.images[i][0].min().item<int>() == 40 * label);
    }
    config.channels = 1;
    config.height = config.width = 16;
    const LoadedData grey = load_data(config, TestSplit::Skip);
    CHECK(grey.train.images.sizes() == torch::IntArrayRef{54, 1, 16, 16});
  }

  TEST_CASE("a 2-epoch run and engine test on CIFAR-10 binaries") {
    test::TempDir dir("engine-formats");
    write_cifar10(dir / "cifar");
    const fs::path graph = dir.write("cifar.toml", folder_graph("cifar"));
    auto r =
        test::run_cli({"run", graph.string(), "--run-dir", (dir / "run").string(), "--data", (dir / "cifar").string()});
    REQUIRE_MESSAGE(r.code == 0, r.err);
    auto t = test::run_cli(
        {"test", graph.string(), "--run-dir", (dir / "run").string(), "--data", (dir / "cifar").string()});
    CHECK_MESSAGE(t.code == 0, t.err);
  }

  TEST_CASE("a CIFAR file of the wrong length: exit 2, naming it, nothing written") {
    test::TempDir dir("engine-formats");
    write_cifar10(dir / "cifar");
    fs::resize_file(dir / "cifar" / "data_batch_2.bin", 3073 * 5 + 100);
    const fs::path graph = dir.write("cifar.toml", folder_graph("cifar"));
    auto r =
        test::run_cli({"run", graph.string(), "--run-dir", (dir / "run").string(), "--data", (dir / "cifar").string()});
    CHECK(r.code == 2);
    CHECK_MESSAGE(contains(r.err, (dir / "cifar" / "data_batch_2.bin").string()), r.err);
    CHECK_MESSAGE(contains(r.err, "fetch it again"), r.err);
    CHECK(!fs::exists(dir / "run"));
  }
}
