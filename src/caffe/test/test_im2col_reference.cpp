// im2col_cpu and col2im_cpu
// (patches/0030-im2col-cpu-rows-without-per-element-branches.patch) against a
// direct reference that computes every element from its definition, over a
// sweep of shapes that includes strides, dilations, padding wider than the
// kernel and kernels wider than the image. Equality is exact: im2col copies
// elements, and col2im and the reference add to each image element in the same
// order.
#include <ostream>
#include <vector>

#include "gtest/gtest.h"

#include "caffe/common.hpp"
#include "caffe/util/im2col.hpp"
#include "caffe/util/rng.hpp"

#include "caffe/test/test_caffe_main.hpp"

namespace caffe {

struct Im2colShape {
  int channels, height, width, kernel_h, kernel_w, pad_h, pad_w, stride_h,
      stride_w, dilation_h, dilation_w;
  int output_h() const {
    return (height + 2 * pad_h - (dilation_h * (kernel_h - 1) + 1)) /
        stride_h + 1;
  }
  int output_w() const {
    return (width + 2 * pad_w - (dilation_w * (kernel_w - 1) + 1)) /
        stride_w + 1;
  }
  int col_size() const {
    return channels * kernel_h * kernel_w * output_h() * output_w();
  }
  int im_size() const { return channels * height * width; }
};

std::ostream& operator<<(std::ostream& out, const Im2colShape& s) {
  return out << "channels " << s.channels << ", image " << s.height << "x"
      << s.width << ", kernel " << s.kernel_h << "x" << s.kernel_w << ", pad "
      << s.pad_h << "," << s.pad_w << ", stride " << s.stride_h << ","
      << s.stride_w << ", dilation " << s.dilation_h << "," << s.dilation_w;
}

// Calls f(col_index, im_index) for every column element, im_index -1 where
// it reads padding, in the column buffer's order.
template <typename F>
void ForEachColumnElement(const Im2colShape& s, F f) {
  int col = 0;
  for (int c = 0; c < s.channels; ++c) {
    for (int kh = 0; kh < s.kernel_h; ++kh) {
      for (int kw = 0; kw < s.kernel_w; ++kw) {
        for (int oh = 0; oh < s.output_h(); ++oh) {
          for (int ow = 0; ow < s.output_w(); ++ow, ++col) {
            const int ih = oh * s.stride_h - s.pad_h + kh * s.dilation_h;
            const int iw = ow * s.stride_w - s.pad_w + kw * s.dilation_w;
            const bool inside = ih >= 0 && ih < s.height && iw >= 0 &&
                iw < s.width;
            f(col, inside ? (c * s.height + ih) * s.width + iw : -1);
          }
        }
      }
    }
  }
}

template <typename Dtype>
class Im2colReferenceTest : public ::testing::Test {
 protected:
  std::vector<Im2colShape> Shapes() {
    std::vector<Im2colShape> shapes = {
      {64, 32, 32, 3, 3, 1, 1, 1, 1, 1, 1},  // the ResNet-style net's 3x3
      {64, 32, 32, 3, 3, 1, 1, 2, 2, 1, 1},  // its stride-2 convolution
      {20, 12, 12, 5, 5, 0, 0, 1, 1, 1, 1},  // LeNet's conv2
      {2, 3, 4, 5, 7, 3, 4, 1, 1, 1, 1},     // kernel wider than the image
      {2, 5, 6, 2, 3, 6, 5, 3, 2, 1, 1},     // padding wider than the kernel
      {1, 9, 9, 3, 3, 2, 2, 1, 1, 3, 3},     // dilation
      {1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1},
    };
    // And random shapes, each with at least one output pixel.
    caffe::rng_t* rng = caffe_rng();
    auto draw = [rng](int lo, int hi) {
      return lo + static_cast<int>((*rng)() % (hi - lo + 1));
    };
    while (shapes.size() < 300) {
      Im2colShape s = {draw(1, 3), draw(1, 9), draw(1, 9), draw(1, 5),
                       draw(1, 5), draw(0, 4), draw(0, 4), draw(1, 3),
                       draw(1, 3), draw(1, 3), draw(1, 3)};
      if (s.height + 2 * s.pad_h >= s.dilation_h * (s.kernel_h - 1) + 1 &&
          s.width + 2 * s.pad_w >= s.dilation_w * (s.kernel_w - 1) + 1) {
        shapes.push_back(s);
      }
    }
    return shapes;
  }

  std::vector<Dtype> Random(int count) {
    std::vector<Dtype> values(count);
    caffe::rng_t* rng = caffe_rng();
    for (Dtype& value : values) {
      value = static_cast<Dtype>((*rng)() % 2001) / 1000 - 1;
    }
    return values;
  }
};

typedef ::testing::Types<float, double> Im2colDtypes;
TYPED_TEST_CASE(Im2colReferenceTest, Im2colDtypes);

TYPED_TEST(Im2colReferenceTest, Im2colEqualsTheReference) {
  Caffe::set_random_seed(1701);
  for (const Im2colShape& s : this->Shapes()) {
    const std::vector<TypeParam> im = this->Random(s.im_size());
    // Filled with a value im2col never writes, so a skipped element shows.
    std::vector<TypeParam> col(s.col_size(), TypeParam(7)), expected(col);
    ForEachColumnElement(s, [&](int c, int i) {
      expected[c] = i < 0 ? TypeParam(0) : im[i];
    });
    im2col_cpu(im.data(), s.channels, s.height, s.width, s.kernel_h,
               s.kernel_w, s.pad_h, s.pad_w, s.stride_h, s.stride_w,
               s.dilation_h, s.dilation_w, col.data());
    ASSERT_EQ(col, expected) << s;
  }
}

TYPED_TEST(Im2colReferenceTest, Col2imEqualsTheReference) {
  Caffe::set_random_seed(1702);
  for (const Im2colShape& s : this->Shapes()) {
    const std::vector<TypeParam> col = this->Random(s.col_size());
    std::vector<TypeParam> im(s.im_size(), TypeParam(7));
    std::vector<TypeParam> expected(s.im_size(), TypeParam(0));
    ForEachColumnElement(s, [&](int c, int i) {
      if (i >= 0) expected[i] += col[c];
    });
    col2im_cpu(col.data(), s.channels, s.height, s.width, s.kernel_h,
               s.kernel_w, s.pad_h, s.pad_w, s.stride_h, s.stride_w,
               s.dilation_h, s.dilation_w, im.data());
    ASSERT_EQ(im, expected) << s;
  }
}

}  // namespace caffe
