// Test helpers shared by every test binary: temporary directories and files.
//
// Not thread-safe; meant for a test body. Failures to create throw std::runtime_error, which
// GoogleTest reports as a test failure.
#pragma once

#include <string>

namespace testing_support {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // Writes (replaces) `name` inside the directory and returns its full path.
  std::string Write(const std::string& name, const std::string& content) const;
  // Full path of `name` inside the directory (need not exist).
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace testing_support
