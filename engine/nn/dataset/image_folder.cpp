// torchvision's ImageFolder convention: root/train/<class>/<image>, optional root/val/<class>/
// and root/test/<class>/. Classes are the train folders, sorted by name; without val/ the
// pipeline splits val off train. Files that are not images, and anything in subfolders of a
// class folder, are ignored and counted.
#include <spdlog/spdlog.h>

#include "engine/core/error.hpp"
#include "engine/core/spec.hpp"
#include "engine/nn/dataset/format.hpp"

namespace engine::data {
namespace {

namespace fs = std::filesystem;

bool is_image_folder(const fs::path& root) { return fs::is_directory(root / "train"); }

std::vector<std::string> subfolders(const fs::path& folder) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(folder))
    if (entry.is_directory()) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> image_folder_classes(const fs::path& root) {
  std::vector<std::string> classes = subfolders(root / "train");
  if (classes.empty())
    throw UserError(path_in_quotes(root / "train") + " holds no class folders; put each class's images in " +
                    path_in_quotes(root / "train" / "<class>"));
  return classes;
}

struct Ignored {
  size_t count = 0;
  std::string first;
  void add(const fs::path& path) {
    if (count++ == 0) first = path.string();
  }
};

// The images directly in `folder`, sorted by name; everything else is counted in `ignored`.
void list_class_folder(const fs::path& folder, int64_t label, FileList& out, Ignored& ignored) {
  const size_t before = out.files.size();
  for (const auto& entry : fs::directory_iterator(folder)) {
    if (entry.is_directory()) {
      for (const auto& nested : fs::recursive_directory_iterator(entry.path()))
        if (!nested.is_directory()) ignored.add(nested.path());
    } else if (is_image_file(entry.path())) {
      out.files.push_back(entry.path().string());
      out.labels.push_back(label);
    } else {
      ignored.add(entry.path());
    }
  }
  std::sort(out.files.begin() + std::ptrdiff_t(before), out.files.end());
}

// val/ or test/: every class folder must be one of train's, so that a label means one thing.
void check_held_out_classes(const fs::path& root, const std::string& split) {
  const std::vector<std::string> train_classes = image_folder_classes(root);
  for (const auto& name : subfolders(root / split))
    if (!std::binary_search(train_classes.begin(), train_classes.end(), name))
      throw UserError(path_in_quotes(root / split / name) + " is a class that " + path_in_quotes(root / "train") +
                      " does not have" + did_you_mean(name, train_classes) + "; add its train images to " +
                      path_in_quotes(root / "train" / name) + " or remove the folder");
}

void list_held_out(const fs::path& root, const std::string& split, const std::vector<std::string>& classes,
                   FileList& out, Ignored& ignored) {
  check_held_out_classes(root, split);
  for (size_t label = 0; label < classes.size(); ++label)
    if (fs::is_directory(root / split / classes[label]))
      list_class_folder(root / split / classes[label], int64_t(label), out, ignored);
}

Listing list_image_folder(const fs::path& root, const std::vector<std::string>& classes, TestSplit test) {
  Listing out;
  Ignored ignored;
  for (size_t label = 0; label < classes.size(); ++label) {
    const fs::path folder = root / "train" / classes[label];
    const size_t before = out.train.files.size();
    list_class_folder(folder, int64_t(label), out.train, ignored);
    if (out.train.files.size() == before)
      throw UserError(path_in_quotes(folder) + " holds no images (class '" + classes[label] +
                      "'); add images to it, or remove the folder or leave it out of data.classes");
  }
  out.has_val = fs::is_directory(root / "val");
  if (out.has_val) list_held_out(root, "val", classes, out.val, ignored);
  if (test == TestSplit::Load) {
    if (!fs::is_directory(root / "test"))
      throw UserError(path_in_quotes(root / "test") + " not found: testing needs a test split; put its images in " +
                      path_in_quotes(root / "test" / "<class>"));
    list_held_out(root, "test", classes, out.test, ignored);
  } else if (fs::is_directory(root / "test")) {  // its classes checked now, not first at engine test
    check_held_out_classes(root, "test");
  }
  if (ignored.count)
    spdlog::warn("data: ignored {} file(s) that are not images or lie in subfolders of a class folder, the first {}",
                 ignored.count, path_in_quotes(ignored.first));
  return out;
}

}  // namespace

Format image_folder_format() {
  return {"imagefolder",
          "train/<class>/<image>, optional val/<class>/ and test/<class>/",
          "train",
          is_image_folder,
          image_folder_classes,
          list_image_folder};
}

}  // namespace engine::data
