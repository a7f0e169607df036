#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace nnjoule {

// Throws Error naming the path unless it is an existing regular file (after symlinks): a FIFO
// or a character device would block a reader or never end, a directory is not a file.
void require_regular_file(const std::filesystem::path& path);
// Reads a whole file; throws Error naming the path when it is missing or unreadable.
std::string read_file(const std::filesystem::path& path);
// Writes through a temporary file and a rename, so a reader never sees half a file.
void write_file_atomic(const std::filesystem::path& path, std::string_view data);
// Creates a directory (and parents); throws Error naming the path on failure.
void ensure_directory(const std::filesystem::path& path);
// Stable content hash (FNV-1a 64) as 16 hex digits.
std::string content_hash(std::string_view data);

}  // namespace nnjoule
