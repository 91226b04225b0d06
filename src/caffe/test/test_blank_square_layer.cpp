#include <algorithm>
#include <set>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

#include "caffe/blob.hpp"
#include "caffe/common.hpp"
#include "caffe/filler.hpp"
#include "caffe/layers/blank_square_layer.hpp"

#include "caffe/test/test_caffe_main.hpp"

namespace caffe {

// Where an image was blanked, found from the output alone: inputs lie in
// [1, 2] and the fill is 0, so a blanked element is one that became 0.
struct Rect {
  int y0, x0, y1, x1, pixels;  // bounding box [y0, y1) x [x0, x1)
  bool empty() const { return pixels == 0; }
};

template <typename Dtype>
Rect BlankedRect(const Blob<Dtype>& out, int n, int c) {
  const int height = out.shape(-2), width = out.shape(-1);
  Rect r = {height, width, 0, 0, 0};
  const Dtype* plane = out.cpu_data() + (n * out.count(1) + c * height * width);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      if (plane[y * width + x] == 0) {
        r.y0 = std::min(r.y0, y); r.x0 = std::min(r.x0, x);
        r.y1 = std::max(r.y1, y + 1); r.x1 = std::max(r.x1, x + 1);
        ++r.pixels;
      }
    }
  }
  return r;
}

template <typename TypeParam>
class BlankSquareLayerTest : public MultiDeviceTest<TypeParam> {
  typedef typename TypeParam::Dtype Dtype;

 protected:
  BlankSquareLayerTest() : in_(new Blob<Dtype>()), out_(new Blob<Dtype>()) {
    Reshape(vector<int>{4, 3, 28, 28});
    bottom_.push_back(in_);
    top_.push_back(out_);
    param_.set_name("occlude");
    param_.set_type("BlankSquare");
    param_.add_bottom("data");
  }
  virtual ~BlankSquareLayerTest() { delete in_; delete out_; }

  void Reshape(const vector<int>& shape) {
    in_->Reshape(shape);
    FillerParameter filler_param;
    filler_param.set_min(1);
    filler_param.set_max(2);
    Caffe::set_random_seed(1701);
    UniformFiller<Dtype> filler(filler_param);
    filler.Fill(in_);
  }

  BlankSquareParameter* blank() { return param_.mutable_blank_square_param(); }

  // A layer made right after seeding, so that its squares depend on seed.
  shared_ptr<BlankSquareLayer<Dtype> > MakeLayer(int seed = 1701) {
    Caffe::set_random_seed(seed);
    shared_ptr<BlankSquareLayer<Dtype> > layer(new BlankSquareLayer<Dtype>(param_));
    layer->SetUp(bottom_, top_);
    return layer;
  }

  // Checks that each occluded image has one h x w rectangle of zeros, the
  // same in every channel, and that everything else equals the input.
  vector<Rect> CheckSquares(int expected_height, int expected_width) {
    vector<Rect> rects;
    for (int n = 0; n < in_->shape(0); ++n) {
      const Rect first = BlankedRect(*out_, n, 0);
      if (!first.empty()) {
        EXPECT_EQ(expected_height, first.y1 - first.y0);
        EXPECT_EQ(expected_width, first.x1 - first.x0);
        EXPECT_EQ(expected_height * expected_width, first.pixels);
      }
      const int channels = in_->count(1, in_->num_axes() - 2);
      for (int c = 1; c < channels; ++c) {
        const Rect r = BlankedRect(*out_, n, c);
        EXPECT_EQ(first.y0, r.y0); EXPECT_EQ(first.x0, r.x0);
        EXPECT_EQ(first.pixels, r.pixels);
      }
      rects.push_back(first);
    }
    for (int i = 0; i < in_->count(); ++i) {
      if (out_->cpu_data()[i] != 0) EXPECT_EQ(in_->cpu_data()[i], out_->cpu_data()[i]);
    }
    return rects;
  }

  Blob<Dtype>* const in_;
  Blob<Dtype>* const out_;
  vector<Blob<Dtype>*> bottom_;
  vector<Blob<Dtype>*> top_;
  LayerParameter param_;
};

TYPED_TEST_CASE(BlankSquareLayerTest, TestDtypesAndDevices);

