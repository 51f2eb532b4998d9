#include "engine/nn/dataset/augment.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include <ATen/Parallel.h>

#include "engine/core/error.hpp"
#include "engine/nn/dataset/seeded.hpp"

namespace engine::data {
namespace {

// What happens to one image, drawn before the pixel work.
struct ImagePlan {
  int64_t row = 0;
  int top = 0, left = 0;  // crop offset inside the padded image, in [0, 2p]
  bool mirror = false;
  bool jitter = false;
  float colour[9] = {};  // x' = colour * x + shift * (mean grey of x), per pixel
  float shift = 0;
  int erase_top = 0, erase_bottom = 0, erase_left = 0, erase_right = 0;  // empty when top == bottom
};

constexpr float kLuma[3] = {0.299f, 0.587f, 0.114f};

ImagePlan draw_plan(int64_t row, const AugmentConfig& augment, int height, int width, std::mt19937_64& rng) {
  ImagePlan plan;
  plan.row = row;
  const int span = 2 * augment.crop_padding + 1;
  plan.top = augment.crop_padding > 0 ? int(uniform_below(rng, span)) : 0;
  plan.left = augment.crop_padding > 0 ? int(uniform_below(rng, span)) : 0;
  plan.mirror = augment.flip && (rng() >> 63);
  if (augment.jitter > 0) {
    // brightness b scales; contrast c blends with the mean grey g; saturation t blends with the
    // grey image: x' = c b (t I + (1 - t) 1 w^T) x + (1 - c) b g 1, with luma weights w.
    const double low = std::max(0.0, 1 - augment.jitter), high = 1 + augment.jitter;
    const double b = uniform(rng, low, high), c = uniform(rng, low, high), t = uniform(rng, low, high);
    plan.jitter = true;
    for (int out = 0; out < 3; ++out)
      for (int in = 0; in < 3; ++in)
        plan.colour[out * 3 + in] = float(c * b * ((out == in ? t : 0) + (1 - t) * kLuma[in]));
    plan.shift = float((1 - c) * b);
  }
  if (augment.erasing > 0 && uniform01(rng) < augment.erasing) {
    for (int attempt = 0; attempt < 10; ++attempt) {  // as torchvision: give up after 10 misfits
      const double area = uniform(rng, 0.02, 0.33) * height * width;
      const double ratio = std::exp(uniform(rng, std::log(0.3), std::log(3.3)));
      const int h = int(std::lround(std::sqrt(area * ratio))), w = int(std::lround(std::sqrt(area / ratio)));
      if (h >= height || w >= width) continue;
      plan.erase_top = int(uniform_below(rng, height - h + 1));
      plan.erase_left = int(uniform_below(rng, width - w + 1));
      plan.erase_bottom = plan.erase_top + h;
      plan.erase_right = plan.erase_left + w;
      break;
    }
  }
  return plan;
}

// Writes the (cropped, mirrored) image into `out`, one C x H x W block.
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__CUDACC__)
__attribute__((target_clones("avx2", "default")))  // the mirrored copy vectorises with AVX2 shuffles
#endif
void crop(const uint8_t* image, uint8_t* out, const ImagePlan& plan, int padding, int channels, int height,
          int width) {
  const int dx = plan.left - padding, dy = plan.top - padding;  // source = output + offset
  for (int c = 0; c < channels; ++c)
    for (int y = 0; y < height; ++y) {
      uint8_t* to = out + (int64_t(c) * height + y) * width;
      const int source_y = y + dy;
      if (source_y < 0 || source_y >= height) {
        std::memset(to, 0, width);
        continue;
      }
      const uint8_t* from = image + (int64_t(c) * height + source_y) * width;
      // Columns x with 0 <= x + dx < width come from the image, the rest is padding.
      const int first = std::max(0, -dx), last = std::min(width, width - dx);
      if (!plan.mirror) {
        std::memset(to, 0, first);
        std::memcpy(to + first, from + first + dx, last - first);
        std::memset(to + last, 0, width - last);
      } else {  // mirrored: output x shows crop column width - 1 - x, so the image lands in [width - last, width -
                // first)
        std::memset(to, 0, width - last);
        for (int x = width - last; x < width - first; ++x) to[x] = from[width - 1 - x + dx];
        std::memset(to + width - first, 0, first);
      }
    }
}

uint32_t plane_sum(const uint8_t* plane, int64_t pixels) {
  uint32_t sum = 0;
  for (int64_t i = 0; i < pixels; ++i) sum += plane[i];
  return sum;
}

// Written so that GCC vectorises it (restrict planes, min/max on locals): it is the costliest step.
// The build targets plain x86-64 (SSE2); target_clones adds an AVX2 copy picked at load time.
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__CUDACC__)
__attribute__((target_clones("avx2", "default")))
#endif
void jitter(uint8_t* image, const ImagePlan& plan, int64_t pixels) {
  uint8_t* __restrict r = image;
  uint8_t* __restrict g = image + pixels;
  uint8_t* __restrict b = image + 2 * pixels;
  const double grey =
      (kLuma[0] * plane_sum(r, pixels) + kLuma[1] * plane_sum(g, pixels) + kLuma[2] * plane_sum(b, pixels)) /
      double(pixels);
  const float shift = plan.shift * float(grey) + 0.5f;  // + 0.5: round when truncating
  const float m0 = plan.colour[0], m1 = plan.colour[1], m2 = plan.colour[2], m3 = plan.colour[3], m4 = plan.colour[4],
              m5 = plan.colour[5], m6 = plan.colour[6], m7 = plan.colour[7], m8 = plan.colour[8];
  for (int64_t i = 0; i < pixels; ++i) {
    const float x0 = r[i], x1 = g[i], x2 = b[i];
    r[i] = uint8_t(int(std::min(std::max(m0 * x0 + m1 * x1 + m2 * x2 + shift, 0.f), 255.f)));
    g[i] = uint8_t(int(std::min(std::max(m3 * x0 + m4 * x1 + m5 * x2 + shift, 0.f), 255.f)));
    b[i] = uint8_t(int(std::min(std::max(m6 * x0 + m7 * x1 + m8 * x2 + shift, 0.f), 255.f)));
  }
}

