// Tiny ImageNet in its official layout:
//   root/wnids.txt, root/words.txt, root/train/<wnid>/images/*.JPEG,
//   root/val/images/*.JPEG + root/val/val_annotations.txt (file, wnid, box).
// It has no val split of its own: `val` is the pipeline's seeded split of the train folders, and
// `test` is the official val set restricted to the chosen classes.
#include <fstream>
#include <sstream>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "engine/core/error.hpp"
#include "engine/nn/dataset/format.hpp"

namespace engine::data {
namespace {

namespace fs = std::filesystem;

// Either index file will do, so that a root missing the other is refused as a broken Tiny ImageNet.
bool is_tiny_imagenet(const fs::path& root) {
  return fs::is_regular_file(root / "wnids.txt") || fs::is_regular_file(root / "val" / "val_annotations.txt");
}

std::vector<std::string> tiny_imagenet_classes(const fs::path& root) {
  if (!fs::is_regular_file(root / "wnids.txt"))
    throw UserError(path_in_quotes(root / "wnids.txt") + " not found: " + path_in_quotes(root) +
                    " is not a Tiny ImageNet root (wnids.txt, words.txt, train/, val/)");
  if (!fs::is_regular_file(root / "val" / "val_annotations.txt"))
    throw UserError(path_in_quotes(root / "val" / "val_annotations.txt") + " not found: the test split of " +
                    path_in_quotes(root) + " needs the official val/ folder");
  std::ifstream in(root / "wnids.txt");
  std::vector<std::string> wnids;
  for (std::string line; std::getline(in, line);)
    if (!trimmed(line).empty()) wnids.push_back(trimmed(line));
  std::sort(wnids.begin(), wnids.end());
  wnids.erase(std::unique(wnids.begin(), wnids.end()), wnids.end());
  return wnids;
}

// words.txt maps all ~82k WordNet ids to names; read only until the chosen ones are found.
std::vector<std::string> read_full_names(const fs::path& root, const std::vector<std::string>& wnids) {
  std::unordered_map<std::string, std::string> found;
  for (const auto& wnid : wnids) found[wnid];
  std::ifstream words(root / "words.txt");
  if (!words) spdlog::warn("{} not found: classes are named by their wnids", path_in_quotes(root / "words.txt"));
  size_t missing = wnids.size();
  for (std::string line; missing > 0 && std::getline(words, line);) {
    const auto tab = line.find('\t');
    if (tab == std::string::npos) continue;
    auto it = found.find(line.substr(0, tab));
    if (it != found.end() && it->second.empty()) {
      it->second = trimmed(line.substr(tab + 1));
      --missing;
    }
  }
  std::vector<std::string> names;
  for (const auto& wnid : wnids) names.push_back(found[wnid].empty() ? wnid : found[wnid]);
  return names;
}

void list_tiny_imagenet_test(const fs::path& root, const std::vector<std::string>& wnids, Listing& out) {
  const fs::path annotations = root / "val" / "val_annotations.txt";
  out.index_files.push_back(annotations.string());
  std::unordered_map<std::string, int64_t> label_of;
  for (size_t i = 0; i < wnids.size(); ++i) label_of[wnids[i]] = int64_t(i);
  std::ifstream in(annotations);
  size_t line_number = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_number;
    if (trimmed(line).empty()) continue;
    std::istringstream fields(line);
    std::string file, wnid;
    if (!std::getline(fields, file, '\t') || !std::getline(fields, wnid, '\t'))
      throw UserError(annotations.string() + ":" + std::to_string(line_number) +
                      ": expected 'file<TAB>wnid<TAB>box', got '" + line + "'");
    const auto label = label_of.find(trimmed(wnid));
    if (label == label_of.end()) continue;
    const fs::path path = root / "val" / "images" / trimmed(file);
    if (!fs::exists(path))
      throw UserError(annotations.string() + ":" + std::to_string(line_number) + " names image '" + trimmed(file) +
                      "', but " + path_in_quotes(path) + " does not exist");
    out.test.files.push_back(path.string());
    out.test.labels.push_back(label->second);
  }
}

Listing list_tiny_imagenet(const fs::path& root, const std::vector<std::string>& wnids, TestSplit test) {
  Listing out;
  out.full_names = read_full_names(root, wnids);
  for (const auto& full : out.full_names) out.names.push_back(trimmed(full.substr(0, full.find(','))));
  for (size_t label = 0; label < wnids.size(); ++label) {
    const fs::path folder = root / "train" / wnids[label] / "images";
    if (!fs::is_directory(folder))
      throw UserError(path_in_quotes(folder) + " not found: class '" + wnids[label] + "' is listed in " +
                      path_in_quotes(root / "wnids.txt") + " but has no train images");
    const size_t before = out.train.files.size();
    for (const auto& entry : fs::directory_iterator(folder))
      if (entry.is_regular_file() && is_image_file(entry.path())) out.train.files.push_back(entry.path().string());
    if (out.train.files.size() == before)
      throw UserError(path_in_quotes(folder) + " holds no images (class '" + wnids[label] + "')");
    out.train.labels.resize(out.train.files.size(), int64_t(label));
  }
  if (test == TestSplit::Load) list_tiny_imagenet_test(root, wnids, out);
  return out;
}

}  // namespace

Format tiny_imagenet_format() {
  return {"tiny-imagenet",       "wnids.txt, words.txt, train/<wnid>/images/, val/images/ + val/val_annotations.txt",
          "wnids.txt",           is_tiny_imagenet,
          tiny_imagenet_classes, list_tiny_imagenet};
}

}  // namespace engine::data