TYPED_TEST(BlankSquareLayerTest, TestOneSquareForTheBatchByDefault) {
  shared_ptr<Layer<typename TypeParam::Dtype> > layer = this->MakeLayer();
  layer->Forward(this->bottom_, this->top_);
  const vector<Rect> rects = this->CheckSquares(14, 14);
  for (const Rect& r : rects) {
    EXPECT_EQ(rects[0].y0, r.y0);
    EXPECT_EQ(rects[0].x0, r.x0);
  }
}

TYPED_TEST(BlankSquareLayerTest, TestSizesForRatiosAndOddShapes) {
  const float ratios[] = {0.5f, 0.25f, 0.3f, 1.0f};
  const vector<int> shapes[] = {{2, 1, 28, 28}, {2, 2, 27, 13}, {3, 10, 7},
                                {1, 2, 3, 11, 9}};
  for (const vector<int>& shape : shapes) {
    for (float ratio : ratios) {
      this->Reshape(shape);
      this->blank()->set_ratio(ratio);
      shared_ptr<Layer<typename TypeParam::Dtype> > layer = this->MakeLayer();
      layer->Forward(this->bottom_, this->top_);
      const int h = static_cast<int>(ratio * shape[shape.size() - 2] + 1e-4);
      const int w = static_cast<int>(ratio * shape.back() + 1e-4);
      if (h == 0 || w == 0) continue;  // rejected at setup, tested below
      SCOPED_TRACE(testing::Message() << "ratio " << ratio << " shape "
                   << this->in_->shape_string());
      this->CheckSquares(h, w);
    }
  }
}

TYPED_TEST(BlankSquareLayerTest, TestPerSampleSquaresDiffer) {
  this->Reshape(vector<int>{64, 1, 28, 28});
  this->blank()->set_per_sample(true);
  shared_ptr<Layer<typename TypeParam::Dtype> > layer = this->MakeLayer();
  layer->Forward(this->bottom_, this->top_);
  std::set<std::pair<int, int> > positions;
  for (const Rect& r : this->CheckSquares(14, 14)) {
    positions.insert(std::make_pair(r.y0, r.x0));
  }
  // 64 draws from 15 x 15 places: fewer than 30 distinct is ~impossible.
  EXPECT_GT(positions.size(), 30);
}

TYPED_TEST(BlankSquareLayerTest, TestPositionsCoverEveryPlaceUniformly) {
  // 8 x 8 images, 4 x 4 squares: rows 0..4 and columns 0..4, 5000 draws.
  this->Reshape(vector<int>{5000, 1, 8, 8});
  this->blank()->set_per_sample(true);
  shared_ptr<Layer<typename TypeParam::Dtype> > layer = this->MakeLayer();
  layer->Forward(this->bottom_, this->top_);
  vector<int> rows(5, 0), cols(5, 0);
  for (const Rect& r : this->CheckSquares(4, 4)) {
    ASSERT_FALSE(r.empty());
    ++rows[r.y0];
    ++cols[r.x0];
  }
  // Expected 1000 each, standard deviation ~28: 6 sigma bounds.
  for (int i = 0; i < 5; ++i) {
    EXPECT_NEAR(1000, rows[i], 170) << "row " << i;
    EXPECT_NEAR(1000, cols[i], 170) << "column " << i;
  }
}

TYPED_TEST(BlankSquareLayerTest, TestProbabilityZeroIsIdentity) {
  this->blank()->set_probability(0);
  shared_ptr<Layer<typename TypeParam::Dtype> > layer = this->MakeLayer();
  layer->Forward(this->bottom_, this->top_);
  for (int i = 0; i < this->in_->count(); ++i) {
    ASSERT_EQ(this->in_->cpu_data()[i], this->out_->cpu_data()[i]);
  }
}

TYPED_TEST(BlankSquareLayerTest, TestProbabilityHalfPerSample) {
  this->Reshape(vector<int>{4000, 1, 4, 4});
  this->blank()->set_per_sample(true);
  this->blank()->set_probability(0.5);
  shared_ptr<Layer<typename TypeParam::Dtype> > layer = this->MakeLayer();
  layer->Forward(this->bottom_, this->top_);
  int occluded = 0;
  for (const Rect& r : this->CheckSquares(2, 2)) occluded += !r.empty();
  // Binomial(4000, 0.5): standard deviation ~32; 6 sigma.
  EXPECT_NEAR(2000, occluded, 190);
}

