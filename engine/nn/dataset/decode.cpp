#include "engine/nn/dataset/decode.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <thread>

#include <sys/mman.h>

#ifdef ENGINE_IMAGE_STB
#include "engine/nn/dataset/stb_codec.hpp"
#else
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

#include "engine/core/error.hpp"

namespace engine::data {
namespace {

using uchar = unsigned char;

std::vector<uchar> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return {};
  std::vector<uchar> bytes(static_cast<size_t>(in.tellg()));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!in) return {};
  return bytes;
}

// libjpeg decodes a truncated JPEG "successfully" (grey bottom rows and a warning on stderr),
// so a JPEG must end with its end-of-image marker to count as whole.
bool is_truncated_jpeg(const std::vector<uchar>& bytes) {
  const bool jpeg = bytes.size() >= 2 && bytes[0] == 0xFF && bytes[1] == 0xD8;
  if (!jpeg) return false;
  size_t end = bytes.size();
  while (end > 2 && bytes[end - 1] == 0) --end;  // some writers pad with zeros
  return end < 4 || bytes[end - 2] != 0xFF || bytes[end - 1] != 0xD9;
}

enum class Outcome : uint8_t { ok, corrupt, wrong_size };

struct Result {
  Outcome outcome = Outcome::ok;
  int file_height = 0, file_width = 0;  // for the wrong-size message
};

void plane_sums(const uint8_t* planes, int channels, size_t plane, std::array<uint64_t, 6>& sums) {
  for (size_t c = 0; c < size_t(channels); ++c) {
    uint64_t sum = 0, squares = 0;
    for (const uint8_t* p = planes + c * plane; p != planes + (c + 1) * plane; ++p) {
      sum += *p;
      squares += uint32_t(*p) * *p;
    }
    sums[c] = sum;
    sums[3 + c] = squares;
  }
}

[[maybe_unused]] uint8_t luma(uint8_t r, uint8_t g, uint8_t b) {
  return uint8_t(std::lround(0.299 * r + 0.587 * g + 0.114 * b));
}

#ifndef ENGINE_IMAGE_STB
// An OpenCV image (BGR, or grey when channels is 1) of the final size into the tensor's planes.
void store_planes(const cv::Mat& image, int channels, uint8_t* planes) {
  const int height = image.rows, width = image.cols;
  const size_t plane = size_t(height) * width;
  if (channels == 1) {
    image.copyTo(cv::Mat(height, width, CV_8U, planes));
    return;
  }
  // Split BGR straight into the tensor's R, G, B planes: B goes to plane 2, R to plane 0.
  cv::Mat split[3] = {cv::Mat(height, width, CV_8U, planes + 2 * plane), cv::Mat(height, width, CV_8U, planes + plane),
                      cv::Mat(height, width, CV_8U, planes)};
  cv::split(image, split);
}
#endif

Result decode_one(const std::string& path, int channels, int height, int width, bool resize, uint8_t* planes,
                  std::array<uint64_t, 6>& sums) {
  const std::vector<uchar> bytes = read_bytes(path);
  if (bytes.empty() || is_truncated_jpeg(bytes)) return {Outcome::corrupt};
  const size_t plane = static_cast<size_t>(height) * width;
#ifdef ENGINE_IMAGE_STB
  Result r;
  std::vector<uint8_t> rgb(channels == 3 ? 0 : 3 * plane);
  uint8_t* rgb_planes = channels == 3 ? planes : rgb.data();
  switch (stb::decode_rgb_planes(bytes.data(), bytes.size(), height, width, resize, rgb_planes, r.file_height,
                                 r.file_width)) {
    case stb::Decoded::corrupt:
      return {Outcome::corrupt};
    case stb::Decoded::wrong_size:
      return {Outcome::wrong_size, r.file_height, r.file_width};
    case stb::Decoded::ok:
      break;
  }
  if (channels == 1)
    for (size_t i = 0; i < plane; ++i) planes[i] = luma(rgb[i], rgb[plane + i], rgb[2 * plane + i]);
#else
  // Grey files come back as 3 equal channels; colour files as one with IMREAD_GRAYSCALE.
  cv::Mat bgr = cv::imdecode(bytes, channels == 1 ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR);
  if (bgr.empty()) return {Outcome::corrupt};
  if (bgr.rows != height || bgr.cols != width) {
    if (!resize) return {Outcome::wrong_size, bgr.rows, bgr.cols};
    cv::Mat resized;
    cv::resize(bgr, resized, cv::Size(width, height), 0, 0, cv::INTER_AREA);
    bgr = resized;
  }
  store_planes(bgr, channels, planes);
#endif
  plane_sums(planes, channels, plane, sums);
  return {};
}

