#include "engine/nn/dataset/cache.hpp"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string_view>

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/core/files.hpp"

// Layout (native byte order; the cache is a local file, never shared between machines):
//   "ENGDATA" 0, u32 version, u32 key length, key, u64 fingerprint,
//   body: C+C doubles (train mean, std; C channels, said by the key), then per split (train, val, test):
//         i64 n, h, w; u64 name bytes; names joined by '\0'; n int64 labels; n*C*h*w uint8 pixels
//         (labels and pixels start at multiples of 64 bytes, zero padding before them),
//   u64 checksum of the body (padding excluded).
// Reading maps the file instead of copying it: the tensors point into the page cache, so a load
// costs no fresh memory (slow to fault in, notably in VMs). Writers replace the file by rename,
// never in place, so a file mapped by a running process never changes under it.
namespace engine::data {
namespace {

namespace fs = std::filesystem;
constexpr char kMagic[8] = {'E', 'N', 'G', 'D', 'A', 'T', 'A', '\0'};
constexpr uint32_t kVersion = 2;
constexpr uint64_t kAlignment = 64;

using File = std::unique_ptr<FILE, int (*)(FILE*)>;

class Writer {
 public:
  explicit Writer(FILE* file) : file_(file) {}
  void header(const void* data, size_t size) {
    ok_ = ok_ && std::fwrite(data, 1, size, file_) == size;
    offset_ += size;
  }
  void body(const void* data, size_t size) {
    header(data, size);
    checksum_ = mix_seed({checksum_, hash_bytes(data, size)});
  }
  template <class T>
  void body_value(T value) {
    body(&value, sizeof value);
  }
  void align() {
    static const char zeros[kAlignment] = {};
    header(zeros, (kAlignment - offset_ % kAlignment) % kAlignment);
  }
  uint64_t checksum() const { return checksum_; }
  bool ok() const { return ok_; }

 private:
  FILE* file_;
  bool ok_ = true;
  uint64_t offset_ = 0, checksum_ = 0;
};

// A read-only file mapped into memory; tensors made from it keep it alive.
struct Mapping {
  uint8_t* data = nullptr;
  uint64_t size = 0;
  ~Mapping() {
    if (data) ::munmap(data, size);
  }
};

// Walks the mapped file; every take() is bounds-checked, so a truncated file is noticed, not read past.
class Cursor {
 public:
  explicit Cursor(std::shared_ptr<Mapping> mapping) : mapping_(std::move(mapping)) {}
  uint8_t* take(uint64_t size) {
    if (size > left()) return nullptr;
    uint8_t* at = mapping_->data + offset_;
    offset_ += size;
    return at;
  }
  bool header(void* data, size_t size) {
    const uint8_t* at = take(size);
    if (at) std::memcpy(data, at, size);
    return at != nullptr;
  }
  uint8_t* body(uint64_t size) {
    uint8_t* at = take(size);
    if (at) checksum_ = mix_seed({checksum_, hash_bytes(at, size)});
    return at;
  }
  template <class T>
  bool body_value(T& value) {
    const uint8_t* at = body(sizeof value);
    if (at) std::memcpy(&value, at, sizeof value);
    return at != nullptr;
  }
  bool align() { return take((kAlignment - offset_ % kAlignment) % kAlignment) != nullptr; }
  uint64_t left() const { return mapping_->size - offset_; }
  uint64_t checksum() const { return checksum_; }
  torch::Tensor tensor(uint8_t* data, torch::IntArrayRef sizes, torch::ScalarType type) const {
    return torch::from_blob(
        data, sizes, [keep = mapping_](void*) {}, torch::TensorOptions().dtype(type));
  }