TYPED_TEST(BlankSquareLayerTest, TestProbabilityHalfPerBatch) {
  this->Reshape(vector<int>{3, 1, 4, 4});
  this->blank()->set_probability(0.5);
  shared_ptr<Layer<typename TypeParam::Dtype> > layer = this->MakeLayer();
  int occluded = 0;
  for (int pass = 0; pass < 1000; ++pass) {
    layer->Forward(this->bottom_, this->top_);
    const vector<Rect> rects = this->CheckSquares(2, 2);
    // The whole batch is occluded or none of it.
    for (const Rect& r : rects) ASSERT_EQ(rects[0].empty(), r.empty());
    occluded += !rects[0].empty();
  }
  EXPECT_NEAR(500, occluded, 95);  // standard deviation ~16
}

TYPED_TEST(BlankSquareLayerTest, TestInPlaceEqualsOutOfPlace) {
  typedef typename TypeParam::Dtype Dtype;
  this->blank()->set_per_sample(true);
  shared_ptr<Layer<Dtype> > layer = this->MakeLayer(7);
  layer->Forward(this->bottom_, this->top_);
  Blob<Dtype> data;
  data.CopyFrom(*this->in_, false, true);
  vector<Blob<Dtype>*> in_place(1, &data);
  Caffe::set_random_seed(7);
  BlankSquareLayer<Dtype> same_seed(this->param_);
  same_seed.SetUp(in_place, in_place);
  same_seed.Forward(in_place, in_place);
  for (int i = 0; i < data.count(); ++i) {
    ASSERT_EQ(this->out_->cpu_data()[i], data.cpu_data()[i]) << i;
  }
}

TYPED_TEST(BlankSquareLayerTest, TestLargeBatchOutOfPlace) {
  typedef typename TypeParam::Dtype Dtype;
  // Several MB of output (streamed) with odd widths: every run and square
  // row starts at a different alignment.
  this->Reshape(vector<int>{32, 3, 77, 91});
  this->blank()->set_per_sample(true);
  this->blank()->set_probability(0.8);
  shared_ptr<Layer<Dtype> > layer = this->MakeLayer(11);
  layer->Forward(this->bottom_, this->top_);
  int occluded = 0;
  for (const Rect& r : this->CheckSquares(38, 45)) occluded += !r.empty();
  EXPECT_GT(occluded, 16);
  EXPECT_LT(occluded, 32);
}

TYPED_TEST(BlankSquareLayerTest, TestGradientPassesOutsideSquare) {
  typedef typename TypeParam::Dtype Dtype;
  this->blank()->set_per_sample(true);
  shared_ptr<Layer<Dtype> > layer = this->MakeLayer();
  layer->Forward(this->bottom_, this->top_);
  const vector<Rect> rects = this->CheckSquares(14, 14);
  // A top diff of distinct values; the squares of the last forward pass
  // decide the gradient: zero inside, the top diff outside.
  Blob<Dtype> top_diff(this->out_->shape());
  FillerParameter filler_param;
  GaussianFiller<Dtype> filler(filler_param);
  filler.Fill(&top_diff);
  caffe_copy(top_diff.count(), top_diff.cpu_data(),
             this->out_->mutable_cpu_diff());
  layer->Backward(this->top_, vector<bool>(1, true), this->bottom_);
  const int height = 28, width = 28, channels = 3;
  for (int n = 0; n < 4; ++n) {
    for (int c = 0; c < channels; ++c) {
      for (int y = 0; y < height; ++y) {
        for (int x = 0; x < width; ++x) {
          const int i = ((n * channels + c) * height + y) * width + x;
          const Rect& r = rects[n];
          const bool inside = y >= r.y0 && y < r.y1 && x >= r.x0 && x < r.x1;
          ASSERT_EQ(inside ? Dtype(0) : top_diff.cpu_data()[i],
                    this->in_->cpu_diff()[i]) << n << " " << c << " " << y
                                              << " " << x;
        }
      }
    }
  }
}

