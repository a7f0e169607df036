#pragma once
// One error type for every bad input: its message is one line that names the file, node or field.
#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace nnjoule {

std::string printable(std::string_view s);  // text.hpp

// Names in messages come from files and are bytes: the message is made one printable line here,
// so no caller has to remember to (control characters and non-UTF-8 bytes become \xNN).
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(printable(message)) {}
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

// Prefixes an error raised deeper down with the context it happened in ("model.onnx: ...").
template <typename F>
auto with_context(const std::string& context, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error& e) {
    throw Error(context + ": " + e.what());
  }
}

}  // namespace nnjoule
