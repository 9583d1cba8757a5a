// lmtcnn images: image, an owned 8-bit RGB picture (what load_image returns), and image_view, 8-bit
// pixels the caller owns (an OpenCV cv::Mat, a camera frame, a decoded buffer) in RGB, BGR, RGBA or
// BGRA with any row stride, read in place by the face pipeline. An image converts to a view of itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "lmtcnn/core/error.hpp"

namespace lmtcnn {

/// An 8-bit RGB image, rows top to bottom, pixels left to right, 3 bytes each.
struct image {
  int width = 0;
  int height = 0;
  std::vector<unsigned char> rgb;
  /// 1 when the pixels are as stored or were turned upright; the Exif orientation (2 to 8) the file
  /// gives when they were kept as stored on request.
  int exif_orientation = 1;
  /// Why the file's Exif block was ignored (the pixels are then as stored); "" when it was not.
  std::string warning;
  unsigned char at(int x, int y, int c) const { return rgb[(static_cast<std::size_t>(y) * width + x) * 3 + c]; }
};

/// The order of a pixel's bytes in an image_view.
enum class pixel_format { rgb, bgr, rgba, bgra };

/// Pixels held elsewhere, read in place: `data` points at the top-left pixel, each row is `stride`
/// bytes after the one above it (at least width times the pixel's bytes), rows top to bottom. The
/// alpha byte of RGBA and BGRA is ignored. The view does not own the pixels: they must outlive its use.
/// The face pipeline gives the same results for a view as for an image of the same RGB values.
struct image_view {
  const unsigned char* data = nullptr;
  int width = 0;
  int height = 0;
  std::size_t stride = 0;  ///< bytes from one row to the next
  pixel_format format = pixel_format::rgb;

  image_view() = default;
  image_view(const unsigned char* pixels, int w, int h, std::size_t row_stride, pixel_format f)
      : data(pixels), width(w), height(h), stride(row_stride), format(f), bytes_(pixel_bytes(f)) {
    if (f == pixel_format::bgr || f == pixel_format::bgra) {
      channel_[0] = 2;
      channel_[2] = 0;
    }
  }
  /// A view of an image's pixels (RGB, rows packed).
  image_view(const image& img)  // NOLINT: implicit, so that every call taking a view takes an image
      : image_view(img.rgb.data(), img.width, img.height, static_cast<std::size_t>(img.width) * 3, pixel_format::rgb) {}

  static std::size_t pixel_bytes(pixel_format f) { return f == pixel_format::rgb || f == pixel_format::bgr ? 3 : 4; }

  /// Channel c (0 red, 1 green, 2 blue) of pixel (x, y).
  unsigned char at(int x, int y, int c) const {
    return data[static_cast<std::size_t>(y) * stride + static_cast<std::size_t>(x) * bytes_ + channel_[c]];
  }

  /// Throws lmtcnn::error saying what is wrong with the view: no pixels, a side not positive, or rows
  /// shorter than a row of pixels.
  void check() const {
    if (width <= 0 || height <= 0)
      throw error("image view of " + std::to_string(width) + "x" + std::to_string(height) + " pixels: sides must be positive");
    if (!data) throw error("image view has no pixels (null data)");
    const std::size_t row = static_cast<std::size_t>(width) * bytes_;
    if (stride < row)
      throw error("image view's row stride is " + std::to_string(stride) + " bytes, less than the " + std::to_string(row) +
                  " of a row of " + std::to_string(width) + " pixels");
  }

 private:
  std::size_t bytes_ = 3;
  std::size_t channel_[3] = {0, 1, 2};  // byte of red, green, blue within a pixel
};

}  // namespace lmtcnn
