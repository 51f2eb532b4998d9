// The data pipeline: Tiny ImageNet listing, decoding, splits, cache, batches and augmentation.
// Small trees are written by the tests themselves; the real 10-class subset lives in ../shared.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <numeric>
#include <set>
#include <sstream>
#include <thread>

#include <unistd.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "engine/core/error.hpp"
#include "engine/nn/dataset/augment.hpp"
#include "engine/nn/dataset/batch_loader.hpp"
#include "engine/nn/dataset/data.hpp"
#include "engine/nn/dataset/dataset.hpp"

namespace fs = std::filesystem;
using namespace engine::data;

namespace {

const std::string kRealRoot = ENGINE_SOURCE_DIR "/../shared/tiny-imagenet-10";

fs::path unique_temp_dir(const std::string& stem) {
  static int counter = 0;
  fs::path dir =
      fs::temp_directory_path() / (stem + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// The colour of every image of class k, so that a decoded image tells which label it must carry.
cv::Scalar rgb_of_class(int k) { return {40.0 + 60 * k, 200.0 - 50 * k, 90.0 + 30 * k}; }

// A small Tiny ImageNet in the official layout: 16x16 solid-colour JPEGs, `per_class` train and
// `val_per_class` val images per class. Image 0 of class 0 is grayscale, image 1 of class 1 is 24x20.
struct FakeTree {
  fs::path root;
  int classes;

  explicit FakeTree(int classes = 3, int per_class = 10, int val_per_class = 2)
      : root(unique_temp_dir("engine-data-test")), classes(classes) {
    std::ofstream wnids(root / "wnids.txt"), words(root / "words.txt");
    fs::create_directories(root / "val" / "images");
    std::ofstream annotations(root / "val" / "val_annotations.txt");
    words << "n99999999\tunrelated, entry\n";
    int val_index = 0;
    for (int k = 0; k < classes; ++k) {
      wnids << wnid(k) << "\n";
      words << wnid(k) << "\tthing" << k << ", alias " << k << "\n";
      fs::create_directories(root / "train" / wnid(k) / "images");
      for (int i = 0; i < per_class; ++i)
        write_image(train_image(k, i), k, k == 1 && i == 1 ? 24 : 16, k == 0 && i == 0);
      for (int i = 0; i < val_per_class; ++i, ++val_index) {
        const std::string file = "val_" + std::to_string(val_index) + ".JPEG";
        write_image(root / "val" / "images" / file, k, 16, false);
        annotations << file << "\t" << wnid(k) << "\t0\t0\t15\t15\n";
      }
    }
  }
  ~FakeTree() { fs::remove_all(root); }

  static std::string wnid(int k) { return "n0000000" + std::to_string(k); }
  fs::path train_image(int k, int i) const {
    return root / "train" / wnid(k) / "images" / (wnid(k) + "_" + std::to_string(i) + ".JPEG");
  }
  static void write_image(const fs::path& path, int k, int width, bool grey) {
    const cv::Scalar rgb = rgb_of_class(k);
    cv::Mat image(width == 16 ? 16 : 20, width, CV_8UC3, cv::Scalar(rgb[2], rgb[1], rgb[0]));  // BGR
    if (grey) image = cv::Mat(16, 16, CV_8UC1, cv::Scalar(128));
    REQUIRE(cv::imwrite(path.string(), image));
  }
  DataConfig config() const {
    DataConfig config;
    config.root = root.string();
    config.num_classes = classes;
    config.height = config.width = 16;
    config.val_fraction = 0.2;
    return config;
  }
};

// The message of the UserError that `action` throws ("" if it throws none).
std::string user_error(const std::function<void()>& action) {
  try {
    action();
  } catch (const engine::UserError& error) {
    return error.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The real subset, decoded once for every test that reads it.
const LoadedData& real_data() {
  static const LoadedData data = [] {
    DataConfig config;
    config.root = kRealRoot;
    return load_data(config);
  }();
  return data;
}

std::vector<int64_t> counts_per_label(const Split& split, int64_t classes) {
  const auto counts = torch::bincount(split.labels, {}, classes);
  return std::vector<int64_t>(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + classes);
}

fs::path only_cache_file(const fs::path& dir) {
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(dir)) found.push_back(entry.path());
  REQUIRE(found.size() == 1);
  return found[0];
}

bool same_batches(BatchLoader& a, BatchLoader& b, int count) {
  for (int i = 0; i < count; ++i) {
    auto x = a.next(), y = b.next();
    if (!x || !y || !torch::equal(x->images, y->images) || !torch::equal(x->labels, y->labels)) return false;
  }
  return true;
}

}  // namespace

TEST_SUITE("data") {
  TEST_CASE("a small tree loads with labels, human names, grayscale and odd-sized images") {
    FakeTree tree;
    const LoadedData data = load_data(tree.config());
    CHECK(data.wnids == std::vector<std::string>{"n00000000", "n00000001", "n00000002"});
    CHECK(data.names == std::vector<std::string>{"thing0", "thing1", "thing2"});
    CHECK(data.full_names[2] == "thing2, alias 2");
    CHECK(data.train.size() == 24);  // 10 per class, 2 of them to val at 0.2
    CHECK(data.val.size() == 6);
    CHECK(data.test.size() == 6);
    CHECK(data.train.images.sizes() == torch::IntArrayRef{24, 3, 16, 16});
    CHECK(data.train.images.dtype() == torch::kUInt8);
    CHECK(data.train.labels.dtype() == torch::kInt64);

    for (const Split* split : {&data.train, &data.val, &data.test}) {
      for (int64_t i = 0; i < split->size(); ++i) {
        const auto label = split->labels[i].item<int64_t>();
        const auto mean_rgb = split->images[i].to(torch::kFloat32).mean({1, 2});
        if (contains(split->files[i], "n00000000_0.JPEG")) {  // grayscale file: three equal channels
          CHECK(torch::equal(split->images[i][0], split->images[i][1]));
          CHECK(std::abs(mean_rgb[0].item<float>() - 128) < 3);
          continue;
        }
        for (int c = 0; c < 3; ++c)
          CHECK_MESSAGE(std::abs(mean_rgb[c].item<double>() - rgb_of_class(int(label))[c]) < 4, split->files[i]);
        CHECK(contains(split->files[i], split == &data.test ? "/val/images/" : "/train/" + data.wnids[label] + "/"));
      }
    }
    // mean/std computed on train, in [0, 1] units
    CHECK(data.mean.size() == 3);
    CHECK(data.mean[0] > 0.1);
    CHECK(data.mean[0] < 0.5);
    CHECK(data.std[0] > 0);
  }

  TEST_CASE("given mean and std replace the computed ones; given classes set the label order") {
    FakeTree tree;
    DataConfig config = tree.config();
    config.mean = {0.5, 0.5, 0.5};
    config.std = {0.25, 0.25, 0.25};
    config.classes = {"n00000002", "n00000000"};
    const LoadedData data = load_data(config, TestSplit::Skip);
    CHECK(data.mean == config.mean);
    CHECK(data.std == config.std);
    CHECK(data.wnids == config.classes);
    CHECK(data.names == std::vector<std::string>{"thing2", "thing0"});
    CHECK(data.test.size() == 0);
    const auto first = data.train.images[0].to(torch::kFloat32).mean({1, 2});
    CHECK(data.train.labels[0].item<int64_t>() == 0);
    CHECK(std::abs(first[0].item<double>() - rgb_of_class(2)[0]) < 4);
  }

  TEST_CASE("resize = false makes an odd-sized image an error that names it") {
    FakeTree tree;
    DataConfig config = tree.config();
    config.resize = false;
    const std::string message = user_error([&] { load_data(config); });
    CHECK_MESSAGE(contains(message, tree.train_image(1, 1).string()), message);
    CHECK(contains(message, "24x20"));
  }

  TEST_CASE("bad input is a UserError that names the path") {
    FakeTree tree;
    DataConfig config = tree.config();
    std::string message, path;

    SUBCASE("missing root") {
      config.root = (tree.root / "nowhere").string();
      path = config.root;
    }
    SUBCASE("missing wnids.txt") {
      fs::remove(tree.root / "wnids.txt");
      path = (tree.root / "wnids.txt").string();
    }
    SUBCASE("missing val_annotations.txt") {
      fs::remove(tree.root / "val" / "val_annotations.txt");
      path = (tree.root / "val" / "val_annotations.txt").string();
    }
    SUBCASE("a requested wnid that is not there, with the nearest one suggested") {
      config.classes = {"n00000001", "n0000002"};
      path = (tree.root / "wnids.txt").string();
      message = user_error([&] { load_data(config); });
      CHECK_MESSAGE(contains(message, "did you mean 'n00000002'"), message);
    }
    SUBCASE("an empty class folder") {
      const fs::path folder = tree.root / "train" / FakeTree::wnid(2) / "images";
      fs::remove_all(folder);
      fs::create_directories(folder);
      path = folder.string();
    }
    SUBCASE("a corrupt JPEG") {
      std::ofstream(tree.train_image(2, 3), std::ios::binary | std::ios::trunc) << "not a jpeg at all";
      path = tree.train_image(2, 3).string();
    }
    SUBCASE("a truncated JPEG") {
      fs::resize_file(tree.train_image(0, 5), fs::file_size(tree.train_image(0, 5)) / 2);
      path = tree.train_image(0, 5).string();
    }
    SUBCASE("an annotation line naming a missing image") {
      fs::remove(tree.root / "val" / "images" / "val_3.JPEG");
      path = (tree.root / "val" / "images" / "val_3.JPEG").string();
      message = user_error([&] { load_data(config); });
      CHECK_MESSAGE(contains(message, "val_annotations.txt:4"), message);
    }
    SUBCASE("fewer classes than num_classes") {
      config.num_classes = 5;
      path = (tree.root / "wnids.txt").string();
    }
    if (message.empty()) message = user_error([&] { load_data(config); });
    CHECK_MESSAGE(contains(message, path), "message: '", message, "' should name '", path, "'");
  }

  TEST_CASE("config values out of range are UserErrors naming the key") {
    auto message_for = [](auto change) {
      DataConfig config;
      config.root = "anywhere";
      change(config);
      return user_error([&] { check_data_config(config); });
    };
    CHECK(message_for([](DataConfig&) {}).empty());
    CHECK(contains(message_for([](DataConfig& c) { c.val_fraction = 1; }), "data.val_fraction"));
    CHECK(contains(message_for([](DataConfig& c) { c.height = 0; }), "data.height"));
    CHECK(contains(message_for([](DataConfig& c) { c.mean = {0.5}; }), "data.mean"));
    CHECK(contains(message_for([](DataConfig& c) { c.std = {0.2, 0, 0.2}; }), "data.std"));
    CHECK(contains(message_for([](DataConfig& c) { c.augment.crop_padding = -1; }), "data.augment.crop_padding"));
    CHECK(contains(message_for([](DataConfig& c) { c.augment.erasing = 1.5; }), "data.augment.erasing"));
    const Split one{torch::zeros({1, 3, 4, 4}, torch::kUInt8), torch::zeros({1}, torch::kInt64), {"one.JPEG"}};
    CHECK(contains(user_error([&] {
                     LoaderOptions bad;
                     bad.batch_size = 0;
                     BatchLoader(one, bad);
                   }),
                   "batch size"));
  }

  TEST_CASE("skip_corrupt skips corrupt and truncated images instead of failing") {
    FakeTree tree;
    DataConfig config = tree.config();
    config.skip_corrupt = true;
    std::ofstream(tree.train_image(2, 3), std::ios::binary | std::ios::trunc) << "not a jpeg at all";
    fs::resize_file(tree.train_image(0, 5), fs::file_size(tree.train_image(0, 5)) / 2);
    const LoadedData data = load_data(config);
    CHECK(data.train.size() + data.val.size() == 28);
    CHECK(data.train.labels.size(0) == data.train.size());
    for (const Split* split : {&data.train, &data.val})
      for (const auto& file : split->files) {
        CHECK(file != tree.train_image(2, 3).string());
        CHECK(file != tree.train_image(0, 5).string());
      }
  }

  TEST_CASE("the real subset splits 4500/500/500, stratified, without overlap") {
    const LoadedData& data = real_data();
    REQUIRE(data.wnids.size() == 10);
    CHECK(data.train.size() == 4500);
    CHECK(data.val.size() == 500);
    CHECK(data.test.size() == 500);
    CHECK(counts_per_label(data.train, 10) == std::vector<int64_t>(10, 450));
    CHECK(counts_per_label(data.val, 10) == std::vector<int64_t>(10, 50));
    CHECK(counts_per_label(data.test, 10) == std::vector<int64_t>(10, 50));
    CHECK(data.train.images.sizes() == torch::IntArrayRef{4500, 3, 64, 64});

    std::set<std::string> seen;
    for (const Split* split : {&data.train, &data.val, &data.test})
      for (const auto& file : split->files) CHECK_MESSAGE(seen.insert(file).second, file, " is in two splits");
    CHECK(seen.size() == 5500);
  }

  TEST_CASE("labels, wnids and names agree on the real subset") {
    const LoadedData& data = real_data();
    const auto goldfish = std::find(data.wnids.begin(), data.wnids.end(), "n01443537") - data.wnids.begin();
    REQUIRE(goldfish < 10);
    CHECK(data.names[goldfish] == "goldfish");
    CHECK(data.full_names[goldfish] == "goldfish, Carassius auratus");
    CHECK(std::is_sorted(data.wnids.begin(), data.wnids.end()));

    for (const Split* split : {&data.train, &data.val})
      for (int64_t i = 0; i < split->size(); i += 97)
        CHECK(contains(split->files[i], "/train/" + data.wnids[split->labels[i].item<int64_t>()] + "/images/"));

    std::map<std::string, std::string> wnid_of;  // from val_annotations.txt
    std::ifstream annotations(kRealRoot + "/val/val_annotations.txt");
    for (std::string file, wnid, rest; annotations >> file >> wnid && std::getline(annotations, rest);)
      wnid_of[file] = wnid;
    for (int64_t i = 0; i < data.test.size(); ++i)
      CHECK(wnid_of[fs::path(data.test.files[i]).filename().string()] ==
            data.wnids[data.test.labels[i].item<int64_t>()]);
  }

  TEST_CASE("the split and the class choice depend only on their seeds") {
    DataConfig config;
    config.root = kRealRoot;
    const auto a = list_data(config, TestSplit::Skip), again = list_data(config, TestSplit::Skip);
    CHECK(a.val.files == again.val.files);
    CHECK(a.train.files == again.train.files);
    config.split_seed = 1;
    const auto b = list_data(config, TestSplit::Skip);
    CHECK(a.val.files != b.val.files);
    CHECK(b.val.files.size() == 500);

    FakeTree tree(6, 2, 1);
    DataConfig choose = tree.config();
    choose.num_classes = 3;
    const auto chosen = list_data(choose).wnids;
    CHECK(chosen == list_data(choose).wnids);
    CHECK(chosen.size() == 3);
    bool another_seed_differs = false;
    for (choose.class_seed = 1; choose.class_seed < 6; ++choose.class_seed)
      another_seed_differs |= list_data(choose).wnids != chosen;
    CHECK(another_seed_differs);
  }

  TEST_CASE("same seed gives the same batches; a resumed epoch equals the uninterrupted one") {
    const Split& train = real_data().train;
    LoaderOptions options;
    options.shuffle = true;
    options.seed = 7;
    options.augment = {4, true, 0.4, 0.5};
    options.mean = real_data().mean;
    options.std = real_data().std;

    BatchLoader a(train, options), b(train, options);
    CHECK(same_batches(a, b, 3));

    // Run through epoch 0, then epoch 1; a loader "resumed" at epoch 1 must see the same batches.
    a.start_epoch(0);
    while (a.next()) {
    }
    a.start_epoch(1);
    BatchLoader resumed(train, options);
    resumed.start_epoch(1);
    CHECK(same_batches(a, resumed, 3));
    CHECK(torch::equal(a.batch(20).images, resumed.batch(20).images));

    LoaderOptions other = options;
    other.seed = 8;
    BatchLoader c(train, options), d(train, other);
    CHECK_FALSE(same_batches(c, d, 1));
    BatchLoader epoch0(train, options), epoch1(train, options);
    epoch1.start_epoch(1);
    CHECK_FALSE(same_batches(epoch0, epoch1, 1));
  }

  TEST_CASE("eval batches keep the split order and are exactly normalised") {
    const LoadedData& data = real_data();
    LoaderOptions options;
    options.batch_size = 256;
    options.mean = data.mean;
    options.std = data.std;
    BatchLoader loader(data.val, options);
    CHECK(loader.num_batches() == 2);
    const Batch first = *loader.next(), last = *loader.next();
    CHECK_FALSE(loader.next());
    CHECK(last.images.size(0) == 500 - 256);
    CHECK(torch::equal(first.labels, data.val.labels.narrow(0, 0, 256)));
    const auto mean = torch::tensor(data.mean, torch::kFloat32).view({1, 3, 1, 1});
    const auto std = torch::tensor(data.std, torch::kFloat32).view({1, 3, 1, 1});
    const auto expected = (data.val.images.narrow(0, 0, 256).to(torch::kFloat32) / 255 - mean) / std;
    CHECK(torch::allclose(first.images, expected, 1e-4, 1e-4));
    CHECK(first.images.dtype() == torch::kFloat32);

    options.drop_last = true;
    CHECK(BatchLoader(data.val, options).num_batches() == 1);
    options.channels_last = true;
    CHECK(BatchLoader(data.val, options).batch(0).images.is_contiguous(torch::MemoryFormat::ChannelsLast));
  }

  TEST_CASE("augmentation keeps shapes and changes pixels") {
    const LoadedData& data = real_data();
    LoaderOptions plain;
    plain.mean = data.mean;
    plain.std = data.std;
    const Batch reference = BatchLoader(data.val, plain).batch(0);
    for (const AugmentConfig augment :
         {AugmentConfig{4, false, 0, 0}, AugmentConfig{0, true, 0, 0}, AugmentConfig{0, false, 0.4, 0},
          AugmentConfig{0, false, 0, 1.0}, AugmentConfig{4, true, 0.4, 0.5}}) {
      LoaderOptions options = plain;
      options.augment = augment;
      const Batch batch = BatchLoader(data.val, options).batch(0);
      CHECK(batch.images.sizes() == reference.images.sizes());
      CHECK(torch::equal(batch.labels, reference.labels));
      CHECK_FALSE(torch::allclose(batch.images, reference.images));
    }
  }

  TEST_CASE("crop, flip, jitter and erasing do what they say") {
    const torch::Tensor images = real_data().val.images.narrow(0, 0, 64);
    std::vector<int64_t> rows(64);
    std::iota(rows.begin(), rows.end(), 0);
    const std::vector<double> fill{1 / 255.0, 2 / 255.0, 3 / 255.0},
        unit_std{1, 1, 1};  // erasing fills the mean colour
    std::mt19937_64 rng(3);
    auto augmented = [&](AugmentConfig augment) {
      return augment_batch(images, rows, augment, fill, unit_std, rng, torch::kUInt8);
    };

    CHECK(torch::equal(augmented({}), images));  // nothing asked: a plain gather

    const torch::Tensor flipped = augmented({0, true, 0, 0});
    int64_t mirrored = 0;
    for (int64_t i = 0; i < 64; ++i) {
      const bool same = torch::equal(flipped[i], images[i]), mirror = torch::equal(flipped[i], images[i].flip(2));
      CHECK((same || mirror));
      mirrored += mirror && !same;
    }
    CHECK(mirrored > 10);
    CHECK(mirrored < 54);

    // A crop after padding by p is the image shifted by at most p, zeros coming in; flipped or not.
    const torch::Tensor cropped = augmented({4, true, 0, 0});
    int64_t shifted = 0;
    for (int64_t i = 0; i < 64; ++i) {
      bool found = false;
      for (int64_t dy = -4; dy <= 4 && !found; ++dy)
        for (int64_t dx = -4; dx <= 4 && !found; ++dx) {
          const auto crop =
              torch::constant_pad_nd(images[i], {4, 4, 4, 4}, 0).narrow(1, 4 + dy, 64).narrow(2, 4 + dx, 64);
          found = torch::equal(cropped[i], crop) || torch::equal(cropped[i], crop.flip(2));
          shifted += found && (dx != 0 || dy != 0);
        }
      CHECK(found);
    }
    CHECK(shifted > 32);

    // Jitter changes colours but keeps a grey image grey (brightness, contrast, saturation all do).
    const torch::Tensor jittered = augmented({0, false, 0.8, 0});
    CHECK(jittered.sizes() == images.sizes());
    CHECK((jittered != images).sum().item<int64_t>() > images.numel() / 2);
    const torch::Tensor grey_images = images.narrow(1, 0, 1).expand({64, 3, 64, 64}).contiguous();
    const torch::Tensor grey_jittered =
        augment_batch(grey_images, rows, {0, false, 0.8, 0}, fill, unit_std, rng, torch::kUInt8);
    CHECK(torch::equal(grey_jittered.select(1, 0), grey_jittered.select(1, 2)));
    CHECK_FALSE(torch::equal(grey_jittered, grey_images));

    // Erasing fills one rectangle of 2-33% of the area per image with the fill colour.
    const torch::Tensor erased = augmented({0, false, 0, 1.0});
    const torch::Tensor fill_colour = torch::tensor({1, 2, 3}, torch::kUInt8).view({1, 3, 1, 1});
    const torch::Tensor filled = (erased == fill_colour).all(1), changed = (erased != images).any(1);
    CHECK(torch::equal(changed & filled, changed));  // whatever changed took the fill colour
    const torch::Tensor area = filled.sum({1, 2});
    CHECK(area.min().item<int64_t>() >= int64_t(0.02 * 64 * 64 * 0.8));
    CHECK(area.max().item<int64_t>() <= int64_t(0.33 * 64 * 64 * 1.2) + 64);

    // The float output of CPU batches equals uint8 output normalised with tensor ops (the path of other devices).
    const std::vector<double> mean{0.5, 0.4, 0.3}, std{0.2, 0.25, 0.3};
    const AugmentConfig all{4, true, 0.4, 0.5};
    std::mt19937_64 a(11), b(11);
    const torch::Tensor as_float = augment_batch(images, rows, all, mean, std, a, torch::kFloat32);
    const torch::Tensor as_bytes = augment_batch(images, rows, all, mean, std, b, torch::kUInt8);
    CHECK(torch::allclose(as_float, normalise(as_bytes, mean, std), 1e-5, 1e-5));
  }

  TEST_CASE("TinyImageNetDataset is a torch dataset") {
    FakeTree tree;
    TinyImageNetDataset dataset(tree.config(), SplitName::train);
    REQUIRE(dataset.size().value() == 24);
    const auto example = dataset.get(5);
    CHECK(example.data.sizes() == torch::IntArrayRef{3, 16, 16});
    CHECK(example.target.item<int64_t>() == dataset.split().labels[5].item<int64_t>());
    CHECK(dataset.names()[0] == "thing0");
    const auto batch = dataset.get_batch({3, 1, 20});
    REQUIRE(batch.size() == 3);
    CHECK(torch::equal(batch[2].data, dataset.get(20).data));
    CHECK_THROWS_AS(dataset.get(24), std::out_of_range);

    auto loader = torch::data::make_data_loader(dataset.map(torch::data::transforms::Stack<>()),
                                                torch::data::DataLoaderOptions().batch_size(8));
    int64_t seen = 0;
    for (const auto& stacked : *loader) {
      CHECK(stacked.data.size(1) == 3);
      seen += stacked.data.size(0);
    }
    CHECK(seen == 24);
    CHECK(TinyImageNetDataset(tree.config(), SplitName::test).size().value() == 6);
  }

  TEST_CASE("the cache is used on the second load and gives the same data") {
    FakeTree tree;
    DataConfig config = tree.config();
    config.cache_dir = (tree.root / "cache").string();
    const LoadedData first = load_data(config), second = load_data(config);
    CHECK_FALSE(first.from_cache);
    CHECK(second.from_cache);
    for (auto [a, b] :
         {std::pair{&first.train, &second.train}, {&first.val, &second.val}, {&first.test, &second.test}}) {
      CHECK(torch::equal(a->images, b->images));
      CHECK(torch::equal(a->labels, b->labels));
      CHECK(a->files == b->files);
    }
    CHECK(first.mean == second.mean);
    CHECK(second.names == first.names);

    config.split_seed = 5;  // other settings, another cache file
    CHECK_FALSE(load_data(config).from_cache);
    CHECK(load_data(config).from_cache);
  }

  TEST_CASE("a stale or damaged cache is rebuilt, never used") {
    FakeTree tree;
    DataConfig config = tree.config();
    config.cache_dir = (tree.root / "cache").string();
    load_data(config, TestSplit::Skip);
    const fs::path cache = only_cache_file(config.cache_dir);
    bool rebuilt_in_subcase = false;

    SUBCASE("an image changed") {
      rebuilt_in_subcase = true;
      FakeTree::write_image(tree.train_image(2, 0), 0, 16, false);  // class 2's image now has class 0's colour
      fs::last_write_time(tree.train_image(2, 0),
                          fs::last_write_time(tree.train_image(2, 0)) + std::chrono::seconds(2));
      const LoadedData rebuilt = load_data(config, TestSplit::Skip);
      CHECK_FALSE(rebuilt.from_cache);
      for (const Split* split : {&rebuilt.train, &rebuilt.val})
        for (size_t i = 0; i < split->files.size(); ++i)
          if (split->files[i] == tree.train_image(2, 0).string())
            CHECK(std::abs(split->images[i][0].to(torch::kFloat32).mean().item<double>() - rgb_of_class(0)[0]) < 4);
    }
    SUBCASE("truncated") { fs::resize_file(cache, fs::file_size(cache) - 100); }
    SUBCASE("wrong header") {
      std::fstream file(cache, std::ios::in | std::ios::out | std::ios::binary);
      file.write("JUNK", 4);
    }
    SUBCASE("checksum mismatch") {
      std::fstream file(cache, std::ios::in | std::ios::out | std::ios::binary);
      file.seekp(std::streamoff(fs::file_size(cache) / 2));
      file.write("\x5a\xa5\x5a", 3);
    }
    if (!rebuilt_in_subcase) CHECK_FALSE(load_data(config, TestSplit::Skip).from_cache);
    CHECK(load_data(config, TestSplit::Skip).from_cache);  // and rebuilt for next time
  }

}  // TEST_SUITE("data")

// tools/bench-data runs this (doctest skips it otherwise; CTest does not register the suite).
// It prints "BENCH|key|label|value|unit" lines that the script joins with the PyTorch reference.
TEST_SUITE("bench") {
  TEST_CASE("data pipeline throughput" * doctest::skip()) {
    const char* root_env = std::getenv("ENGINE_BENCH_DATA_ROOT");
    const char* threads_env = std::getenv("ENGINE_BENCH_THREADS");
    const int threads = threads_env ? std::atoi(threads_env) : int(std::thread::hardware_concurrency());
    torch::set_num_threads(threads);
    DataConfig config;
    config.root = root_env ? root_env : kRealRoot;
    const fs::path cache_dir = unique_temp_dir("engine-bench-cache");
    auto seconds = [](auto&& action) {
      const auto start = std::chrono::steady_clock::now();
      action();
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    auto median_of_3 = [&](auto&& action) {
      std::vector<double> times{seconds(action), seconds(action), seconds(action)};
      std::sort(times.begin(), times.end());
      return times[1];
    };
    auto report = [](const std::string& key, const std::string& label, double value, const std::string& unit) {
      std::cout << "BENCH|" << key << "|" << label << "|" << value << "|" << unit << std::endl;
    };

    LoadedData data;
    const double decode = median_of_3([&] { data = load_data(config); });
    const int64_t images = data.train.size() + data.val.size() + data.test.size();
    report("load", "first load: list + decode " + std::to_string(images) + " images (median of 3)", decode, "s");

    config.cache_dir = cache_dir.string();
    report("load_write", "first load writing the cache", seconds([&] { load_data(config); }), "s");
    const double cached = median_of_3([&] { data = load_data(config); });
    REQUIRE(data.from_cache);
    report("cached", "cached load (raw file + checksum; median of 3)", cached, "s");

    // The alternative cache format: torch::save / torch::load of the same tensors.
    const std::string pt = (cache_dir / "splits.pt").string();
    torch::save(std::vector<torch::Tensor>{data.train.images, data.train.labels, data.val.images, data.val.labels,
                                           data.test.images, data.test.labels},
                pt);
    report("torch_load", "  same tensors via torch::load, for comparison (median of 3)", median_of_3([&] {
             std::vector<torch::Tensor> tensors;
             torch::load(tensors, pt);
           }),
           "s");

    auto images_per_second = [&](const Split& split, LoaderOptions options, int epochs) {
      BatchLoader loader(split, options);
      while (loader.next()) {  // warm-up epoch
      }
      int64_t seen = 0;
      const double time = seconds([&] {
        for (int epoch = 1; epoch <= epochs; ++epoch) {
          loader.start_epoch(epoch);
          while (auto batch = loader.next()) seen += batch->images.size(0);
        }
      });
      return double(seen) / time;
    };
    LoaderOptions train;
    train.shuffle = true;
    train.mean = data.mean;
    train.std = data.std;
    train.augment = {4, true, 0, 0};
    const std::string n = std::to_string(threads) + " thread" + (threads == 1 ? "" : "s");
    report("train_cropflip", "train batches of 128, crop 4 + flip + normalise (" + n + ")",
           images_per_second(data.train, train, 5), "img/s");
    train.augment = {4, true, 0.4, 0.25};
    report("train_all", "  + jitter 0.4 + erasing 0.25 (" + n + ")", images_per_second(data.train, train, 5), "img/s");
    if (threads != 1) {
      torch::set_num_threads(1);
      report("train_all_1", "  the same on 1 thread", images_per_second(data.train, train, 5), "img/s");
      torch::set_num_threads(threads);
    }
    LoaderOptions eval;
    eval.batch_size = 512;
    eval.mean = data.mean;
    eval.std = data.std;
    report("eval", "eval batches of 512, no augmentation (" + n + ")", images_per_second(data.val, eval, 20), "img/s");
    fs::remove_all(cache_dir);
  }

}  // TEST_SUITE("bench")