 private:
  std::shared_ptr<Mapping> mapping_;
  uint64_t offset_ = 0, checksum_ = 0;
};

void write_split(Writer& out, const Split& split) {
  const torch::Tensor images = split.images.contiguous();
  const torch::Tensor labels = split.labels.contiguous();
  out.body_value<int64_t>(images.size(0));
  out.body_value<int64_t>(images.size(2));
  out.body_value<int64_t>(images.size(3));
  std::string names;
  for (const auto& file : split.files) names += file + '\0';
  out.body_value<uint64_t>(names.size());
  out.body(names.data(), names.size());
  out.align();
  out.body(labels.data_ptr<int64_t>(), labels.numel() * sizeof(int64_t));
  out.align();
  out.body(images.data_ptr<uint8_t>(), images.numel());
}

// Empty optional: truncated (the sizes read promise more bytes than the file holds).
std::optional<Split> read_split(Cursor& in, int64_t channels) {
  int64_t n = 0, h = 0, w = 0;
  uint64_t name_bytes = 0;
  if (!in.body_value(n) || !in.body_value(h) || !in.body_value(w) || !in.body_value(name_bytes)) return {};
  if (n < 0 || h <= 0 || w <= 0 || name_bytes > in.left() ||
      uint64_t(n) * (sizeof(int64_t) + uint64_t(channels) * uint64_t(h) * uint64_t(w)) > in.left() - name_bytes)
    return {};
  const uint8_t* names = in.body(name_bytes);
  uint8_t* labels = in.align() ? in.body(uint64_t(n) * sizeof(int64_t)) : nullptr;
  uint8_t* images = in.align() ? in.body(uint64_t(n) * uint64_t(channels) * h * w) : nullptr;
  if (!names || !labels || !images) return {};
  Split split;
  split.labels = in.tensor(labels, {n}, torch::kInt64);
  split.images = in.tensor(images, {n, channels, h, w}, torch::kUInt8);
  const std::string_view all(reinterpret_cast<const char*>(names), name_bytes);
  for (size_t start = 0, end; (end = all.find('\0', start)) != std::string_view::npos; start = end + 1)
    split.files.emplace_back(all.substr(start, end - start));
  if (split.files.size() != size_t(n)) return {};
  return split;
}

}  // namespace

std::string cache_file(const std::string& cache_dir, const std::string& key) {
  return (fs::path(cache_dir) / ("tiny-imagenet-" + hex64(hash_string(key)) + ".bin")).string();
}

std::optional<DecodedSplits> read_cache(const std::string& path, const std::string& key, uint64_t fingerprint,
                                        int channels) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    spdlog::info("data cache: no '{}' yet, decoding", path);
    return {};
  }
  auto mapping = std::make_shared<Mapping>();
  struct stat info {};
  if (::fstat(fd, &info) == 0 && info.st_size > 0) {
    // Private and writable: a tensor written to copies its page and never changes the file. No
    // MAP_POPULATE: on a writable private mapping it would copy every page up front.
    void* data = ::mmap(nullptr, size_t(info.st_size), PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (data != MAP_FAILED) {
      mapping->data = static_cast<uint8_t*>(data);
      mapping->size = uint64_t(info.st_size);
    }
  }
  ::close(fd);
  auto rebuild = [&](const std::string& why) {
    spdlog::warn("data cache: '{}' {}; rebuilding it", path, why);
    return std::nullopt;
  };
  if (!mapping->data) return rebuild("cannot be read");
  Cursor in(mapping);

  char magic[sizeof kMagic];
  uint32_t version = 0, key_size = 0;
  if (!in.header(magic, sizeof magic) || std::memcmp(magic, kMagic, sizeof kMagic) != 0 ||
      !in.header(&version, sizeof version) || version != kVersion)
    return rebuild("has a wrong header (not a cache file, or an older format)");
  if (!in.header(&key_size, sizeof key_size) || key_size > in.left()) return rebuild("is truncated");
  std::string stored_key(key_size, '\0');
  uint64_t stored_fingerprint = 0;
  if (!in.header(stored_key.data(), key_size) || !in.header(&stored_fingerprint, sizeof stored_fingerprint))
    return rebuild("is truncated");
  if (stored_key != key) return rebuild("was made for other data settings");
  if (stored_fingerprint != fingerprint) return rebuild("is stale: the image files changed since it was written");

  DecodedSplits splits;
  splits.train_mean.resize(size_t(channels));
  splits.train_std.resize(size_t(channels));
  for (auto* stats : {&splits.train_mean, &splits.train_std})
    for (double& value : *stats)
      if (!in.body_value(value)) return rebuild("is truncated");
  for (Split* split : {&splits.train, &splits.val, &splits.test}) {
    auto read = read_split(in, channels);
    if (!read) return rebuild("is truncated");
    *split = std::move(*read);
  }
  const uint64_t computed = in.checksum();
  uint64_t stored_checksum = 0;
  if (!in.header(&stored_checksum, sizeof stored_checksum)) return rebuild("is truncated");
  if (stored_checksum != computed) return rebuild("is corrupt (checksum mismatch)");
  if (in.left() != 0) return rebuild("has trailing bytes");
  return splits;
}

void write_cache(const std::string& path, const std::string& key, uint64_t fingerprint, const DecodedSplits& splits) {
  std::error_code error;
  fs::create_directories(fs::path(path).parent_path(), error);
  const std::string temp = path + ".tmp-" + std::to_string(::getpid());
  bool ok = false;
  if (File file{std::fopen(temp.c_str(), "wb"), &std::fclose}) {
    Writer out(file.get());
    const auto key_size = static_cast<uint32_t>(key.size());
    out.header(kMagic, sizeof kMagic);
    out.header(&kVersion, sizeof kVersion);
    out.header(&key_size, sizeof key_size);
    out.header(key.data(), key.size());
    out.header(&fingerprint, sizeof fingerprint);
    for (const auto* stats : {&splits.train_mean, &splits.train_std})
      for (double value : *stats) out.body_value(value);
    for (const Split* split : {&splits.train, &splits.val, &splits.test}) write_split(out, *split);
    const uint64_t checksum = out.checksum();
    out.header(&checksum, sizeof checksum);
    ok = out.ok() && std::fflush(file.get()) == 0;
  }
  std::error_code rename_error;
  if (ok) fs::rename(temp, path, rename_error);
  if (!ok || rename_error) {
    fs::remove(temp, error);
    spdlog::warn("data cache: could not write '{}'; the next run decodes again", path);
    return;
  }
  spdlog::info("data cache: wrote '{}'", path);
}

}  // namespace engine::data
