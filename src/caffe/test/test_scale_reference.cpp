// Scale's forward and backward (the fork's src/caffe/layers/scale_layer.cpp on
// the CPU; upstream's GPU code with
// patches/0039-scale-gpu-parameter-gradient-accumulates.patch) against a
// direct double-precision reference: with and without bias, in place and not,
// the scale a parameter or bottom[1], over axes with several values per row
// and with one (inner_dim 1), a scale over the first axis (outer_dim 1), an
// elementwise one and a scalar one, and with each gradient asked for or not.
// Parameter gradients must add to what they held; a bottom's gradient is
// assigned. Tolerances: the layer sums at most a few hundred products of
// values below 4 in Dtype, so float sums carry ~1e-5 relative error; 1e-4
// (relative to the value, at least 1) for float, 1e-10 for double.
#include <algorithm>
#include <cmath>
#include <vector>

#include "gtest/gtest.h"

#include "caffe/blob.hpp"
#include "caffe/common.hpp"
#include "caffe/filler.hpp"
#include "caffe/layers/scale_layer.hpp"

#include "caffe/test/test_caffe_main.hpp"

namespace caffe {

template <typename TypeParam>
class ScaleReferenceTest : public MultiDeviceTest<TypeParam> {
  typedef typename TypeParam::Dtype Dtype;

 protected:
  struct Case {
    vector<int> shape;
    int axis, num_axes;
    bool bias, in_place, scale_bottom;
    // Which gradients are asked for: the bottom's, the scale's (bottom[1]'s
    // or the parameter's) and the bias's.
    bool bottom_diff = true, scale_diff = true, bias_diff = true;
  };

  static double Tolerance(double value) {
    return (sizeof(Dtype) == 4 ? 1e-4 : 1e-10) *
           std::max(1.0, std::abs(value));
  }

  static void Fill(Blob<Dtype>* blob, double lo, double hi, bool diff) {
    Blob<Dtype> values(blob->shape());
    FillerParameter param;
    param.set_min(lo);
    param.set_max(hi);
    UniformFiller<Dtype> filler(param);
    filler.Fill(&values);
    caffe_copy(blob->count(), values.cpu_data(),
               diff ? blob->mutable_cpu_diff() : blob->mutable_cpu_data());
  }

  void Check(const Case& c) {
    Caffe::set_random_seed(1701);
    LayerParameter param;
    param.mutable_scale_param()->set_axis(c.axis);
    param.mutable_scale_param()->set_num_axes(c.num_axes);
    param.mutable_scale_param()->set_bias_term(c.bias);
    ScaleLayer<Dtype> layer(param);
    Blob<Dtype> bottom(c.shape), separate_top;
    const vector<int> scale_shape(c.shape.begin() + c.axis,
                                  c.shape.begin() + c.axis + c.num_axes);
    Blob<Dtype> scale_bottom(scale_shape);
    Fill(&bottom, -2, 2, false);
    Blob<Dtype>* top = c.in_place ? &bottom : &separate_top;
    vector<Blob<Dtype>*> bottoms{&bottom}, tops{top};
    if (c.scale_bottom) bottoms.push_back(&scale_bottom);
    layer.SetUp(bottoms, tops);
    if (!c.scale_bottom) layer.set_param_propagate_down(0, c.scale_diff);
    if (c.bias) {
      layer.set_param_propagate_down(layer.blobs().size() - 1, c.bias_diff);
    }
    Blob<Dtype>* scale = c.scale_bottom ? &scale_bottom : layer.blobs()[0].get();
    Blob<Dtype>* bias = c.bias ? layer.blobs().back().get() : NULL;
    Fill(scale, -2, 2, false);
    if (bias) Fill(bias, -1, 1, false);

    const int outer = bottom.count(0, c.axis), dim = scale->count();
    const int inner = bottom.count(c.axis + c.num_axes);
    const vector<Dtype> x(bottom.cpu_data(), bottom.cpu_data() + bottom.count());
    const vector<Dtype> s(scale->cpu_data(), scale->cpu_data() + dim);
    vector<Dtype> b(dim, 0);
    if (bias) b.assign(bias->cpu_data(), bias->cpu_data() + dim);

    layer.Forward(bottoms, tops);
    for (int o = 0; o < outer; ++o) {
      for (int d = 0; d < dim; ++d) {
        for (int i = 0; i < inner; ++i) {
          const int k = (o * dim + d) * inner + i;
          const double y = double(x[k]) * s[d] + b[d];
          ASSERT_NEAR(y, top->cpu_data()[k], Tolerance(y)) << "top " << k;
        }
      }
    }

    // Gradients: parameters start from what an earlier pass left, and
    // those not asked for stay as they were.
    Fill(top, -2, 2, true);
    const vector<Dtype> dy(top->cpu_diff(), top->cpu_diff() + top->count());
    Fill(scale, -1, 1, true);
    const vector<Dtype> scale_held(scale->cpu_diff(), scale->cpu_diff() + dim);
    vector<Dtype> bias_held(dim, 0);
    if (bias) {
      Fill(bias, -1, 1, true);
      bias_held.assign(bias->cpu_diff(), bias->cpu_diff() + dim);
    }
    vector<bool> down(1, c.bottom_diff);
    if (c.scale_bottom) down.push_back(c.scale_diff);
    layer.Backward(tops, down, bottoms);
    vector<double> ds(dim, 0), db(dim, 0);
    for (int o = 0; o < outer; ++o) {
      for (int d = 0; d < dim; ++d) {
        for (int i = 0; i < inner; ++i) {
          const int k = (o * dim + d) * inner + i;
          ds[d] += double(dy[k]) * x[k];
          db[d] += dy[k];
          // In place and not asked for, the bottom's gradient is the top's,
          // left alone. (Out of place, upstream's GPU code uses it as
          // scratch then.)
          if (!c.bottom_diff && !c.in_place) continue;
          const double dx = c.bottom_diff ? double(dy[k]) * s[d] : dy[k];
          ASSERT_NEAR(dx, bottom.cpu_diff()[k], Tolerance(dx)) << "diff " << k;
        }
      }
    }
    for (int d = 0; d < dim; ++d) {
      const double expected_ds = !c.scale_diff ? scale_held[d] :
          c.scale_bottom ? ds[d] : scale_held[d] + ds[d];
      EXPECT_NEAR(expected_ds, scale->cpu_diff()[d], Tolerance(expected_ds))
          << "scale diff " << d;
      if (bias) {
        const double expected_db = bias_held[d] + (c.bias_diff ? db[d] : 0);
        EXPECT_NEAR(expected_db, bias->cpu_diff()[d], Tolerance(expected_db))
            << "bias diff " << d;
      }
    }
  }

