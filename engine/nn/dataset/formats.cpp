#include "engine/nn/dataset/format.hpp"

namespace engine::data {

// Detection tries them in this order: the first whose root matches wins.
const std::vector<Format>& data_formats() {
  static const std::vector<Format> formats{
      tiny_imagenet_format(),
      image_folder_format(),
      cifar_binary_format(),
  };
  return formats;
}

}  // namespace engine::data
