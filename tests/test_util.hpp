// Small helpers shared by the test files.
#pragma once

#include <doctest/doctest.h>

#include <string>

#include "lmtcnn/core/error.hpp"

namespace lmtcnn_test {

/// Runs f, which must throw lmtcnn::shape_error; returns its message (and fails the test otherwise).
template <class F>
std::string message_of(F f) {
  try {
    f();
  } catch (const lmtcnn::shape_error& e) {
    return e.what();
  }
  FAIL("no shape_error was thrown");
  return {};
}

inline bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace lmtcnn_test
