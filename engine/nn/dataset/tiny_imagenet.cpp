#include "engine/nn/dataset/tiny_imagenet.hpp"

#include "engine/core/spec.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <unordered_map>

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include "engine/core/error.hpp"
#include "engine/core/memory.hpp"
#include "engine/nn/dataset/augment.hpp"
#include "engine/nn/dataset/cache.hpp"
#include "engine/nn/dataset/decode.hpp"
#include "engine/nn/dataset/seeded.hpp"

namespace engine::data {
namespace {

namespace fs = std::filesystem;

std::string in_quotes(const fs::path& path) { return "'" + path.string() + "'"; }

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

fs::path checked_root(const std::string& root) {
  if (root.empty())
    throw UserError(
        "data.root is not set; point it at a Tiny ImageNet folder (tools/get-data puts one in "
        "data/tiny-imagenet-200)");
  const fs::path path = fs::absolute(root).lexically_normal();
  if (!fs::is_directory(path))
    throw UserError("data root " + in_quotes(path) + " does not exist; run tools/get-data to fetch Tiny ImageNet");
  if (!fs::is_regular_file(path / "wnids.txt"))
    throw UserError(in_quotes(path / "wnids.txt") + " not found: " + in_quotes(path) +
                    " is not a Tiny ImageNet root (wnids.txt, words.txt, train/, val/)");
  if (!fs::is_regular_file(path / "val" / "val_annotations.txt"))
    throw UserError(in_quotes(path / "val" / "val_annotations.txt") + " not found: the test split of " +
                    in_quotes(path) + " needs the official val/ folder");
  return path;
}

std::vector<std::string> choose_classes(const DataConfig& config, const fs::path& root,
                                        const std::vector<std::string>& available) {
  const std::string wnids_txt = in_quotes(root / "wnids.txt");
  if (!config.classes.empty()) {
    std::set<std::string> seen;
    for (const auto& wnid : config.classes) {
      if (!std::binary_search(available.begin(), available.end(), wnid)) {
        throw UserError("data.classes: '" + wnid + "' is not listed in " + wnids_txt + did_you_mean(wnid, available));
      }
      if (!seen.insert(wnid).second) throw UserError("data.classes lists '" + wnid + "' twice");
    }
    return config.classes;
  }
  if (available.size() < size_t(config.num_classes))
    throw UserError(wnids_txt + " lists " + std::to_string(available.size()) +
                    " classes, fewer than data.num_classes = " + std::to_string(config.num_classes));
  std::vector<std::string> chosen = available;
  std::mt19937_64 rng(mix_seed({config.class_seed}));
  seeded_shuffle(chosen, rng);
  chosen.resize(config.num_classes);
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

// words.txt maps all ~82k WordNet ids to names; read only until the chosen ones are found.
std::vector<std::string> read_full_names(const fs::path& root, const std::vector<std::string>& wnids) {
  std::unordered_map<std::string, std::string> found;
  for (const auto& wnid : wnids) found[wnid];
  std::ifstream words(root / "words.txt");
  if (!words) spdlog::warn("{} not found: classes are named by their wnids", in_quotes(root / "words.txt"));
  size_t missing = wnids.size();
  for (std::string line; missing > 0 && std::getline(words, line);) {
    const auto tab = line.find('\t');
    if (tab == std::string::npos) continue;
    auto it = found.find(line.substr(0, tab));
    if (it != found.end() && it->second.empty()) {
      it->second = trim(line.substr(tab + 1));
      --missing;
    }
  }
  std::vector<std::string> names;
  for (const auto& wnid : wnids) names.push_back(found[wnid].empty() ? wnid : found[wnid]);
  return names;
}

bool is_image_file(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpeg" || ext == ".jpg" || ext == ".png" || ext == ".bmp";
}

// Adds a file's name, size and modification time to the fingerprint; false if it does not exist.
bool fingerprint_file(const std::string& path, uint64_t& fingerprint) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return false;
  fingerprint = mix_seed({fingerprint, hash_string(path), uint64_t(info.st_size), uint64_t(info.st_mtim.tv_sec),
                          uint64_t(info.st_mtim.tv_nsec)});
  return true;
}

// Stratified: each class gives round(val_fraction * n) of its images to val. Names are sorted before
// the seeded shuffle so that the split does not depend on the order the filesystem lists them in,
// and each class is shuffled with its own seed so that its split does not depend on the other classes.
void list_train_val(const DataConfig& config, const fs::path& root, TinyImageNetFiles& out) {
  for (size_t label = 0; label < out.wnids.size(); ++label) {
    const std::string& wnid = out.wnids[label];
    const fs::path folder = root / "train" / wnid / "images";
    if (!fs::is_directory(folder))
      throw UserError(in_quotes(folder) + " not found: class '" + wnid + "' is listed in " +
                      in_quotes(root / "wnids.txt") + " but has no train images");
    std::vector<std::string> files;
    for (const auto& entry : fs::directory_iterator(folder))
      if (entry.is_regular_file() && is_image_file(entry.path())) files.push_back(entry.path().string());
    if (files.empty()) throw UserError(in_quotes(folder) + " holds no images (class '" + wnid + "')");
    std::sort(files.begin(), files.end());
    for (const auto& file : files) fingerprint_file(file, out.fingerprint);

    std::mt19937_64 rng(mix_seed({config.split_seed, hash_string(wnid)}));
    std::vector<std::string> shuffled = files;
    seeded_shuffle(shuffled, rng);
    auto val_count = static_cast<size_t>(std::llround(config.val_fraction * double(files.size())));
    val_count = std::min(val_count, files.size() - 1);  // keep at least one train image per class
    std::vector<std::string> val(shuffled.begin(), shuffled.begin() + val_count);
    std::vector<std::string> train(shuffled.begin() + val_count, shuffled.end());
    for (auto* part : {&val, &train}) std::sort(part->begin(), part->end());
    for (auto& [part, list] : {std::pair{&train, &out.train}, std::pair{&val, &out.val}}) {
      list->files.insert(list->files.end(), part->begin(), part->end());
      list->labels.insert(list->labels.end(), part->size(), int64_t(label));
    }
  }
}

void list_test(const fs::path& root, TinyImageNetFiles& out) {
  const fs::path annotations = root / "val" / "val_annotations.txt";
  fingerprint_file(annotations.string(), out.fingerprint);
  std::unordered_map<std::string, int64_t> label_of;
  for (size_t i = 0; i < out.wnids.size(); ++i) label_of[out.wnids[i]] = int64_t(i);
  std::ifstream in(annotations);
  size_t line_number = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_number;
    if (trim(line).empty()) continue;
    std::istringstream fields(line);
    std::string file, wnid;
    if (!std::getline(fields, file, '\t') || !std::getline(fields, wnid, '\t'))
      throw UserError(annotations.string() + ":" + std::to_string(line_number) +
                      ": expected 'file<TAB>wnid<TAB>box', got '" + line + "'");
    const auto label = label_of.find(trim(wnid));
    if (label == label_of.end()) continue;
    const std::string path = (root / "val" / "images" / trim(file)).string();
    if (!fingerprint_file(path, out.fingerprint))
      throw UserError(annotations.string() + ":" + std::to_string(line_number) + " names image '" + trim(file) +
                      "', but " + in_quotes(path) + " does not exist");
    out.test.files.push_back(path);
    out.test.labels.push_back(label->second);
  }
}

std::string cache_key(const DataConfig& config, const TinyImageNetFiles& files, TestSplit test) {
  std::ostringstream key;
  key.precision(17);
  key << "root=" << files.root << "\nclasses=";
  for (const auto& wnid : files.wnids) key << wnid << ',';
  key << "\nsize=" << config.height << 'x' << config.width << "\nresize=" << config.resize
      << "\nval_fraction=" << config.val_fraction << "\nsplit_seed=" << config.split_seed
      << "\nskip_corrupt=" << config.skip_corrupt << "\ntest=" << (test == TestSplit::Load);
  return key.str();
}

// Decodes the three splits in one parallel pass, then cuts the result back into splits.
DecodedSplits decode_splits(const DataConfig& config, const TinyImageNetFiles& files) {
  std::vector<std::string> all;
  std::vector<int64_t> labels;
  for (const FileList* list : {&files.train, &files.val, &files.test}) {
    all.insert(all.end(), list->files.begin(), list->files.end());
    labels.insert(labels.end(), list->labels.begin(), list->labels.end());
  }
  DecodedImages decoded = decode_images(all, config.height, config.width, config.resize);
  std::vector<bool> keep(all.size(), true);
  if (!decoded.corrupt.empty()) {
    const std::string& first = all[decoded.corrupt.front()];
    const size_t others = decoded.corrupt.size() - 1;
    if (!config.skip_corrupt)
      throw UserError("image '" + first + "' is corrupt or truncated" +
                      (others ? " (and " + std::to_string(others) + " more)" : std::string()) +
                      "; set data.skip_corrupt = true to skip such images");
    spdlog::warn("data: skipped {} corrupt or truncated image(s), the first '{}'", decoded.corrupt.size(), first);
    for (size_t i : decoded.corrupt) keep[i] = false;
  }

  DecodedSplits out;
  const torch::Tensor all_labels = torch::tensor(labels, torch::kInt64);
  size_t start = 0;
  std::array<double, 6> train_sums{};
  int64_t train_pixels = 0;
  for (auto [list, split] :
       {std::pair{&files.train, &out.train}, std::pair{&files.val, &out.val}, std::pair{&files.test, &out.test}}) {
    std::vector<int64_t> rows;
    for (size_t i = start; i < start + list->files.size(); ++i) {
      if (!keep[i]) continue;
      rows.push_back(int64_t(i));
      split->files.push_back(all[i]);
      if (split == &out.train)
        for (size_t k = 0; k < 6; ++k) train_sums[k] += double(decoded.pixel_sums[i][k]);
    }
    if (rows.size() == list->files.size()) {  // nothing skipped: a view, no copy
      split->images = decoded.images.narrow(0, int64_t(start), int64_t(rows.size()));
      split->labels = all_labels.narrow(0, int64_t(start), int64_t(rows.size()));
    } else {
      const auto index = torch::tensor(rows, torch::kInt64);
      split->images = decoded.images.index_select(0, index);
      split->labels = all_labels.index_select(0, index);
    }
    start += list->files.size();
    if (split == &out.train) train_pixels = int64_t(rows.size()) * config.height * config.width;
  }
  for (size_t c = 0; c < 3; ++c) {
    const double mean = train_sums[c] / double(train_pixels);
    const double variance = train_sums[3 + c] / double(train_pixels) - mean * mean;
    out.train_mean.push_back(mean / 255);
    out.train_std.push_back(std::sqrt(std::max(variance, 0.0)) / 255);
  }
  return out;
}

}  // namespace

