// lmtcnn: errors a user can cause (bad shapes, bad files, bad images).
#pragma once

#include <stdexcept>
#include <string>

namespace lmtcnn {

/// Base class of every exception lmtcnn throws; what() names the layer, tensor or file involved.
class error : public std::runtime_error {
 public:
  explicit error(const std::string& what) : std::runtime_error(what) {}
};

/// A tensor, layer input or weight whose shape does not fit what the layer needs.
class shape_error : public error {
 public:
  explicit shape_error(const std::string& what) : error(what) {}
};

}  // namespace lmtcnn
