// Max pooling of rectified activations: many windows hold several equal maxima
// (zeros most of all). Caffe's own max pooling, CPU and GPU, takes the first
// of them in row-major order as the window's argmax and routes the whole
// gradient there. patches/0027-max-pooling-cpu-forward-without-branches.patch
// rewrote the CPU forward without branches; these cases hold it (and the GPU
// kernels) to that rule, which upstream's tests, on Gaussian inputs without
// ties, do not check.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <vector>

#include "gtest/gtest.h"

#include "caffe/blob.hpp"
#include "caffe/common.hpp"
#include "caffe/layers/pooling_layer.hpp"

#include "caffe/test/test_caffe_main.hpp"

namespace caffe {

namespace {

struct Window {
  int kernel, stride, pad;
};

// Caffe's pooled size: ceil, then no window that starts in the padding.
int PooledSize(int size, const Window& w) {
  int pooled = static_cast<int>(std::ceil(
      static_cast<float>(size + 2 * w.pad - w.kernel) / w.stride)) + 1;
  if (w.pad > 0 && (pooled - 1) * w.stride >= size + w.pad) --pooled;
  return pooled;
}

}  // namespace

template <typename TypeParam>
class MaxPoolingTiesTest : public MultiDeviceTest<TypeParam> {
  typedef typename TypeParam::Dtype Dtype;

 protected:
  MaxPoolingTiesTest() : shape_{2, 3, 7, 9} {}

  // Rectified small integers: three in five are 0, and the rest 1 or 2.
  static Dtype Rectified(int n, int c, int h, int w) {
    return std::max(0, (n * 31 + c * 17 + h * 7 + w * 3) % 5 - 2);
  }
  // All negative, ties at -1 and -2: no window's maximum is its start value.
  static Dtype Negative(int n, int c, int h, int w) {
    return -1 - (n + c + h * 5 + w) % 2;
  }

  // Runs Caffe's max pooling (forward, and backward with integer top
  // gradients, so that sums are exact in any order) and compares it with a
  // direct computation: every output, argmax and bottom gradient exactly.
  void Check(Dtype (*value)(int, int, int, int), const Window& window,
             bool top_mask) {
    Blob<Dtype> bottom(shape_), top, mask;
    const int channels = shape_[1], height = shape_[2], width = shape_[3];
    Dtype* data = bottom.mutable_cpu_data();
    for (int n = 0; n < shape_[0]; ++n)
      for (int c = 0; c < channels; ++c)
        for (int h = 0; h < height; ++h)
          for (int w = 0; w < width; ++w)
            *data++ = value(n, c, h, w);
    LayerParameter param;
    PoolingParameter* pooling = param.mutable_pooling_param();
    pooling->set_pool(PoolingParameter_PoolMethod_MAX);
    pooling->set_kernel_size(window.kernel);
    pooling->set_stride(window.stride);
    pooling->set_pad(window.pad);
    // Caffe's engine, constructed directly: the registry would give cuDNN's
    // in GPU mode, which keeps no argmax.
    PoolingLayer<Dtype> layer(param);
    vector<Blob<Dtype>*> bottoms{&bottom}, tops{&top};
    if (top_mask) tops.push_back(&mask);
    layer.SetUp(bottoms, tops);
    const int pooled_height = PooledSize(height, window);
    const int pooled_width = PooledSize(width, window);
    ASSERT_EQ(pooled_height, top.height());
    ASSERT_EQ(pooled_width, top.width());
    layer.Forward(bottoms, tops);
    for (int i = 0; i < top.count(); ++i) {
      top.mutable_cpu_diff()[i] = 1 + i % 7;
    }
    layer.Backward(tops, vector<bool>(1, true), bottoms);

    vector<Dtype> expected_diff(bottom.count(), 0);
    const Dtype* output = top.cpu_data();
    const Dtype* top_diff = top.cpu_diff();
    int t = 0;
    for (int n = 0; n < shape_[0]; ++n)
      for (int c = 0; c < channels; ++c)
        for (int ph = 0; ph < pooled_height; ++ph)
          for (int pw = 0; pw < pooled_width; ++pw, ++t) {
            const int h0 = std::max(ph * window.stride - window.pad, 0);
            const int w0 = std::max(pw * window.stride - window.pad, 0);
            const int h1 = std::min(ph * window.stride - window.pad +
                                    window.kernel, height);
            const int w1 = std::min(pw * window.stride - window.pad +
                                    window.kernel, width);
            Dtype maximum = -FLT_MAX;
            int argmax = -1;
            for (int h = h0; h < h1; ++h)
              for (int w = w0; w < w1; ++w)
                if (value(n, c, h, w) > maximum) {
                  maximum = value(n, c, h, w);
                  argmax = h * width + w;
                }
            ASSERT_EQ(maximum, output[t]) << "output " << t;
            if (top_mask) {
              ASSERT_EQ(argmax, mask.cpu_data()[t]) << "argmax of output " << t;
            }
            expected_diff[(n * channels + c) * height * width + argmax] +=
                top_diff[t];
          }
    for (int i = 0; i < bottom.count(); ++i) {
      ASSERT_EQ(expected_diff[i], bottom.cpu_diff()[i]) << "bottom diff " << i;
    }
  }

  void CheckWindows(Dtype (*value)(int, int, int, int)) {
    // Tiling with a ragged edge; overlapping with padding.
    const Window windows[] = {{2, 2, 0}, {3, 2, 1}, {3, 1, 0}};
    for (const Window& window : windows) {
      SCOPED_TRACE(testing::Message() << "kernel " << window.kernel
                   << ", stride " << window.stride << ", pad " << window.pad);
      Check(value, window, false);
      if (this->HasFatalFailure()) return;
      Check(value, window, true);
      if (this->HasFatalFailure()) return;
    }
  }

  const vector<int> shape_;
};

TYPED_TEST_CASE(MaxPoolingTiesTest, TestDtypesAndDevices);

TYPED_TEST(MaxPoolingTiesTest, TestFirstMaximumOfRectifiedInputWins) {
  this->CheckWindows(&TestFixture::Rectified);
}

TYPED_TEST(MaxPoolingTiesTest, TestFirstMaximumOfNegativeInputWins) {
  this->CheckWindows(&TestFixture::Negative);
}

}  // namespace caffe
