#pragma once
// What the graph's [data] section configures. A plain struct: the TOML binding lives with the
// graph language, so the data pipeline can be used (and tested) without it.
#include <cstdint>
#include <string>
#include <vector>

namespace engine::data {

// Train-time augmentation, applied per batch on tensors. Every field's zero value means "off".
struct AugmentConfig {
  int crop_padding = 0;  ///< random crop of HxW after zero padding by this many pixels per side (0 = off)
  bool flip = false;     ///< random horizontal flip with probability 0.5
  double jitter =
      0;  ///< colour jitter strength for brightness, contrast and saturation (factors in [1-j, 1+j]; 0 = off)
  double erasing = 0;  ///< probability of erasing one random rectangle per image (0 = off)
};

struct DataConfig {
  std::string root = "data/tiny-imagenet-200";  ///< the data folder, in one of the formats (dataset/format.hpp)
  std::string format = "auto";  ///< "tiny-imagenet", "imagefolder", ...; "auto" = detected from the root
  std::vector<std::string>
      classes;                ///< class ids to use, in label order; empty = choose num_classes of them with class_seed
  int num_classes = 10;       ///< how many classes to choose when `classes` is empty (ignored otherwise)
  uint64_t class_seed = 0;    ///< seed of the choice of classes when `classes` is empty
  double val_fraction = 0.1;  ///< fraction of each class's train images held out as the val split
  uint64_t split_seed = 0;    ///< seed of the stratified train/val split
  int channels = 3;           ///< 3: RGB, 1: grey (from the graph's input shape); sources are converted
  int height = 64;            ///< image height fed to the graph (from its input shape)
  int width = 64;             ///< image width fed to the graph (from its input shape)
  bool resize = true;  ///< resize images that are not height x width (cv::INTER_AREA); false = such images are an error
  bool skip_corrupt = false;  ///< skip undecodable images with a warning instead of failing
  bool cache = true;          ///< [data].cache: keep decoded images on disk (in cache_dir)
  std::string cache_dir;      ///< directory for the decoded-image cache; empty = no cache
  std::vector<double> mean;   ///< per-channel mean in [0,1] for normalisation; empty = computed on the train split
  std::vector<double> std;    ///< per-channel std in [0,1] for normalisation; empty = computed on the train split
  AugmentConfig augment;      ///< train-time augmentation (all off by default)
};

}  // namespace engine::data