// Fresh memory faults in 4 KiB at a time, which is slow (very slow in some VMs); ask the kernel
// for 2 MiB pages for this one large buffer.
torch::Tensor empty_on_huge_pages(torch::IntArrayRef sizes) {
  constexpr size_t kHugePage = size_t(2) << 20;
  size_t bytes = 1;
  for (int64_t size : sizes) bytes *= size_t(size);
  bytes = std::max(kHugePage, (bytes + kHugePage - 1) / kHugePage * kHugePage);
  void* data = std::aligned_alloc(kHugePage, bytes);
  if (!data) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
  ::madvise(data, bytes, MADV_HUGEPAGE);  // only a hint: without it we get small pages
#endif
  return torch::from_blob(
      data, sizes, [](void* p) { std::free(p); }, torch::kUInt8);
}

}  // namespace

void convert_planes(const uint8_t* rgb, int source_height, int source_width, int channels, int height, int width,
                    uint8_t* planes, std::array<uint64_t, 6>& sums) {
  const size_t source_plane = size_t(source_height) * source_width, plane = size_t(height) * width;
  if (channels == 3 && source_height == height && source_width == width) {
    std::memcpy(planes, rgb, 3 * plane);
    plane_sums(planes, channels, plane, sums);
    return;
  }
#ifdef ENGINE_IMAGE_STB
  std::vector<uint8_t> interleaved(source_plane * size_t(channels)), resized(plane * size_t(channels));
  for (size_t i = 0; i < source_plane; ++i)
    if (channels == 1)
      interleaved[i] = luma(rgb[i], rgb[source_plane + i], rgb[2 * source_plane + i]);
    else
      for (size_t c = 0; c < 3; ++c) interleaved[3 * i + c] = rgb[c * source_plane + i];
  stb::resize_area(interleaved.data(), source_height, source_width, resized.data(), height, width, channels);
  for (size_t i = 0; i < plane; ++i)
    for (size_t c = 0; c < size_t(channels); ++c) planes[c * plane + i] = resized[i * size_t(channels) + c];
#else
  std::vector<cv::Mat> bgr_planes;
  for (int c = 2; c >= 0; --c)
    bgr_planes.emplace_back(source_height, source_width, CV_8U, const_cast<uint8_t*>(rgb) + size_t(c) * source_plane);
  cv::Mat image;
  cv::merge(bgr_planes, image);
  if (channels == 1) cv::cvtColor(image, image, cv::COLOR_BGR2GRAY);
  if (source_height != height || source_width != width)
    cv::resize(image, image, cv::Size(width, height), 0, 0, cv::INTER_AREA);
  store_planes(image, channels, planes);
#endif
  plane_sums(planes, channels, plane, sums);
}

DecodedImages decode_images(const std::vector<std::string>& files, int channels, int height, int width, bool resize) {
  const int64_t n = static_cast<int64_t>(files.size());
  DecodedImages out;
  out.images = empty_on_huge_pages({n, channels, height, width});
  out.pixel_sums.assign(files.size(), {});
  std::vector<Result> results(files.size());

  // Workers take the next file from a shared counter: decode times vary with file size.
  uint8_t* base = out.images.data_ptr<uint8_t>();
  const size_t image_bytes = size_t(channels) * height * width;
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < files.size(); i = next++)
      results[i] = decode_one(files[i], channels, height, width, resize, base + i * image_bytes, out.pixel_sums[i]);
  };
  const size_t workers = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, std::max<size_t>(files.size(), 1));
  std::vector<std::thread> threads;
  for (size_t t = 1; t < workers; ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();

  for (size_t i = 0; i < files.size(); ++i) {
    if (results[i].outcome == Outcome::wrong_size)
      throw UserError("image '" + files[i] + "' is " + std::to_string(results[i].file_width) + "x" +
                      std::to_string(results[i].file_height) + " (width x height), not the graph's " +
                      std::to_string(width) + "x" + std::to_string(height) +
                      "; set data.resize = true to resize such images");
    if (results[i].outcome == Outcome::corrupt) out.corrupt.push_back(i);
  }
  return out;
}

}  // namespace engine::data
