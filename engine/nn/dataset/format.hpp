#pragma once
// The seam between a data format and the shared pipeline (data.hpp). A format only lists: which
// classes a root offers, and the (file, label) items of each split for the classes chosen.
// Adding a format is one file that returns a Format, plus one line in formats.cpp.
#include <filesystem>
#include <string>
#include <vector>

#include "engine/nn/dataset/data.hpp"
#include "engine/nn/dataset/decode.hpp"

namespace engine::data {

// What a format lists for the chosen classes (labels index into them).
struct Listing {
  std::vector<std::string> names, full_names;  ///< per class; empty: the class ids
  FileList train;                              ///< any order: the pipeline sorts each class's files
  FileList val;                                ///< used only when has_val
  FileList test;                               ///< in the format's order; empty with TestSplit::Skip
  bool has_val = false;                        ///< false: val is a seeded split of train (data.val_fraction)
  std::vector<std::string> index_files;        ///< files besides the images whose change stales the cache
};

struct Format {
  std::string name;          ///< the value of data.format
  std::string layout;        ///< what a root of this format holds, for messages
  std::string classes_from;  ///< the file or folder under the root that names the classes
  bool (*matches)(const std::filesystem::path& root);
  std::vector<std::string> (*classes)(const std::filesystem::path& root);  ///< all of them, sorted
  Listing (*list)(const std::filesystem::path& root, const std::vector<std::string>& classes, TestSplit test);
  /// Null: the items are image files, decoded (decode_images). Otherwise the format reads its own
  /// items' pixels (CIFAR's records), with decode_images' signature and contract.
  DecodedImages (*pixels)(const std::vector<std::string>& items, int channels, int height, int width,
                          bool resize) = nullptr;
};

// Every format, in detection order (formats.cpp).
const std::vector<Format>& data_formats();

// The formats, one function each (tiny_imagenet.cpp, image_folder.cpp, ...).
Format tiny_imagenet_format();
Format image_folder_format();
Format cifar_binary_format();

// Shared by the formats: a file name with an extension the decoder reads (case-blind).
bool is_image_file(const std::filesystem::path& path);
// 'path', quoted for messages.
std::string path_in_quotes(const std::filesystem::path& path);
// `text` without leading and trailing white space.
std::string trimmed(const std::string& text);

}  // namespace engine::data