TYPED_TEST(BlankSquareLayerTest, TestInPlaceBackwardZeroesOnlyTheSquare) {
  typedef typename TypeParam::Dtype Dtype;
  Blob<Dtype> data;
  data.CopyFrom(*this->in_, false, true);
  vector<Blob<Dtype>*> in_place(1, &data);
  Caffe::set_random_seed(1701);
  BlankSquareLayer<Dtype> layer(this->param_);
  layer.SetUp(in_place, in_place);
  layer.Forward(in_place, in_place);
  caffe_set(data.count(), Dtype(3), data.mutable_cpu_diff());
  layer.Backward(in_place, vector<bool>(1, true), in_place);
  int zeros = 0;
  for (int i = 0; i < data.count(); ++i) {
    const bool blanked = data.cpu_data()[i] == 0;
    ASSERT_EQ(blanked ? Dtype(0) : Dtype(3), data.cpu_diff()[i]) << i;
    zeros += blanked;
  }
  EXPECT_EQ(4 * 3 * 14 * 14, zeros);
}

TYPED_TEST(BlankSquareLayerTest, TestIdentityInTestPhase) {
  typedef typename TypeParam::Dtype Dtype;
  this->param_.set_phase(TEST);
  shared_ptr<Layer<Dtype> > layer = this->MakeLayer();
  layer->Forward(this->bottom_, this->top_);
  caffe_set(this->out_->count(), Dtype(5), this->out_->mutable_cpu_diff());
  layer->Backward(this->top_, vector<bool>(1, true), this->bottom_);
  for (int i = 0; i < this->in_->count(); ++i) {
    ASSERT_EQ(this->in_->cpu_data()[i], this->out_->cpu_data()[i]);
    ASSERT_EQ(Dtype(5), this->in_->cpu_diff()[i]);
  }
}

TYPED_TEST(BlankSquareLayerTest, TestApplyInTest) {
  this->param_.set_phase(TEST);
  this->blank()->set_apply_in_test(true);
  shared_ptr<Layer<typename TypeParam::Dtype> > layer = this->MakeLayer();
  layer->Forward(this->bottom_, this->top_);
  for (const Rect& r : this->CheckSquares(14, 14)) EXPECT_FALSE(r.empty());
}

TYPED_TEST(BlankSquareLayerTest, TestSeedDecidesSquares) {
  typedef typename TypeParam::Dtype Dtype;
  this->blank()->set_per_sample(true);
  // Three passes of each layer: same seed, same squares; another seed or
  // another solver rank, different squares.
  vector<vector<Rect> > runs[4];
  const int seeds[] = {1701, 1701, 1702, 1701};
  for (int run = 0; run < 4; ++run) {
    Caffe::set_solver_rank(run == 3 ? 1 : 0);
    shared_ptr<Layer<Dtype> > layer = this->MakeLayer(seeds[run]);
    for (int pass = 0; pass < 3; ++pass) {
      layer->Forward(this->bottom_, this->top_);
      runs[run].push_back(this->CheckSquares(14, 14));
    }
  }
  Caffe::set_solver_rank(0);
  std::set<std::pair<int, int> > passes;
  for (int pass = 0; pass < 3; ++pass) {
    for (int n = 0; n < 4; ++n) {
      EXPECT_EQ(runs[0][pass][n].y0, runs[1][pass][n].y0);
      EXPECT_EQ(runs[0][pass][n].x0, runs[1][pass][n].x0);
      passes.insert(std::make_pair(runs[0][pass][n].y0, runs[0][pass][n].x0));
    }
  }
  EXPECT_GT(passes.size(), 6);  // passes draw new squares
  for (int other = 2; other < 4; ++other) {
    int same = 0;
    for (int pass = 0; pass < 3; ++pass) {
      for (int n = 0; n < 4; ++n) {
        same += runs[0][pass][n].y0 == runs[other][pass][n].y0 &&
                runs[0][pass][n].x0 == runs[other][pass][n].x0;
      }
    }
    EXPECT_LT(same, 3) << "run " << other;
  }
}