void check_data_config(const DataConfig& config) {
  auto fail = [](const std::string& what) { throw UserError("data." + what); };
  if (config.height < 1 || config.width < 1)
    fail("height and data.width must be positive, not " + std::to_string(config.height) + " and " +
         std::to_string(config.width));
  if (!(config.val_fraction >= 0 && config.val_fraction < 1))
    fail("val_fraction must be in [0, 1), not " + std::to_string(config.val_fraction));
  if (config.classes.empty() && config.num_classes < 1)
    fail("num_classes must be at least 1, not " + std::to_string(config.num_classes));
  if (!config.mean.empty() && config.mean.size() != 3)
    fail("mean needs one value per RGB channel (3), not " + std::to_string(config.mean.size()));
  if (!config.std.empty() && config.std.size() != 3)
    fail("std needs one value per RGB channel (3), not " + std::to_string(config.std.size()));
  for (double s : config.std)
    if (!(s > 0)) fail("std values must be positive, not " + std::to_string(s));
  check_augment(config.augment);
}

std::vector<std::string> available_wnids(const std::string& root) {
  const fs::path path = checked_root(root);
  std::ifstream in(path / "wnids.txt");
  std::vector<std::string> wnids;
  for (std::string line; std::getline(in, line);)
    if (!trim(line).empty()) wnids.push_back(trim(line));
  std::sort(wnids.begin(), wnids.end());
  wnids.erase(std::unique(wnids.begin(), wnids.end()), wnids.end());
  return wnids;
}

