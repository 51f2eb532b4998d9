// CIFAR-10/100 in their binary version: fixed-size records (label bytes, then 32x32 R, G, B planes).
//   CIFAR-10:  batches.meta.txt (class names), data_batch_1..5.bin, test_batch.bin; 1 label byte
//   CIFAR-100: fine_label_names.txt, train.bin, test.bin; 2 label bytes (coarse, fine: we use fine)
// An item's source is "FILE#RECORD"; the records are copied into the decoded splits, no image
// decoding. No val split of its own: the pipeline splits val off train.
#include <algorithm>
#include <cstdio>
#include <fstream>

#include "engine/core/error.hpp"
#include "engine/nn/dataset/decode.hpp"
#include "engine/nn/dataset/format.hpp"

namespace engine::data {
namespace {

namespace fs = std::filesystem;

constexpr int kCifarSide = 32;
constexpr size_t kCifarPixels = 3 * kCifarSide * kCifarSide;

struct CifarLayout {
  std::string names;                     // the class-name file
  std::vector<std::string> train, test;  // batch files
  size_t label_bytes = 1, label_at = 0;  // which label byte is the class
  size_t record() const { return label_bytes + kCifarPixels; }
};

CifarLayout cifar_layout(const fs::path& root) {
  CifarLayout layout;
  if (fs::is_regular_file(root / "fine_label_names.txt")) {
    layout = {"fine_label_names.txt", {"train.bin"}, {"test.bin"}, 2, 1};
  } else {
    layout.names = "batches.meta.txt";
    for (int i = 1; i <= 5; ++i)
      if (fs::exists(root / ("data_batch_" + std::to_string(i) + ".bin")))
        layout.train.push_back("data_batch_" + std::to_string(i) + ".bin");
    layout.test = {"test_batch.bin"};
  }
  return layout;
}

bool is_cifar_binary(const fs::path& root) {
  return fs::is_regular_file(root / "batches.meta.txt") || fs::is_regular_file(root / "fine_label_names.txt");
}

// The class names in label order (the label byte indexes them).
std::vector<std::string> cifar_names(const fs::path& root) {
  const fs::path file = root / cifar_layout(root).names;
  std::ifstream in(file);
  std::vector<std::string> names;
  for (std::string line; std::getline(in, line);)
    if (!trimmed(line).empty()) names.push_back(trimmed(line));
  if (names.empty())
    throw UserError(path_in_quotes(file) + " names no classes; it should hold one class name per line");
  return names;
}

std::vector<std::string> cifar_classes(const fs::path& root) {
  std::vector<std::string> names = cifar_names(root);
  std::sort(names.begin(), names.end());
  return names;
}

// Every record of `file` whose class is chosen, as "FILE#RECORD" items.
void list_batch(const fs::path& file, const CifarLayout& layout, const std::vector<std::string>& names,
                const std::vector<std::string>& chosen, FileList& out) {
  if (!fs::is_regular_file(file))
    throw UserError(path_in_quotes(file) + " not found: a CIFAR binary root holds " +
                    (layout.label_bytes == 1 ? "data_batch_1.bin to data_batch_5.bin and test_batch.bin"
                                             : "train.bin and test.bin") +
                    "; fetch the binary version again");
  const auto size = fs::file_size(file);
  if (size == 0 || size % layout.record() != 0)
    throw UserError(path_in_quotes(file) + " is " + std::to_string(size) + " bytes, not a whole number of " +
                    std::to_string(layout.record()) + "-byte CIFAR records: it is truncated or not a CIFAR " +
                    (layout.label_bytes == 1 ? "10" : "100") + " batch; fetch it again");
  std::vector<int64_t> label_of(names.size(), -1);  // file label -> chosen label
  for (size_t i = 0; i < chosen.size(); ++i)
    label_of[size_t(std::find(names.begin(), names.end(), chosen[i]) - names.begin())] = int64_t(i);
  std::ifstream in(file, std::ios::binary);
  std::vector<char> record(layout.record());
  for (size_t r = 0; r < size / layout.record(); ++r) {
    in.read(record.data(), std::streamsize(record.size()));
    const auto label = size_t(uint8_t(record[layout.label_at]));
    if (label >= names.size())
      throw UserError(path_in_quotes(file) + " record " + std::to_string(r) + " has label " + std::to_string(label) +
                      ", but " + path_in_quotes(file.parent_path() / layout.names) + " names only " +
                      std::to_string(names.size()) + " classes");
    if (label_of[label] < 0) continue;
    char index[24];
    std::snprintf(index, sizeof index, "#%06zu", r);  // zero-padded: sorting the names keeps file order
    out.files.push_back(file.string() + index);
    out.labels.push_back(label_of[label]);
  }
}

Listing list_cifar_binary(const fs::path& root, const std::vector<std::string>& chosen, TestSplit test) {
  const CifarLayout layout = cifar_layout(root);
  const std::vector<std::string> names = cifar_names(root);
  Listing out;
  if (layout.train.empty())
    throw UserError(path_in_quotes(root / "data_batch_1.bin") +
                    " not found: a CIFAR-10 root holds data_batch_1.bin to "
                    "data_batch_5.bin and test_batch.bin");
  for (const auto& file : layout.train) {
    list_batch(root / file, layout, names, chosen, out.train);
    out.index_files.push_back((root / file).string());
  }
  if (test == TestSplit::Load)
    for (const auto& file : layout.test) {
      list_batch(root / file, layout, names, chosen, out.test);
      out.index_files.push_back((root / file).string());
    }
  return out;
}

// The records, copied (or converted to the input's shape as decode_images converts files).
DecodedImages read_cifar_records(const std::vector<std::string>& sources, int channels, int height, int width,
                                 bool resize) {
  if ((height != kCifarSide || width != kCifarSide) && !resize)
    throw UserError("CIFAR images are 32x32, not the graph's " + std::to_string(width) + "x" + std::to_string(height) +
                    "; set [input] shape to [" + std::to_string(channels) + ", 32, 32] or data.resize = true");
  DecodedImages out;
  out.images = torch::empty({int64_t(sources.size()), channels, height, width}, torch::kUInt8);
  out.pixel_sums.assign(sources.size(), {});
  uint8_t* base = out.images.data_ptr<uint8_t>();
  const size_t image_bytes = size_t(channels) * height * width;
  std::string open_file;
  std::ifstream in;
  size_t record_size = 0, label_bytes = 0;
  std::vector<uint8_t> record;
  for (size_t i = 0; i < sources.size(); ++i) {
    const size_t hash = sources[i].rfind('#');
    const std::string file = sources[i].substr(0, hash);
    if (file != open_file) {
      const CifarLayout layout = cifar_layout(fs::path(file).parent_path());
      label_bytes = layout.label_bytes;
      record_size = layout.record();
      record.resize(kCifarPixels);
      in = std::ifstream(file, std::ios::binary);
      open_file = file;
    }
    const auto index = std::stoull(sources[i].substr(hash + 1));
    in.seekg(std::streamoff(index * record_size + label_bytes));
    if (!in.read(reinterpret_cast<char*>(record.data()), std::streamsize(kCifarPixels))) {
      out.corrupt.push_back(i);
      in.clear();
      continue;
    }
    convert_planes(record.data(), kCifarSide, kCifarSide, channels, height, width, base + i * image_bytes,
                   out.pixel_sums[i]);
  }
  return out;
}

}  // namespace

Format cifar_binary_format() {
  return {"cifar-binary",
          "batches.meta.txt + data_batch_1..5.bin + test_batch.bin (CIFAR-10), or "
          "fine_label_names.txt + train.bin + test.bin (CIFAR-100)",
          "batches.meta.txt",
          is_cifar_binary,
          cifar_classes,
          list_cifar_binary,
          read_cifar_records};
}

}  // namespace engine::data
