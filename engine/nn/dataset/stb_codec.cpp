#include "engine/nn/dataset/stb_codec.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_NO_STDIO
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>

namespace engine::data::stb {

namespace {
struct Weight {
  int source;
  float weight;
};

// OpenCV's computeResizeAreaTab: the source pixels that output pixel d covers, each weighted by
// the part of it that lies inside d's footprint [d s, (d + 1) s).
std::vector<std::vector<Weight>> area_weights(int source_size, int size) {
  const double scale = double(source_size) / size;
  std::vector<std::vector<Weight>> out(size);
  for (int d = 0; d < size; ++d) {
    const double from = d * scale, to = from + scale, cell = std::min(scale, source_size - from);
    int first = int(std::ceil(from)), last = std::min(int(std::floor(to)), source_size - 1);
    first = std::min(first, last);
    if (first - from > 1e-3) out[d].push_back({first - 1, float((first - from) / cell)});
    for (int s = first; s < last; ++s) out[d].push_back({s, float(1.0 / cell)});
    if (to - last > 1e-3) out[d].push_back({last, float(std::min(std::min(to - last, 1.0), cell) / cell)});
  }
  return out;
}

// OpenCV's linear coefficients in INTER_AREA mode, as 11-bit fixed point: source pixel s, and
// the weights of s and s + 1.
struct Linear {
  int source;
  int w0, w1;
};
std::vector<Linear> linear_weights(int source_size, int size) {
  const double scale = double(source_size) / size, inverse = double(size) / source_size;
  std::vector<Linear> out(size);
  for (int d = 0; d < size; ++d) {
    int s = int(std::floor(d * scale));
    float f = float((d + 1) - (s + 1) * inverse);
    f = f <= 0 ? 0.f : f - std::floor(f);
    if (s >= source_size - 1) s = source_size - 1, f = 0;
    out[d] = {s, int(std::lrint((1.f - f) * 2048)), int(std::lrint(f * 2048))};
  }
  return out;
}
}  // namespace

// OpenCV's arithmetic is followed step by step (float sums, its rounding, its fixed point), so
// that the two paths agree to the level in all but a few rounding ties.
void resize_area(const uint8_t* src, int sh, int sw, uint8_t* dst, int dh, int dw, int channels) {
  if (sh == dh && sw == dw) {
    std::memcpy(dst, src, size_t(sh) * sw * channels);
    return;
  }
  const int cn = channels;
  auto at = [&](int y, int x, int c) { return int(src[(size_t(y) * sw + x) * cn + c]); };
  auto out = [&](int y, int x, int c) -> uint8_t& { return dst[(size_t(y) * dw + x) * cn + c]; };
  if (sh >= dh && sw >= dw && sh % dh == 0 && sw % dw == 0) {  // integer factors: block averages
    const int fy = sh / dh, fx = sw / dw, area = fy * fx;
    const float scale = 1.f / area;
    for (int y = 0; y < dh; ++y)
      for (int x = 0; x < dw; ++x)
        for (int c = 0; c < cn; ++c) {
          int sum = 0;
          for (int i = 0; i < fy; ++i)
            for (int j = 0; j < fx; ++j) sum += at(y * fy + i, x * fx + j, c);
          // 2 x 2 goes through OpenCV's vector code, which rounds halves up.
          out(y, x, c) =
              uint8_t(area == 4 && fy == 2 ? (sum + 2) >> 2 : std::clamp(int(std::lrint(sum * scale)), 0, 255));
        }
    return;
  }
  if (sh >= dh && sw >= dw) {  // shrinking: area averages, summed in float row by row
    const auto rows = area_weights(sh, dh), cols = area_weights(sw, dw);
    std::vector<float> buf(size_t(dw) * cn), sum(size_t(dw) * cn);
    for (int y = 0; y < dh; ++y) {
      std::fill(sum.begin(), sum.end(), 0.f);
      for (const Weight& r : rows[y]) {
        std::fill(buf.begin(), buf.end(), 0.f);
        for (int x = 0; x < dw; ++x)
          for (const Weight& q : cols[x])
            for (int c = 0; c < cn; ++c) buf[size_t(x) * cn + c] += q.weight * float(at(r.source, q.source, c));
        for (size_t i = 0; i < sum.size(); ++i) sum[i] += r.weight * buf[i];
      }
      for (int x = 0; x < dw; ++x)
        for (int c = 0; c < cn; ++c)
          out(y, x, c) = uint8_t(std::clamp(int(std::lrint(sum[size_t(x) * cn + c])), 0, 255));
    }
    return;
  }
  // Enlarging in a direction: bilinear in 11-bit fixed point, rows then columns, as OpenCV's
  // HResizeLinear and its vectorised VResizeLinear for 8-bit images.
  const auto rows = linear_weights(sh, dh), cols = linear_weights(sw, dw);
  auto row_at = [&](int sy, int x, int c) {
    const Linear& q = cols[x];
    return at(sy, q.source, c) * q.w0 + at(sy, std::min(q.source + 1, sw - 1), c) * q.w1;
  };
  for (int y = 0; y < dh; ++y) {
    const Linear& r = rows[y];
    const int y1 = std::min(r.source + 1, sh - 1);
    for (int x = 0; x < dw; ++x)
      for (int c = 0; c < cn; ++c) {
        const int h0 = row_at(r.source, x, c), h1 = row_at(y1, x, c);
        const int v = (((r.w0 * (h0 >> 4)) >> 16) + ((r.w1 * (h1 >> 4)) >> 16) + 2) >> 2;
        out(y, x, c) = uint8_t(std::clamp(v, 0, 255));
      }
  }
}

Decoded decode_rgb_planes(const uint8_t* bytes, size_t size, int height, int width, bool resize, uint8_t* rgb_planes,
                          int& file_height, int& file_width) {
  int w = 0, h = 0, channels = 0;
  std::unique_ptr<uint8_t, void (*)(void*)> rgb(stbi_load_from_memory(bytes, int(size), &w, &h, &channels, 3),
                                                [](void* p) { stbi_image_free(p); });
  if (!rgb) return Decoded::corrupt;
  file_height = h, file_width = w;
  std::vector<uint8_t> resized;
  const uint8_t* pixels = rgb.get();
  if (h != height || w != width) {
    if (!resize) return Decoded::wrong_size;
    resized.resize(size_t(height) * width * 3);
    resize_area(rgb.get(), h, w, resized.data(), height, width, 3);
    pixels = resized.data();
  }
  const size_t plane = size_t(height) * width;
  for (size_t i = 0; i < plane; ++i)
    for (size_t c = 0; c < 3; ++c) rgb_planes[c * plane + i] = pixels[3 * i + c];
  return Decoded::ok;
}

}  // namespace engine::data::stb