// One grey plane: saturation has nothing to act on, so x' = c b x + (1 - c) b g.
void jitter_grey(uint8_t* image, const ImagePlan& plan, int64_t pixels) {
  const float gain = plan.colour[0] + plan.colour[1] + plan.colour[2];  // the row sums to c b
  const float shift = plan.shift * float(plane_sum(image, pixels)) / float(pixels) + 0.5f;
  for (int64_t i = 0; i < pixels; ++i) image[i] = uint8_t(int(std::min(std::max(gain * image[i] + shift, 0.f), 255.f)));
}

void erase(uint8_t* image, const ImagePlan& plan, const uint8_t fill[3], int channels, int height, int width) {
  for (int c = 0; c < channels; ++c)
    for (int y = plan.erase_top; y < plan.erase_bottom; ++y)
      std::memset(image + (int64_t(c) * height + y) * width + plan.erase_left, fill[c],
                  plan.erase_right - plan.erase_left);
}

// (x / 255 - m) / s  =  x * (1 / (255 s)) + (-m / s), per channel.
struct Normalisation {
  float scale[3] = {}, shift[3] = {};
  Normalisation(const std::vector<double>& mean, const std::vector<double>& std, int64_t channels) {
    for (size_t c = 0; c < size_t(channels); ++c) {
      const double m = mean.empty() ? 0 : mean[c], s = std.empty() ? 1 : std[c];
      scale[c] = float(1 / (255 * s));
      shift[c] = float(-m / s);
    }
  }
};

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__CUDACC__)
__attribute__((target_clones("avx2", "default")))
#endif
void to_float(const uint8_t* image, float* out, const Normalisation& normalisation, int channels, int64_t pixels) {
  for (int c = 0; c < channels; ++c) {
    const float scale = normalisation.scale[c], shift = normalisation.shift[c];
    const uint8_t* __restrict from = image + c * pixels;
    float* __restrict to = out + c * pixels;
    for (int64_t i = 0; i < pixels; ++i) to[i] = float(from[i]) * scale + shift;
  }
}

}  // namespace

void check_augment(const AugmentConfig& augment) {
  auto fail = [](const std::string& what) { throw UserError("data.augment." + what); };
  if (augment.crop_padding < 0) fail("crop_padding must be >= 0, not " + std::to_string(augment.crop_padding));
  if (!(augment.jitter >= 0)) fail("jitter must be >= 0, not " + std::to_string(augment.jitter));
  if (!(augment.erasing >= 0 && augment.erasing <= 1))
    fail("erasing is a probability in [0, 1], not " + std::to_string(augment.erasing));
}

