#pragma once
// Decodes image files into one uint8 N x 3 x H x W RGB tensor, in parallel.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace engine::data {

struct DecodedImages {
  torch::Tensor images;                             ///< uint8 N x 3 x H x W; rows of corrupt files are undefined
  std::vector<std::array<uint64_t, 6>> pixel_sums;  ///< per image: sum of R, G, B, then of their squares
  std::vector<size_t> corrupt;                      ///< indices of files that could not be decoded, ascending
};

// Files not H x W are resized with cv::INTER_AREA when `resize`, else a UserError names them.
// Corrupt files are only reported back: the caller decides whether that is an error.
DecodedImages decode_images(const std::vector<std::string>& files, int height, int width, bool resize);

}  // namespace engine::data
