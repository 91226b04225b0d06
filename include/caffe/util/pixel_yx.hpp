#ifndef CAFFE_UTIL_PIXEL_YX_HPP_
#define CAFFE_UTIL_PIXEL_YX_HPP_

namespace caffe {

/// A place in an image, row first as in Caffe's N x C x H x W layout, so
/// that no caller has to remember which of two int arguments is which.
struct PixelYX {
  int y, x;
};

}  // namespace caffe

#endif  // CAFFE_UTIL_PIXEL_YX_HPP_
