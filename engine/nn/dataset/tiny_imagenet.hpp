#pragma once
// Tiny ImageNet in its official layout, decoded once into memory:
//   root/wnids.txt, root/words.txt, root/train/<wnid>/images/*.JPEG,
//   root/val/images/*.JPEG + root/val/val_annotations.txt (file, wnid, box).
// Splits: `train` and `val` are a seeded, stratified split of the train folders; `test` is the
// official val set restricted to the chosen classes.
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "engine/core/data_config.hpp"

namespace engine::data {

// The images of one split, in a fixed order.
struct Split {
  torch::Tensor images;            ///< uint8, N x 3 x H x W, RGB
  torch::Tensor labels;            ///< int64, N, in 0..K-1 (index into TinyImageNet::wnids)
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
struct TinyImageNetFiles {
  std::string root;                     ///< absolute data root
  std::vector<std::string> wnids;       ///< the classes, in label order
  std::vector<std::string> names;       ///< short human name per class ("goldfish")
  std::vector<std::string> full_names;  ///< words.txt entry per class ("goldfish, Carassius auratus")
  FileList train, val, test;            ///< test is empty with TestSplit::Skip
  uint64_t fingerprint = 0;             ///< hash of the names, sizes and mtimes of every file listed
};

struct TinyImageNet {
  std::vector<std::string> wnids, names, full_names;  ///< as in TinyImageNetFiles
  Split train, val, test;
  std::vector<double> mean, std;  ///< per RGB channel in [0,1]: the config's, or computed on train
  bool from_cache = false;        ///< true when the pixels came from cache_dir instead of decoding
};

// Checks the values of `config` without touching the disk; throws UserError naming the key.
void check_data_config(const DataConfig& config);

// The wnids listed in root/wnids.txt, sorted. Throws UserError on a bad root.
std::vector<std::string> available_wnids(const std::string& root);

// Resolves the classes and the three splits' files. Throws UserError naming the bad path.
TinyImageNetFiles list_tiny_imagenet(const DataConfig& config, TestSplit test = TestSplit::Load);

// Lists, then decodes every image once using all cores (or reads them from config.cache_dir).
TinyImageNet load_tiny_imagenet(const DataConfig& config, TestSplit test = TestSplit::Load);

}  // namespace engine::data
