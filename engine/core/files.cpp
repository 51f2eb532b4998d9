#include "engine/core/files.hpp"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace engine {

namespace fs = std::filesystem;

namespace {
std::string cannot_write(const fs::path& path, int error, const std::string& consequence) {
  return "cannot write " + path.string() + ": " + std::strerror(error) + " (" + consequence + ")";
}

// Writes all of `text` to `fd`; 0 or the errno of the failure. A short write is retried, so the
// next write reports why the disk took less (ENOSPC, EFBIG).
int write_all(int fd, const std::string& text) {
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return EIO;
    p += n;
    left -= static_cast<size_t>(n);
  }
  return 0;
}

// A new file holding exactly `text`, synced; 0 or the errno of the first failure.
int write_new_file(const fs::path& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) return errno;
  int error = write_all(fd, text);
  if (!error && ::fsync(fd) != 0) error = errno;
  if (::close(fd) != 0 && !error) error = errno;  // NFS and quotas may report only here
  return error;
}

fs::path temp_of(const fs::path& path) {
  fs::path tmp = path;
  tmp += ".tmp";
  return tmp;
}
}  // namespace

void write_files_atomic(const std::vector<std::pair<fs::path, std::string>>& files) {
  auto remove_temps = [&](size_t from) {
    for (size_t k = from; k < files.size(); ++k) ::unlink(temp_of(files[k].first).c_str());
  };
  for (size_t k = 0; k < files.size(); ++k) {
    const auto& [path, text] = files[k];
    std::error_code ec;
    if (path.has_parent_path()) fs::create_directories(path.parent_path(), ec);
    if (ec) {
      remove_temps(0);
      throw UserError("cannot create the folder " + path.parent_path().string() + ": " + ec.message());
    }
    if (int error = write_new_file(temp_of(path), text)) {
      remove_temps(0);
      std::string names;
      for (const auto& file : files) names += (names.empty() ? "" : ", ") + file.first.filename().string();
      throw UserError(cannot_write(path, error,
                                   files.size() == 1 ? names + " is unchanged" : "none of " + names + " was replaced"));
    }
  }
  for (size_t k = 0; k < files.size(); ++k)
    if (::rename(temp_of(files[k].first).c_str(), files[k].first.c_str()) != 0) {
      const int error = errno;
      remove_temps(k);
      throw UserError(cannot_write(files[k].first, error, "renaming its temporary file failed"));
    }
}

void write_file_atomic(const fs::path& path, const std::string& text) { write_files_atomic({{path, text}}); }

void append_file(const fs::path& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) throw UserError(cannot_write(path, errno, "it is unchanged"));
  struct stat before {};
  if (::fstat(fd, &before) != 0) {
    const int error = errno;
    ::close(fd);
    throw UserError(cannot_write(path, error, "it is unchanged"));
  }
  int error = write_all(fd, text);
  if (!error && ::fsync(fd) != 0) error = errno;
  if (error && ::ftruncate(fd, before.st_size) != 0) {
    ::close(fd);
    throw UserError(cannot_write(path, error, "and a partial line could not be cut off again"));
  }
  if (::close(fd) != 0 && !error) error = errno;
  if (error) throw UserError(cannot_write(path, error, "it is unchanged"));
}

Value read_toml(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!fs::is_regular_file(path) || !in) throw UserError(path.string() + ": file not found");
  std::stringstream text;
  text << in.rdbuf();
  return parse_toml_string(text.str(), path.string());
}

const Value& toml_key(const Value& table, const std::string& key, const fs::path& file, const std::string& where) {
  const Value* v = table.find(key);
  if (!v) throw UserError(file.string() + ": missing key '" + where + key + "'");
  return *v;
}

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char ch = line[i];
    if (quoted) {
      if (ch == '"' && i + 1 < line.size() && line[i + 1] == '"')
        fields.back() += '"', ++i;
      else if (ch == '"')
        quoted = false;
      else
        fields.back() += ch;
    } else if (ch == '"') {
      quoted = true;
    } else if (ch == ',') {
      fields.emplace_back();
    } else if (ch != '\r') {
      fields.back() += ch;
    }
  }
  return fields;
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string out = "\"";
  for (char ch : text) {
    if (ch == '"') out += '"';
    out += ch;
  }
  return out + "\"";
}

std::string toml_float(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, value);  // shortest round-trip form
  std::string out(buf, res.ptr);
  // TOML reads "1" as an integer: a float needs a '.' or an exponent.
  if (out.find_first_of(".e") == std::string::npos) out += ".0";
  return out;
}

// Four independent lanes of the xxHash64 round keep it memory-bound, so checksumming a cache
// costs little next to reading it.
uint64_t hash_bytes(const void* data, size_t size, uint64_t seed) {
  constexpr uint64_t p1 = 0x9E3779B185EBCA87ull, p2 = 0xC2B2AE3D27D4EB4Full;
  auto rotl = [](uint64_t x, int r) { return (x << r) | (x >> (64 - r)); };
  auto round = [&](uint64_t acc, uint64_t word) { return rotl(acc + word * p2, 31) * p1; };
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t lane[4] = {seed + p1 + p2, seed + p2, seed, seed - p1};
  size_t left = size;
  for (; left >= 32; left -= 32, p += 32) {
    for (int k = 0; k < 4; ++k) {
      uint64_t word;
      std::memcpy(&word, p + 8 * k, 8);
      lane[k] = round(lane[k], word);
    }
  }
  uint64_t h = rotl(lane[0], 1) + rotl(lane[1], 7) + rotl(lane[2], 12) + rotl(lane[3], 18);
  for (; left > 0; --left, ++p) h = (h ^ *p) * p1;
  return mix_seed({h, size});
}

std::string hex64(uint64_t value) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(value));
  return buf;
}

}  // namespace engine