TinyImageNetFiles list_tiny_imagenet(const DataConfig& config, TestSplit test) {
  check_data_config(config);
  TinyImageNetFiles files;
  const fs::path root = checked_root(config.root);
  files.root = root.string();
  files.wnids = choose_classes(config, root, available_wnids(config.root));
  files.full_names = read_full_names(root, files.wnids);
  for (const auto& full : files.full_names) files.names.push_back(trim(full.substr(0, full.find(','))));
  list_train_val(config, root, files);
  if (test == TestSplit::Load) list_test(root, files);
  return files;
}

TinyImageNet load_tiny_imagenet(const DataConfig& config, TestSplit test) {
  const TinyImageNetFiles files = list_tiny_imagenet(config, test);
  TinyImageNet out;
  out.wnids = files.wnids;
  out.names = files.names;
  out.full_names = files.full_names;

  // Every split is held decoded in memory: refuse up front what cannot fit.
  const uint64_t images = files.train.files.size() + files.val.files.size() + files.test.files.size();
  require_memory(images * 3 * uint64_t(config.height) * uint64_t(config.width),
                 "data: " + std::to_string(images) + " images of 3x" + std::to_string(config.height) + "x" +
                     std::to_string(config.width) + " decoded",
                 "use fewer classes (data.num_classes) or smaller images, or free memory "
                 "(ENGINE_MEMORY_LIMIT_MB overrides the figure)");
  std::optional<DecodedSplits> splits;
  std::string key, cache_path;
  if (config.cache && !config.cache_dir.empty()) {
    key = cache_key(config, files, test);
    cache_path = cache_file(config.cache_dir, key);
    splits = read_cache(cache_path, key, files.fingerprint);
    out.from_cache = splits.has_value();
  }
  if (!splits) {
    splits = decode_splits(config, files);
    if (!cache_path.empty()) write_cache(cache_path, key, files.fingerprint, *splits);
  }
  out.train = std::move(splits->train);
  out.val = std::move(splits->val);
  out.test = std::move(splits->test);
  out.mean = config.mean.empty() ? splits->train_mean : config.mean;
  out.std = config.std.empty() ? splits->train_std : config.std;
  return out;
}

}  // namespace engine::data
