#include "engine/nn/dataset/data.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <sstream>

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include "engine/core/error.hpp"
#include "engine/core/memory.hpp"
#include "engine/core/spec.hpp"
#include "engine/nn/dataset/augment.hpp"
#include "engine/nn/dataset/cache.hpp"
#include "engine/nn/dataset/decode.hpp"
#include "engine/nn/dataset/format.hpp"
#include "engine/nn/dataset/seeded.hpp"

namespace engine::data {

namespace fs = std::filesystem;

std::string path_in_quotes(const fs::path& path) { return "'" + path.string() + "'"; }

std::string trimmed(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

bool is_image_file(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* known : {".jpeg", ".jpg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})
    if (ext == known) return true;
  return false;
}

namespace {

fs::path checked_root(const std::string& root) {
  if (root.empty())
    throw UserError(
        "data.root is not set; point it at your data folder (tools/get-data puts Tiny ImageNet in "
        "data/tiny-imagenet-200)");
  const fs::path path = fs::absolute(root).lexically_normal();
  if (!fs::is_directory(path))
    throw UserError("data root " + path_in_quotes(path) +
                    " does not exist; set data.root (or --data) to your data folder, or run tools/get-data to fetch "
                    "Tiny ImageNet");
  return path;
}

const Format& format_named(const std::string& name) {
  for (const auto& format : data_formats())
    if (format.name == name) return format;
  throw std::logic_error("no data format named '" + name + "'");
}

const Format& format_of(const DataConfig& config, const fs::path& root) {
  const auto& formats = data_formats();
  std::vector<std::string> names;
  for (const auto& format : formats) names.push_back(format.name);
  if (config.format != "auto") {
    for (const auto& format : formats)
      if (format.name == config.format) return format;
    throw UserError("data.format: unknown format '" + config.format + "'" + did_you_mean(config.format, names));
  }
  for (const auto& format : formats)
    if (format.matches(root)) return format;
  std::string expected;
  for (const auto& format : formats) expected += (expected.empty() ? "" : "; ") + format.name + ": " + format.layout;
  throw UserError(path_in_quotes(root) + " matches no data format; set data.root to a folder laid out as one of " +
                  expected);
}

std::vector<std::string> choose_classes(const DataConfig& config, const fs::path& root, const Format& format,
                                        const std::vector<std::string>& available) {
  const std::string source = path_in_quotes(root / format.classes_from);
  if (!config.classes.empty()) {
    std::set<std::string> seen;
    for (const auto& name : config.classes) {
      if (!std::binary_search(available.begin(), available.end(), name)) {
        throw UserError("data.classes: '" + name + "' is not listed in " + source + did_you_mean(name, available));
      }
      if (!seen.insert(name).second) throw UserError("data.classes lists '" + name + "' twice");
    }
    return config.classes;
  }
  if (available.size() < size_t(config.num_classes))
    throw UserError(source + " lists " + std::to_string(available.size()) + " classes, fewer than data.num_classes = " +
                    std::to_string(config.num_classes) + "; lower data.num_classes");
  std::vector<std::string> chosen = available;
  std::mt19937_64 rng(mix_seed({config.class_seed}));
  seeded_shuffle(chosen, rng);
  chosen.resize(config.num_classes);
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

// Adds a file's name, size and modification time to the fingerprint; false if it does not exist.
bool fingerprint_file(const std::string& path, uint64_t& fingerprint) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return false;
  fingerprint = mix_seed({fingerprint, hash_string(path), uint64_t(info.st_size), uint64_t(info.st_mtim.tv_sec),
                          uint64_t(info.st_mtim.tv_nsec)});
  return true;
}

// Each class's files, sorted by name so that nothing depends on the order the filesystem lists them in.
std::vector<std::vector<std::string>> files_by_class(const FileList& list, size_t classes) {
  std::vector<std::vector<std::string>> by_class(classes);
  for (size_t i = 0; i < list.files.size(); ++i) by_class.at(size_t(list.labels[i])).push_back(list.files[i]);
  for (auto& files : by_class) std::sort(files.begin(), files.end());
  return by_class;
}

void append(FileList& list, const std::vector<std::string>& files, size_t label) {
  list.files.insert(list.files.end(), files.begin(), files.end());
  list.labels.insert(list.labels.end(), files.size(), int64_t(label));
}

// Stratified: each class gives round(val_fraction * n) of its images to val. Each class is shuffled
// with its own seed so that its split does not depend on the other classes.
void split_train_val(const DataConfig& config, const std::vector<std::vector<std::string>>& train_by_class,
                     DataFiles& out) {
  for (size_t label = 0; label < train_by_class.size(); ++label) {
    const std::vector<std::string>& files = train_by_class[label];
    std::mt19937_64 rng(mix_seed({config.split_seed, hash_string(out.wnids[label])}));
    std::vector<std::string> shuffled = files;
    seeded_shuffle(shuffled, rng);
    auto val_count = static_cast<size_t>(std::llround(config.val_fraction * double(files.size())));
    val_count = std::min(val_count, files.size() - 1);  // keep at least one train image per class
    std::vector<std::string> val(shuffled.begin(), shuffled.begin() + val_count);
    std::vector<std::string> train(shuffled.begin() + val_count, shuffled.end());
    for (auto* part : {&val, &train}) std::sort(part->begin(), part->end());
    append(out.train, train, label);
    append(out.val, val, label);
  }
}

std::string cache_key(const DataConfig& config, const DataFiles& files, TestSplit test) {
  std::ostringstream key;
  key.precision(17);
  key << "root=" << files.root << "\nclasses=";
  for (const auto& wnid : files.wnids) key << wnid << ',';
  key << "\nsize=" << config.height << 'x' << config.width << "\nresize=" << config.resize
      << "\nval_fraction=" << config.val_fraction << "\nsplit_seed=" << config.split_seed
      << "\nskip_corrupt=" << config.skip_corrupt << "\ntest=" << (test == TestSplit::Load);
  // Only what Tiny ImageNet's RGB key lacked is added, so that its caches from before stay valid.
  if (files.format != "tiny-imagenet") key << "\nformat=" << files.format;
  if (config.channels != 3) key << "\nchannels=" << config.channels;
  return key.str();
}

// Decodes the three splits in one parallel pass, then cuts the result back into splits.
DecodedSplits decode_splits(const DataConfig& config, const DataFiles& files) {
  std::vector<std::string> all;
  std::vector<int64_t> labels;
  for (const FileList* list : {&files.train, &files.val, &files.test}) {
    all.insert(all.end(), list->files.begin(), list->files.end());
    labels.insert(labels.end(), list->labels.begin(), list->labels.end());
  }
  const Format& format = format_named(files.format);
  DecodedImages decoded =
      (format.pixels ? format.pixels : decode_images)(all, config.channels, config.height, config.width, config.resize);
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
  for (size_t c = 0; c < size_t(config.channels); ++c) {
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
  if (config.channels != 1 && config.channels != 3)
    fail("channels must be 1 (grey) or 3 (RGB), not " + std::to_string(config.channels));
  if (!(config.val_fraction >= 0 && config.val_fraction < 1))
    fail("val_fraction must be in [0, 1), not " + std::to_string(config.val_fraction));
  if (config.classes.empty() && config.num_classes < 1)
    fail("num_classes must be at least 1, not " + std::to_string(config.num_classes));
  const std::string per_channel = " needs one value per input channel (" + std::to_string(config.channels) + "), not ";
  if (!config.mean.empty() && config.mean.size() != size_t(config.channels))
    fail("mean" + per_channel + std::to_string(config.mean.size()));
  if (!config.std.empty() && config.std.size() != size_t(config.channels))
    fail("std" + per_channel + std::to_string(config.std.size()));
  for (double s : config.std)
    if (!(s > 0)) fail("std values must be positive, not " + std::to_string(s));
  check_augment(config.augment);
}

std::vector<std::string> available_classes(const DataConfig& config) {
  const fs::path root = checked_root(config.root);
  return format_of(config, root).classes(root);
}

DataFiles list_data(const DataConfig& config, TestSplit test) {
  check_data_config(config);
  DataFiles files;
  const fs::path root = checked_root(config.root);
  const Format& format = format_of(config, root);
  if (!format.matches(root))
    throw UserError(path_in_quotes(root) + " is not a " + format.name + " root (" + format.layout +
                    "); fix data.root, or remove data.format to have it detected");
  files.root = root.string();
  files.format = format.name;
  files.wnids = choose_classes(config, root, format, format.classes(root));
  Listing listing = format.list(root, files.wnids, test);
  files.names = listing.names.empty() ? files.wnids : listing.names;
  files.full_names = listing.full_names.empty() ? files.names : listing.full_names;

  // The fingerprint's order (train by class, val, index files, test) is part of the cache's identity.
  const auto train_by_class = files_by_class(listing.train, files.wnids.size());
  for (const auto& class_files : train_by_class)
    for (const auto& file : class_files) fingerprint_file(file, files.fingerprint);
  if (listing.has_val) {
    for (size_t label = 0; label < train_by_class.size(); ++label) append(files.train, train_by_class[label], label);
    const auto val_by_class = files_by_class(listing.val, files.wnids.size());
    for (size_t label = 0; label < val_by_class.size(); ++label) {
      for (const auto& file : val_by_class[label]) fingerprint_file(file, files.fingerprint);
      append(files.val, val_by_class[label], label);
    }
  } else {
    split_train_val(config, train_by_class, files);
  }
  for (const auto& file : listing.index_files) fingerprint_file(file, files.fingerprint);
  for (const auto& file : listing.test.files) fingerprint_file(file, files.fingerprint);
  files.test = std::move(listing.test);
  return files;
}

LoadedData load_data(const DataConfig& config, TestSplit test) {
  const DataFiles files = list_data(config, test);
  LoadedData out;
  out.format = files.format;
  out.wnids = files.wnids;
  out.names = files.names;
  out.full_names = files.full_names;

  // Every split is held decoded in memory: refuse up front what cannot fit.
  const uint64_t images = files.train.files.size() + files.val.files.size() + files.test.files.size();
  require_memory(images * uint64_t(config.channels) * uint64_t(config.height) * uint64_t(config.width),
                 "data: " + std::to_string(images) + " images of " + std::to_string(config.channels) + "x" +
                     std::to_string(config.height) + "x" + std::to_string(config.width) + " decoded",
                 "use fewer classes (data.num_classes) or smaller images, or free memory "
                 "(ENGINE_MEMORY_LIMIT_MB overrides the figure)");
  std::optional<DecodedSplits> splits;
  std::string key, cache_path;
  if (config.cache && !config.cache_dir.empty()) {
    key = cache_key(config, files, test);
    cache_path = cache_file(config.cache_dir, key);
    splits = read_cache(cache_path, key, files.fingerprint, config.channels);
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