  void CheckAll(const vector<int>& shape, int axis, int num_axes) {
    for (int scale_bottom = 0; scale_bottom < 2; ++scale_bottom) {
      for (int bias = 0; bias < 2; ++bias) {
        for (int in_place = 0; in_place < 2; ++in_place) {
          SCOPED_TRACE(::testing::Message() << "axis " << axis << ", num_axes "
              << num_axes << ", scale_bottom " << scale_bottom << ", bias "
              << bias << ", in_place " << in_place);
          Check(Case{shape, axis, num_axes, bias != 0, in_place != 0,
                     scale_bottom != 0});
        }
      }
    }
  }
};

TYPED_TEST_CASE(ScaleReferenceTest, TestDtypesAndDevices);

TYPED_TEST(ScaleReferenceTest, PerChannel) {
  // Rows of 35 (four partial-sum blocks and a tail of 3).
  this->CheckAll(vector<int>{4, 6, 5, 7}, 1, 1);
}

TYPED_TEST(ScaleReferenceTest, OneValuePerRow) {
  this->CheckAll(vector<int>{3, 5}, 1, 1);  // inner_dim 1
}

TYPED_TEST(ScaleReferenceTest, TwoAxes) {
  this->CheckAll(vector<int>{2, 3, 4, 5}, 1, 2);
}

TYPED_TEST(ScaleReferenceTest, FirstAxis) {
  this->CheckAll(vector<int>{6, 4, 3}, 0, 1);  // outer_dim 1
}

TYPED_TEST(ScaleReferenceTest, Elementwise) {
  // An InnerProduct layer's output at batch 1: as many scales as values.
  this->CheckAll(vector<int>{1, 7}, 0, 2);
}

TYPED_TEST(ScaleReferenceTest, Scalar) {
  this->CheckAll(vector<int>{3, 4, 5}, 1, 0);  // one scale for all
}

TYPED_TEST(ScaleReferenceTest, OnlyTheGradientsAskedFor) {
  typedef typename TypeParam::Dtype Dtype;
  for (int scale_bottom = 0; scale_bottom < 2; ++scale_bottom)
  for (int in_place = 0; in_place < 2; ++in_place)
  for (int asked = 0; asked < 8; ++asked) {
    SCOPED_TRACE(::testing::Message() << "scale_bottom " << scale_bottom
        << ", in_place " << in_place << ", asked " << asked);
    typename ScaleReferenceTest<TypeParam>::Case c{vector<int>{4, 6, 5, 7}, 1,
        1, true, in_place != 0, scale_bottom != 0};
    c.bottom_diff = asked & 1;
    c.scale_diff = asked & 2;
    c.bias_diff = asked & 4;
    this->Check(c);
  }
}

}  // namespace caffe
