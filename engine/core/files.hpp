#pragma once
// Helpers every writer and reader of the engine's files shares, each written once: atomic
// writes, the TOML reader of run files, CSV records, TOML floats, fast hashing.
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/core/spec.hpp"

namespace engine {

// Writes <path>.tmp, syncs it, then renames it: readers never see half a file. Creates the
// parent folder. A failed write (disk full, file too large, read-only) is a UserError naming the
// file and the cause; the temporary file is removed and `path` keeps its previous content.
void write_file_atomic(const std::filesystem::path& path, const std::string& text);
// Several files replaced together: all are written to temporary names before any is renamed,
// in order, so a failed write leaves every one of them as it was.
void write_files_atomic(const std::vector<std::pair<std::filesystem::path, std::string>>& files);
// Appends `text` whole or not at all: what a failed write left behind is cut off again.
void append_file(const std::filesystem::path& path, const std::string& text);

// A TOML file the engine wrote (summary.toml, test/metrics.toml) as a Value tree. A missing
// file or a syntax error is a UserError naming the file (and line:column).
Value read_toml(const std::filesystem::path& path);
// table[key]; absent is a UserError naming the file and the key, as `where` + key ("macro.f1").
const Value& toml_key(const Value& table, const std::string& key, const std::filesystem::path& file,
                      const std::string& where = "");

// One CSV record with RFC 4180 quoting (no newline inside a field), and one field, quoted
// only when it has to be.
std::vector<std::string> split_csv(const std::string& line);
std::string csv_field(const std::string& text);

// The shortest text that reads back as the same double, and as a float in TOML ("1.0", not "1").
std::string toml_float(double value);

// One 64-bit number from several (splitmix64 steps): seeds, e.g. mix_seed({seed, epoch, batch}),
// and the finish of hash_bytes.
inline uint64_t mix_seed(std::initializer_list<uint64_t> parts) {
  uint64_t h = 0x243F6A8885A308D3ull;
  for (uint64_t part : parts) {
    h += part + 0x9E3779B97F4A7C15ull;
    h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ull;
    h = (h ^ (h >> 27)) * 0x94D049BB133111EBull;
    h ^= h >> 31;
  }
  return h;
}

// Fast non-cryptographic 64-bit hash: config hashes, file-list fingerprints, cache checksums and
// the data split's per-class seeds (so its values must never change).
uint64_t hash_bytes(const void* data, size_t size, uint64_t seed = 0);
inline uint64_t hash_string(std::string_view text, uint64_t seed = 0) {
  return hash_bytes(text.data(), text.size(), seed);
}
std::string hex64(uint64_t value);  // 16 hex digits

}  // namespace engine