torch::Tensor augment_batch(const torch::Tensor& images, const std::vector<int64_t>& rows, const AugmentConfig& augment,
                            const std::vector<double>& mean, const std::vector<double>& std, std::mt19937_64& rng,
                            torch::ScalarType out_type, std::pair<int64_t, int64_t> keep) {
  TORCH_CHECK(images.device().is_cpu() && images.scalar_type() == torch::kUInt8 && images.dim() == 4 &&
                  (images.size(1) == 3 || images.size(1) == 1),
              "augment_batch: expects uint8 N x C x H x W images (C 1 or 3) on the CPU, got ", images.sizes());
  TORCH_CHECK(out_type == torch::kUInt8 || out_type == torch::kFloat32, "augment_batch: uint8 or float32 out");
  const torch::Tensor source = images.contiguous();
  const int channels = int(source.size(1)), height = int(source.size(2)), width = int(source.size(3));
  const int64_t pixels = int64_t(height) * width, image_bytes = channels * pixels;
  std::vector<ImagePlan> plans;
  plans.reserve(rows.size());
  for (int64_t row : rows) {
    TORCH_CHECK(row >= 0 && row < source.size(0), "augment_batch: row ", row, " of ", source.size(0));
    plans.push_back(draw_plan(row, augment, height, width, rng));
  }
  if (keep.second >= 0) {  // every plan is drawn, so the rng advances as for the whole batch
    TORCH_CHECK(0 <= keep.first && keep.first <= keep.second && keep.second <= int64_t(plans.size()),
                "augment_batch: keep [", keep.first, ", ", keep.second, ") of ", plans.size(), " rows");
    plans = std::vector<ImagePlan>(plans.begin() + keep.first, plans.begin() + keep.second);
  }
  uint8_t fill[3] = {};  // the mean colour, which normalises to 0
  for (size_t c = 0; c < size_t(channels); ++c)
    fill[c] = mean.empty() ? 0 : uint8_t(std::clamp(std::lround(255 * mean[c]), 0L, 255L));
  const Normalisation normalisation(mean, std, channels);

  torch::Tensor out = torch::empty({int64_t(plans.size()), channels, height, width}, out_type);
  const uint8_t* from = source.data_ptr<uint8_t>();
  at::parallel_for(0, int64_t(plans.size()), 8, [&](int64_t begin, int64_t end) {
    std::vector<uint8_t> scratch(out_type == torch::kFloat32 ? image_bytes : 0);
    for (int64_t i = begin; i < end; ++i) {
      const ImagePlan& plan = plans[i];
      uint8_t* image = out_type == torch::kUInt8 ? out.data_ptr<uint8_t>() + i * image_bytes : scratch.data();
      crop(from + plan.row * image_bytes, image, plan, augment.crop_padding, channels, height, width);
      if (plan.jitter) channels == 3 ? jitter(image, plan, pixels) : jitter_grey(image, plan, pixels);
      if (plan.erase_bottom > plan.erase_top) erase(image, plan, fill, channels, height, width);
      if (out_type == torch::kFloat32)
        to_float(image, out.data_ptr<float>() + i * image_bytes, normalisation, channels, pixels);
    }
  });
  return out;
}

torch::Tensor normalise(const torch::Tensor& images, const std::vector<double>& mean, const std::vector<double>& std) {
  // In place on the one float copy: addcmul with the broadcast channel constants as its first
  // operand takes several times longer.
  auto [scale, shift] = normalisation_factors(mean, std, images.size(1), images.device());
  return normalise(images, scale, shift);
}

torch::Tensor normalise(const torch::Tensor& images, const torch::Tensor& scale, const torch::Tensor& shift) {
  return images.to(torch::kFloat32).mul_(scale).add_(shift);
}

std::pair<torch::Tensor, torch::Tensor> normalisation_factors(const std::vector<double>& mean,
                                                              const std::vector<double>& std, int64_t channels,
                                                              torch::Device device) {
  const Normalisation normalisation(mean, std, channels);
  const auto per_channel = [&](const float* values) {
    return torch::tensor(std::vector<float>(values, values + channels), torch::kFloat32)
        .view({1, channels, 1, 1})
        .to(device);
  };
  return {per_channel(normalisation.scale), per_channel(normalisation.shift)};
}

}  // namespace engine::data
