// BatchNorm's CPU forward and backward (the fork's
// src/caffe/layers/batch_norm_layer.cpp) against a direct double-precision
// reference: training statistics and stored (global) ones, in place and not,
// over shapes with one and several values per row.
// Tolerances: the layer sums at most a few hundred values in Dtype, so its
// statistics carry a relative error of about count * epsilon (float: ~1e-5
// at worst here); outputs are about 1 in size, hence 1e-4 for float and
// 1e-10 for double.
#include <cmath>
#include <vector>

#include "gtest/gtest.h"

#include "caffe/blob.hpp"
#include "caffe/common.hpp"
#include "caffe/filler.hpp"
#include "caffe/layers/batch_norm_layer.hpp"
#include "caffe/util/math_functions.hpp"

#include "caffe/test/test_caffe_main.hpp"

namespace caffe {

template <typename Dtype>
class BatchNormReferenceTest : public ::testing::Test {
 protected:
  static double Tolerance() { return sizeof(Dtype) == 4 ? 1e-4 : 1e-10; }

  void Fill(Blob<Dtype>* blob, double lo, double hi) {
    FillerParameter param;
    param.set_min(lo);
    param.set_max(hi);
    UniformFiller<Dtype> filler(param);
    filler.Fill(blob);
  }

  // Runs forward and backward once on a blob of `shape` and checks both.
  void Check(const vector<int>& shape, bool global_stats, bool in_place) {
    Caffe::set_random_seed(1701);
    LayerParameter param;
    param.mutable_batch_norm_param()->set_use_global_stats(global_stats);
    const double eps = param.batch_norm_param().eps();
    BatchNormLayer<Dtype> layer(param);
    Blob<Dtype> bottom(shape), separate_top;
    Fill(&bottom, -1, 3);
    Blob<Dtype>* top = in_place ? &bottom : &separate_top;
    vector<Blob<Dtype>*> bottoms{&bottom}, tops{top};
    layer.SetUp(bottoms, tops);

    const int num = shape[0], channels = shape.size() > 1 ? shape[1] : 1;
    const int spatial = bottom.count() / (num * channels);
    auto at = [&](int n, int c, int s) {
      return (n * channels + c) * spatial + s;
    };
    // Statistics per channel: the batch's or the stored ones.
    vector<double> mean(channels, 0), var(channels, 0);
    const vector<Dtype> x(bottom.cpu_data(),
                          bottom.cpu_data() + bottom.count());
    if (global_stats) {
      for (int i = 0; i < 2; ++i) Fill(layer.blobs()[i].get(), 0.5, 2);
      layer.blobs()[2]->mutable_cpu_data()[0] = 4;  // the scale factor
      for (int c = 0; c < channels; ++c) {
        mean[c] = layer.blobs()[0]->cpu_data()[c] / 4.;
        var[c] = layer.blobs()[1]->cpu_data()[c] / 4.;
      }
    } else {
      for (int c = 0; c < channels; ++c) {
        for (int n = 0; n < num; ++n) {
          for (int s = 0; s < spatial; ++s) mean[c] += x[at(n, c, s)];
        }
        mean[c] /= num * spatial;
        for (int n = 0; n < num; ++n) {
          for (int s = 0; s < spatial; ++s) {
            var[c] += (x[at(n, c, s)] - mean[c]) * (x[at(n, c, s)] - mean[c]);
          }
        }
        var[c] /= num * spatial;
      }
    }

    layer.Forward(bottoms, tops);
    vector<double> y(bottom.count());
    for (int n = 0; n < num; ++n) {
      for (int c = 0; c < channels; ++c) {
        for (int s = 0; s < spatial; ++s) {
          const int i = at(n, c, s);
          y[i] = (x[i] - mean[c]) / std::sqrt(var[c] + eps);
          ASSERT_NEAR(top->cpu_data()[i], y[i], Tolerance()) << "top " << i;
        }
      }
    }
    if (!global_stats) {  // the moving averages after one pass
      const int m = num * spatial;
      EXPECT_EQ(layer.blobs()[2]->cpu_data()[0], Dtype(1));
      for (int c = 0; c < channels; ++c) {
        EXPECT_NEAR(layer.blobs()[0]->cpu_data()[c], mean[c], Tolerance());
        EXPECT_NEAR(layer.blobs()[1]->cpu_data()[c],
                    m > 1 ? var[c] * m / (m - 1) : var[c], Tolerance());
      }
    }

    Blob<Dtype> random_diff(shape);
    Fill(&random_diff, -2, 2);
    caffe_copy(top->count(), random_diff.cpu_data(), top->mutable_cpu_diff());
    const vector<Dtype> dy(top->cpu_diff(), top->cpu_diff() + top->count());
    layer.Backward(tops, vector<bool>(1, true), bottoms);
    for (int c = 0; c < channels; ++c) {
      double mean_dy = 0, mean_dy_y = 0;
      for (int n = 0; n < num; ++n) {
        for (int s = 0; s < spatial; ++s) {
          mean_dy += dy[at(n, c, s)];
          mean_dy_y += dy[at(n, c, s)] * y[at(n, c, s)];
        }
      }
      mean_dy /= num * spatial;
      mean_dy_y /= num * spatial;
      for (int n = 0; n < num; ++n) {
        for (int s = 0; s < spatial; ++s) {
          const int i = at(n, c, s);
          const double dx = global_stats ? dy[i] / std::sqrt(var[c] + eps) :
              (dy[i] - mean_dy - mean_dy_y * y[i]) / std::sqrt(var[c] + eps);
          ASSERT_NEAR(bottom.cpu_diff()[i], dx, Tolerance()) << "diff " << i;
        }
      }
    }
  }

  const vector<vector<int> > shapes_ = {
    {4, 3, 5, 6}, {8, 2, 1, 1}, {6, 5}, {2, 4, 16, 16}};
};

typedef ::testing::Types<float, double> BatchNormDtypes;
TYPED_TEST_CASE(BatchNormReferenceTest, BatchNormDtypes);

TYPED_TEST(BatchNormReferenceTest, TrainingEqualsTheReference) {
  for (const vector<int>& shape : this->shapes_) {
    this->Check(shape, false, false);
  }
}

TYPED_TEST(BatchNormReferenceTest, TrainingInPlaceEqualsTheReference) {
  for (const vector<int>& shape : this->shapes_) {
    this->Check(shape, false, true);
  }
}

TYPED_TEST(BatchNormReferenceTest, GlobalStatsEqualTheReference) {
  for (const vector<int>& shape : this->shapes_) {
    this->Check(shape, true, false);
    this->Check(shape, true, true);
  }
}

}  // namespace caffe
