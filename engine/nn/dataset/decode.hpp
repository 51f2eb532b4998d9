#pragma once
// Decodes image files into one uint8 N x C x H x W tensor (RGB planes, or one grey plane), in parallel.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace engine::data {

struct DecodedImages {
  torch::Tensor images;  ///< uint8 N x C x H x W; rows of corrupt files are undefined
  std::vector<std::array<uint64_t, 6>>
      pixel_sums;               ///< per image: sum of each channel [0, C), of its squares [3, 3 + C)
  std::vector<size_t> corrupt;  ///< indices of files that could not be decoded, ascending
};

// `channels` is 3 (colour; grey files give three equal planes) or 1 (grey; colour files are
// converted, ITU-R BT.601 weights as OpenCV uses them). Files not H x W are resized with
// cv::INTER_AREA when `resize`, else a UserError names them. Corrupt files are only reported
// back: the caller decides whether that is an error.
DecodedImages decode_images(const std::vector<std::string>& files, int channels, int height, int width, bool resize);

// One image held as 3 planes (R, G, B) of source_height x source_width, converted to `channels`
// planes of height x width as decode_images converts a file (a CIFAR record); its sums as there.
void convert_planes(const uint8_t* rgb, int source_height, int source_width, int channels, int height, int width,
                    uint8_t* planes, std::array<uint64_t, 6>& sums);

}  // namespace engine::data
