#pragma once
// Batch augmentation. Random parameters are drawn per image, in a fixed order, from the caller's
// seeded generator before any pixel is touched, so a batch depends neither on the thread count
// nor on the device. The pixel work is one pass per image over uint8 memory on the CPU, where the
// decoded split lives: gather, crop, flip, colour jitter and erasing together, images in parallel.
// LibTorch's own ops for these (index_select, constant_pad_nd, flip, a clamp per step) each make
// a full pass and allocate, which costs several times more per batch.
#include <cstdint>
#include <random>
#include <vector>

#include <torch/torch.h>

#include "engine/core/data_config.hpp"

namespace engine::data {

// Throws UserError for values out of range (negative padding, erasing outside [0, 1], ...).
void check_augment(const AugmentConfig& augment);

// Rows `rows` of `images` (uint8 N x C x H x W, C 3 (RGB) or 1 (grey), CPU), each augmented as `augment` says, in this
// order:
//  - crop_padding p: a random H x W crop of the image zero-padded by p on every side;
//  - flip: mirrored left-right with probability 0.5;
//  - jitter j: brightness, contrast and saturation factors drawn in [max(0, 1 - j), 1 + j]. All
//    three are linear, so they are applied as one 3x3 colour matrix, rounded and clamped once
//    (grey: brightness and contrast, from the same draws);
//  - erasing q: with probability q one rectangle (2-33% of the area, aspect ratio 0.3-3.3, as
//    torchvision's RandomErasing) is filled with the mean colour, which normalises to 0.
// out_type kFloat32: then normalised, (x / 255 - mean) / std, in the same pass (CPU batches);
// kUInt8: as is, for normalise() on another device. Without augmentation this is a plain gather.
// Empty mean/std mean 0 and 1. `keep` [begin, end) (end -1: all): only those of `rows` are made,
// with the draws of all of them, so a rank's slice of a global batch gets the same pixels.
torch::Tensor augment_batch(const torch::Tensor& images, const std::vector<int64_t>& rows, const AugmentConfig& augment,
                            const std::vector<double>& mean, const std::vector<double>& std, std::mt19937_64& rng,
                            torch::ScalarType out_type = torch::kFloat32, std::pair<int64_t, int64_t> keep = {0, -1});

// uint8 N x C x H x W -> float32 (x / 255 - mean) / std, with tensor ops on the images' device.
torch::Tensor normalise(const torch::Tensor& images, const std::vector<double>& mean, const std::vector<double>& std);
// The same with the per-channel factors already on the device (normalisation_factors), so a
// batch uploads nothing but its pixels.
torch::Tensor normalise(const torch::Tensor& images, const torch::Tensor& scale, const torch::Tensor& shift);
// {scale, shift}: 1 x C x 1 x 1 float32 tensors on `device` with x * scale + shift = (x / 255 - mean) / std.
std::pair<torch::Tensor, torch::Tensor> normalisation_factors(const std::vector<double>& mean,
                                                              const std::vector<double>& std, int64_t channels,
                                                              torch::Device device);

}  // namespace engine::data
