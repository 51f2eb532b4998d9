#pragma once
// The lean image path (CMake ENGINE_IMAGE_BACKEND=stb, for GPU hosts without OpenCV): decoding
// with stb_image (Debian: libstb-dev, single headers) and OpenCV's INTER_AREA resize
// re-implemented, so that both paths feed the network nearly the same pixels. Measured against
// OpenCV 4.6 (libjpeg-turbo) in tests/test_stb.cpp: the resize is bit-identical to INTER_AREA
// (shrinking by integer and fractional factors, enlarging); JPEG decoding differs in 6.7% of the
// values of 200 Tiny ImageNet images, by 0.087 levels on average and 3 at most (the two IDCTs
// round differently). Torch-free.
#include <cstddef>
#include <cstdint>

namespace engine::data::stb {

enum class Decoded { ok, corrupt, wrong_size };

// Decodes a JPEG, PNG or BMP held in memory into 3 planes of height x width (R, G, B), grey
// images as three equal planes. A file of another size is resized (resize_area) when `resize`,
// else wrong_size with its size in file_height and file_width.
Decoded decode_rgb_planes(const uint8_t* bytes, size_t size, int height, int width, bool resize, uint8_t* rgb_planes,
                          int& file_height, int& file_width);

// cv::resize(src, dst, {dw, dh}, 0, 0, cv::INTER_AREA) for interleaved 8-bit images with
// `channels` channels: the area average when shrinking in both directions, else OpenCV's
// bilinear with INTER_AREA's coefficients (pixels replicated, blended only at their borders).
void resize_area(const uint8_t* src, int sh, int sw, uint8_t* dst, int dh, int dw, int channels);

}  // namespace engine::data::stb