TYPED_TEST(BlankSquareLayerTest, TestBadParametersFailAtSetup) {
  typedef typename TypeParam::Dtype Dtype;
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
  struct Case { float ratio, probability; const char* message; };
  const Case cases[] = {
    {0, 1, "BlankSquare layer 'occlude': blank_square_param.ratio must be in "
           "\\(0, 1\\], got 0"},
    {1.5, 1, "ratio must be in \\(0, 1\\], got 1.5"},
    {0.5, -0.1, "probability must be in \\[0, 1\\], got -0.1"},
    {0.5, 1.5, "probability must be in \\[0, 1\\], got 1.5"},
    // floor(0.03 * 28) = 0
    {0.03, 1, "BlankSquare layer 'occlude': ratio 0.03 of 28x28 images is a "
              "square of zero pixels"},
  };
  for (const Case& c : cases) {
    this->blank()->set_ratio(c.ratio);
    this->blank()->set_probability(c.probability);
    BlankSquareLayer<Dtype> layer(this->param_);
    EXPECT_DEATH(layer.SetUp(this->bottom_, this->top_), c.message);
  }
}

TYPED_TEST(BlankSquareLayerTest, TestBadShapesAndCountsFailAtSetup) {
  typedef typename TypeParam::Dtype Dtype;
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
  {
    this->in_->Reshape(vector<int>{4, 28});
    BlankSquareLayer<Dtype> layer(this->param_);
    EXPECT_DEATH(layer.SetUp(this->bottom_, this->top_),
                 "BlankSquare layer 'occlude': bottom 'data' \\(4 28 \\(112\\)\\) "
                 "needs at least 3 axes");
  }
  {
    vector<Blob<Dtype>*> two_bottoms(2, this->in_);
    BlankSquareLayer<Dtype> layer(this->param_);
    EXPECT_DEATH(layer.SetUp(two_bottoms, this->top_),
                 "BlankSquare layer 'occlude' takes exactly 1 bottom blob");
  }
  {
    vector<Blob<Dtype>*> no_top;
    BlankSquareLayer<Dtype> layer(this->param_);
    EXPECT_DEATH(layer.SetUp(this->bottom_, no_top),
                 "BlankSquare layer 'occlude' produces exactly 1 top blob");
  }
}

#ifndef CPU_ONLY
template <typename Dtype>
class BlankSquareLayerGPUTest : public GPUDeviceTest<Dtype> {};

TYPED_TEST_CASE(BlankSquareLayerGPUTest, TestDtypes);

TYPED_TEST(BlankSquareLayerGPUTest, TestCPUAndGPUBitwiseEqual) {
  typedef TypeParam Dtype;
  for (int per_sample = 0; per_sample < 2; ++per_sample) {
    for (int in_place = 0; in_place < 2; ++in_place) {
      Blob<Dtype> input(vector<int>{16, 3, 27, 31});
      FillerParameter filler_param;
      GaussianFiller<Dtype> filler(filler_param);
      filler.Fill(&input);
      Blob<Dtype> result[2];
      Blob<Dtype> gradient[2];
      LayerParameter param;
      param.set_name("occlude");
      param.mutable_blank_square_param()->set_per_sample(per_sample);
      param.mutable_blank_square_param()->set_ratio(0.4);
      param.mutable_blank_square_param()->set_fill_value(-3);
      param.mutable_blank_square_param()->set_probability(0.7);
      for (int device = 0; device < 2; ++device) {
        Caffe::set_mode(device == 0 ? Caffe::CPU : Caffe::GPU);
        Blob<Dtype> data, out;
        data.CopyFrom(input, false, true);
        vector<Blob<Dtype>*> bottom(1, &data);
        vector<Blob<Dtype>*> top(1, in_place ? &data : &out);
        Caffe::set_random_seed(99);
        BlankSquareLayer<Dtype> layer(param);
        layer.SetUp(bottom, top);
        for (int pass = 0; pass < 3; ++pass) layer.Forward(bottom, top);
        caffe_set(top[0]->count(), Dtype(1), top[0]->mutable_cpu_diff());
        layer.Backward(top, vector<bool>(1, true), bottom);
        result[device].CopyFrom(*top[0], false, true);
        gradient[device].CopyFrom(*bottom[0], true, true);
      }
      for (int i = 0; i < input.count(); ++i) {
        ASSERT_EQ(result[0].cpu_data()[i], result[1].cpu_data()[i]) << i;
        ASSERT_EQ(gradient[0].cpu_diff()[i], gradient[1].cpu_diff()[i]) << i;
      }
    }
  }
}
#endif

}  // namespace caffe
