#pragma once
// The data of a run, whatever its format: a format (format.hpp) lists the classes and the files
// of each split; everything below it is shared and format-blind: the seeded, stratified train/val
// split when the format has no val split, decoding and resizing to [input].shape, the decoded
// cache, the train mean/std. Augmentation and batches come after (augment.hpp, batch_loader.hpp).
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "engine/core/data_config.hpp"

namespace engine::data {

// The images of one split, in a fixed order.
struct Split {
  torch::Tensor images;            ///< uint8, N x C x H x W (RGB, or one grey plane)
  torch::Tensor labels;            ///< int64, N, in 0..K-1 (index into LoadedData::wnids)
  std::vector<std::string> files;  ///< path of each image
  int64_t size() const { return images.defined() ? images.size(0) : 0; }
};

// Files and labels of one split, before decoding.
struct FileList {
  std::vector<std::string> files;
  std::vector<int64_t> labels;
};

enum class TestSplit { Load, Skip };  // training needs no test split

// Which files make up each split: everything but the pixels (cheap; no image is opened).
struct DataFiles {
  std::string root;                     ///< absolute data root
  std::string format;                   ///< the format's name ("tiny-imagenet", "imagefolder", ...)
  std::vector<std::string> wnids;       ///< the class ids, in label order (wnids, folder names)
  std::vector<std::string> names;       ///< short human name per class ("goldfish")
  std::vector<std::string> full_names;  ///< long name per class ("goldfish, Carassius auratus")
  FileList train, val, test;            ///< test is empty with TestSplit::Skip
  uint64_t fingerprint = 0;             ///< hash of the names, sizes and mtimes of every file listed
};

struct LoadedData {
  std::string format;                                 ///< as in DataFiles
  std::vector<std::string> wnids, names, full_names;  ///< as in DataFiles
  Split train, val, test;
  std::vector<double> mean, std;  ///< per channel in [0,1]: the config's, or computed on train
  bool from_cache = false;        ///< true when the pixels came from cache_dir instead of decoding
};

// Checks the values of `config` without touching the disk; throws UserError naming the key.
void check_data_config(const DataConfig& config);

// Every class the root offers, sorted. Throws UserError on a bad root.
std::vector<std::string> available_classes(const DataConfig& config);

// Resolves the format, the classes and the three splits' files. Throws UserError naming the bad path.
DataFiles list_data(const DataConfig& config, TestSplit test = TestSplit::Load);

// Lists, then decodes every image once using all cores (or reads them from config.cache_dir).
LoadedData load_data(const DataConfig& config, TestSplit test = TestSplit::Load);

}  // namespace engine::data
