#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

#include "caffe/blob.hpp"
#include "caffe/common.hpp"
#include "caffe/filler.hpp"
#include "caffe/layers/blank_square_layer.hpp"
#include "caffe/util/math_functions.hpp"

#include "caffe/test/layer_reference.hpp"
#include "caffe/test/test_caffe_main.hpp"

namespace caffe {

using ::testing::AssertionFailure;
using ::testing::AssertionResult;
using ::testing::AssertionSuccess;

// Ends the enclosing check with a failure naming the condition; more detail
// may be streamed after it.
#define FAIL_CHECK_UNLESS(condition) \
  if (condition) {} else return AssertionFailure() /* NOLINT */ \
      << #condition << ": "

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

// Deliberately broken layers, to show that every check of the squares below
// fails for a layer that gets them wrong. Each wraps the real layer, which
// says where the square should be (it blanks a probe blob alongside).
enum Variant {
  kReal,
  kDoesNothing,     // the identity, forward and backward
  kWrongSquare,     // the square one row short; backward zeroes the full one
  kMisplacedSquare  // the square one row lower (higher where it cannot)
};

const char* VariantName(Variant variant) {
  switch (variant) {
    case kReal: return "the real layer";
    case kDoesNothing: return "a layer that does nothing";
    case kWrongSquare: return "a layer that blanks one row too few";
    case kMisplacedSquare: return "a layer that blanks the square one row off";
  }
  return "?";
}

template <typename Dtype>
class BrokenBlankSquareLayer : public Layer<Dtype> {
 public:
  BrokenBlankSquareLayer(const LayerParameter& param, Variant variant)
      : Layer<Dtype>(param), variant_(variant), real_(param) {}
  virtual inline const char* type() const { return "BrokenBlankSquare"; }
  virtual void LayerSetUp(const vector<Blob<Dtype>*>& bottom,
      const vector<Blob<Dtype>*>& top) {
    probe_.ReshapeLike(*bottom[0]);
    real_.SetUp(vector<Blob<Dtype>*>(1, &probe_),
                vector<Blob<Dtype>*>(1, &probe_));
  }
  virtual void Reshape(const vector<Blob<Dtype>*>& bottom,
      const vector<Blob<Dtype>*>& top) {
    if (top[0] != bottom[0]) top[0]->ReshapeLike(*bottom[0]);
    probe_.ReshapeLike(*bottom[0]);
    real_.Reshape(vector<Blob<Dtype>*>(1, &probe_),
                  vector<Blob<Dtype>*>(1, &probe_));
  }

 protected:
  virtual void Forward_cpu(const vector<Blob<Dtype>*>& bottom,
      const vector<Blob<Dtype>*>& top) {
    if (top[0] != bottom[0]) top[0]->CopyFrom(*bottom[0]);
    if (variant_ == kDoesNothing) return;
    const Dtype fill = this->layer_param_.blank_square_param().fill_value();
    caffe_set(probe_.count(), fill + 1, probe_.mutable_cpu_data());
    real_.Forward(vector<Blob<Dtype>*>(1, &probe_),
                  vector<Blob<Dtype>*>(1, &probe_));
    squares_.clear();
    const int height = probe_.shape(-2), width = probe_.shape(-1);
    for (int n = 0; n < probe_.shape(0); ++n) {
      Rect r = {height, width, 0, 0, 0};
      const Dtype* plane = probe_.cpu_data() + n * probe_.count(1);
      for (int i = 0; i < height * width; ++i) {
        if (plane[i] != fill) continue;
        r.y0 = std::min(r.y0, i / width); r.x0 = std::min(r.x0, i % width);
        r.y1 = std::max(r.y1, i / width + 1);
        r.x1 = std::max(r.x1, i % width + 1);
        ++r.pixels;
      }
      squares_.push_back(r);
    }
    for (int n = 0; n < probe_.shape(0); ++n) {
      Rect r = squares_[n];
      if (r.empty()) continue;
      if (variant_ == kWrongSquare) {
        --r.y1;
      } else if (r.y1 < height) {
        ++r.y0, ++r.y1;
      } else if (r.y0 > 0) {
        --r.y0, --r.y1;
      }
      Paint(r, n, fill, top[0]->mutable_cpu_data());
      if (variant_ == kMisplacedSquare) squares_[n] = r;
    }
  }
  virtual void Backward_cpu(const vector<Blob<Dtype>*>& top,
      const vector<bool>& propagate_down, const vector<Blob<Dtype>*>& bottom) {
    if (top[0] != bottom[0]) {
      caffe_copy(top[0]->count(), top[0]->cpu_diff(),
                 bottom[0]->mutable_cpu_diff());
    }
    if (variant_ == kDoesNothing) return;
    for (size_t n = 0; n < squares_.size(); ++n) {
      if (!squares_[n].empty()) {
        Paint(squares_[n], n, Dtype(0), bottom[0]->mutable_cpu_diff());
      }
    }
  }
  virtual void Forward_gpu(const vector<Blob<Dtype>*>& bottom,
      const vector<Blob<Dtype>*>& top) {
    Forward_cpu(bottom, top);
  }
  virtual void Backward_gpu(const vector<Blob<Dtype>*>& top,
      const vector<bool>& propagate_down, const vector<Blob<Dtype>*>& bottom) {
    Backward_cpu(top, propagate_down, bottom);
  }

 private:
  // Writes value into rectangle r of every channel of image n.
  void Paint(const Rect& r, int n, Dtype value, Dtype* data) const {
    const int height = probe_.shape(-2), width = probe_.shape(-1);
    const int channels = probe_.count(1) / (height * width);
    for (int c = 0; c < channels; ++c) {
      Dtype* plane = data + (n * channels + c) * height * width;
      for (int y = r.y0; y < r.y1; ++y) {
        std::fill(plane + y * width + r.x0, plane + y * width + r.x1, value);
      }
    }
  }

  const Variant variant_;
  BlankSquareLayer<Dtype> real_;
  Blob<Dtype> probe_;
  vector<Rect> squares_;
};

// Puts the solver rank back however a check ends: the test driver resets
// it before each case, but one case runs several checks in turn.
class SolverRankGuard {
 public:
  SolverRankGuard() : rank_(Caffe::solver_rank()) {}
  ~SolverRankGuard() { Caffe::set_solver_rank(rank_); }
 private:
  const int rank_;
};

enum Occluded { kEveryImage, kSomeImages };

// The checks of the squares are functions returning an AssertionResult, so
// that the tests below can assert them for the real layer and their failure
// for each broken one (TestChecksFailForBrokenLayers).
template <typename TypeParam>
class BlankSquareLayerTest : public MultiDeviceTest<TypeParam> {
  typedef typename TypeParam::Dtype Dtype;

 public:
  BlankSquareLayerTest() : variant_(kReal) {
    bottom_.push_back(&in_);
    top_.push_back(&out_);
    Reset();
  }

  // The default case: 4 x 3 x 28 x 28 inputs, default parameters.
  void Reset() {
    Reshape(vector<int>{4, 3, 28, 28});
    param_.Clear();
    param_.set_name("occlude");
    param_.set_type("BlankSquare");
    param_.add_bottom("data");
  }

  void Reshape(const vector<int>& shape) {
    in_.Reshape(shape);
    FillerParameter filler_param;
    filler_param.set_min(1);
    filler_param.set_max(2);
    Caffe::set_random_seed(1701);
    UniformFiller<Dtype> filler(filler_param);
    filler.Fill(&in_);
  }

  BlankSquareParameter* blank() { return param_.mutable_blank_square_param(); }

  // The layer under test (real or broken), not yet set up.
  shared_ptr<Layer<Dtype> > NewLayer() {
    if (variant_ == kReal) {
      return shared_ptr<Layer<Dtype> >(new BlankSquareLayer<Dtype>(param_));
    }
    return shared_ptr<Layer<Dtype> >(
        new BrokenBlankSquareLayer<Dtype>(param_, variant_));
  }

  // A layer set up right after seeding, so that its squares depend on seed.
  shared_ptr<Layer<Dtype> > MakeLayer(int seed = 1701) {
    Caffe::set_random_seed(seed);
    shared_ptr<Layer<Dtype> > layer = NewLayer();
    layer->SetUp(bottom_, top_);
    return layer;
  }

  // Finds each image's blanked rectangle in the output and checks that it is
  // h x w, the same in every channel, and that everything else equals the
  // input; with kEveryImage, that no image was left alone.
  AssertionResult Squares(int h, int w, Occluded occluded,
                          vector<Rect>* rects) {
    rects->clear();
    const int channels = in_.count(1, in_.num_axes() - 2);
    for (int n = 0; n < in_.shape(0); ++n) {
      const Rect first = BlankedRect(out_, n, 0);
      FAIL_CHECK_UNLESS(occluded == kSomeImages || !first.empty())
          << "image " << n << " has no blanked square";
      if (!first.empty()) {
        FAIL_CHECK_UNLESS(first.y1 - first.y0 == h && first.x1 - first.x0 == w
                          && first.pixels == h * w)
            << "image " << n << ": expected " << h << "x" << w << ", got "
            << first.y1 - first.y0 << "x" << first.x1 - first.x0
            << " rows/columns, " << first.pixels << " pixels";
      }
      for (int c = 1; c < channels; ++c) {
        const Rect r = BlankedRect(out_, n, c);
        FAIL_CHECK_UNLESS(r.y0 == first.y0 && r.x0 == first.x0 &&
                          r.pixels == first.pixels)
            << "image " << n << " channel " << c << " differs from channel 0";
      }
      rects->push_back(first);
    }
    for (int i = 0; i < in_.count(); ++i) {
      const Dtype out = out_.cpu_data()[i];
      FAIL_CHECK_UNLESS(out == 0 || out == in_.cpu_data()[i])
          << "element " << i << " outside the squares changed";
    }
    return AssertionSuccess();
  }

  AssertionResult OneSquareForTheBatchByDefault() {
    MakeLayer()->Forward(bottom_, top_);
    vector<Rect> rects;
    AssertionResult found = Squares(14, 14, kEveryImage, &rects);
    if (!found) return found;
    for (const Rect& r : rects) {
      FAIL_CHECK_UNLESS(r.y0 == rects[0].y0 && r.x0 == rects[0].x0);
    }
    return AssertionSuccess();
  }

  AssertionResult SizesForRatiosAndOddShapes() {
    // floor(ratio x side), worked out by hand. The ratio is a float: 0.7f is
    // 0.69999999, and 0.7f x 10 must still give 7.
    struct Case { vector<int> shape; float ratio; int h, w; };
    const Case cases[] = {
      {{2, 1, 28, 28}, 0.5f, 14, 14}, {{2, 1, 28, 28}, 0.25f, 7, 7},
      {{2, 1, 28, 28}, 0.3f, 8, 8},   {{2, 1, 28, 28}, 0.7f, 19, 19},
      {{2, 1, 28, 28}, 1.0f, 28, 28},
      {{2, 2, 27, 13}, 0.5f, 13, 6},  {{2, 2, 27, 13}, 0.25f, 6, 3},
      {{2, 2, 27, 13}, 0.3f, 8, 3},   {{2, 2, 27, 13}, 0.7f, 18, 9},
      {{2, 2, 27, 13}, 1.0f, 27, 13},
      {{3, 10, 7}, 0.5f, 5, 3},       {{3, 10, 7}, 0.25f, 2, 1},
      {{3, 10, 7}, 0.3f, 3, 2},       {{3, 10, 7}, 0.7f, 7, 4},
      {{3, 10, 7}, 1.0f, 10, 7},
      {{1, 2, 3, 11, 9}, 0.5f, 5, 4}, {{1, 2, 3, 11, 9}, 0.25f, 2, 2},
      {{1, 2, 3, 11, 9}, 0.3f, 3, 2}, {{1, 2, 3, 11, 9}, 0.7f, 7, 6},
      {{1, 2, 3, 11, 9}, 1.0f, 11, 9},
    };
    for (const Case& c : cases) {
      Reshape(c.shape);
      blank()->set_ratio(c.ratio);
      MakeLayer()->Forward(bottom_, top_);
      vector<Rect> rects;
      AssertionResult found = Squares(c.h, c.w, kEveryImage, &rects);
      if (!found) {
        return found << " (ratio " << c.ratio << ", shape "
                     << in_.shape_string() << ")";
      }
    }
    return AssertionSuccess();
  }

  // One layer, its input reshaped between passes (as Layer::Forward
  // reshapes before every pass): each pass's squares fit that pass's shape.
  AssertionResult FollowsReshapesBetweenPasses() {
    struct Case { vector<int> shape; int h, w; };
    const Case cases[] = {{{4, 3, 28, 28}, 14, 14}, {{2, 2, 27, 13}, 13, 6},
                          {{6, 1, 10, 10}, 5, 5}, {{6, 1, 10, 10}, 5, 5},
                          {{4, 3, 28, 28}, 14, 14}};
    blank()->set_per_sample(true);
    shared_ptr<Layer<Dtype> > layer;
    for (const Case& c : cases) {
      Reshape(c.shape);
      if (!layer) layer = MakeLayer();
      layer->Forward(bottom_, top_);
      FAIL_CHECK_UNLESS(out_.shape() == in_.shape())
          << "top " << out_.shape_string() << " after bottom "
          << in_.shape_string();
      vector<Rect> rects;
      AssertionResult found = Squares(c.h, c.w, kEveryImage, &rects);
      if (!found) return found << " (shape " << in_.shape_string() << ")";
    }
    return AssertionSuccess();
  }

  AssertionResult PerSampleSquaresDiffer() {
    Reshape(vector<int>{64, 1, 28, 28});
    blank()->set_per_sample(true);
    MakeLayer()->Forward(bottom_, top_);
    vector<Rect> rects;
    AssertionResult found = Squares(14, 14, kEveryImage, &rects);
    if (!found) return found;
    std::set<std::pair<int, int> > positions;
    for (const Rect& r : rects) positions.insert(std::make_pair(r.y0, r.x0));
    // 64 draws from 15 x 15 places: fewer than 30 distinct is ~impossible.
    FAIL_CHECK_UNLESS(positions.size() > 30) << positions.size();
    return AssertionSuccess();
  }

  AssertionResult PositionsCoverEveryPlaceUniformly() {
    // 8 x 8 images, 4 x 4 squares: rows 0..4 and columns 0..4, 5000 draws.
    Reshape(vector<int>{5000, 1, 8, 8});
    blank()->set_per_sample(true);
    MakeLayer()->Forward(bottom_, top_);
    vector<Rect> rects;
    AssertionResult found = Squares(4, 4, kEveryImage, &rects);
    if (!found) return found;
    vector<int> rows(5, 0), cols(5, 0);
    for (const Rect& r : rects) {
      ++rows[r.y0];
      ++cols[r.x0];
    }
    // Expected 1000 each, standard deviation ~28: 6 sigma bounds.
    for (int i = 0; i < 5; ++i) {
      FAIL_CHECK_UNLESS(std::abs(rows[i] - 1000) <= 170) << "row " << i
          << ": " << rows[i];
      FAIL_CHECK_UNLESS(std::abs(cols[i] - 1000) <= 170) << "column " << i
          << ": " << cols[i];
    }
    return AssertionSuccess();
  }

  AssertionResult ProbabilityHalfPerSample() {
    Reshape(vector<int>{4000, 1, 4, 4});
    blank()->set_per_sample(true);
    blank()->set_probability(0.5);
    MakeLayer()->Forward(bottom_, top_);
    vector<Rect> rects;
    AssertionResult found = Squares(2, 2, kSomeImages, &rects);
    if (!found) return found;
    int occluded = 0;
    for (const Rect& r : rects) occluded += !r.empty();
    // Binomial(4000, 0.5): standard deviation ~32; 6 sigma.
    FAIL_CHECK_UNLESS(std::abs(occluded - 2000) <= 190) << occluded;
    return AssertionSuccess();
  }

  AssertionResult ProbabilityHalfPerBatch() {
    Reshape(vector<int>{3, 1, 4, 4});
    blank()->set_probability(0.5);
    shared_ptr<Layer<Dtype> > layer = MakeLayer();
    int occluded = 0;
    for (int pass = 0; pass < 1000; ++pass) {
      layer->Forward(bottom_, top_);
      vector<Rect> rects;
      AssertionResult found = Squares(2, 2, kSomeImages, &rects);
      if (!found) return found << " (pass " << pass << ")";
      // The whole batch is occluded or none of it.
      for (const Rect& r : rects) {
        FAIL_CHECK_UNLESS(r.empty() == rects[0].empty()) << "pass " << pass;
      }
      occluded += !rects[0].empty();
    }
    FAIL_CHECK_UNLESS(std::abs(occluded - 500) <= 95)  // deviation ~16
        << occluded;
    return AssertionSuccess();
  }

  AssertionResult InPlaceEqualsOutOfPlace() {
    blank()->set_per_sample(true);
    MakeLayer(7)->Forward(bottom_, top_);
    vector<Rect> rects;
    AssertionResult found = Squares(14, 14, kEveryImage, &rects);
    if (!found) return found;
    Blob<Dtype> data;
    data.CopyFrom(in_, false, true);
    vector<Blob<Dtype>*> in_place(1, &data);
    Caffe::set_random_seed(7);
    shared_ptr<Layer<Dtype> > same_seed = NewLayer();
    same_seed->SetUp(in_place, in_place);
    same_seed->Forward(in_place, in_place);
    for (int i = 0; i < data.count(); ++i) {
      FAIL_CHECK_UNLESS(out_.cpu_data()[i] == data.cpu_data()[i])
          << "element " << i;
    }
    return AssertionSuccess();
  }

  AssertionResult LargeBatchOutOfPlace() {
    // Odd widths: every run and square row starts at a different
    // alignment. 20 MB of floats: above the CPU's 16 MiB threshold for
    // streaming stores.
    Reshape(vector<int>{32, 3, 229, 233});
    blank()->set_per_sample(true);
    blank()->set_probability(0.8);
    MakeLayer(11)->Forward(bottom_, top_);
    vector<Rect> rects;
    AssertionResult found = Squares(114, 116, kSomeImages, &rects);
    if (!found) return found;
    int occluded = 0;
    for (const Rect& r : rects) occluded += !r.empty();
    FAIL_CHECK_UNLESS(occluded > 16 && occluded < 32) << occluded;
    return AssertionSuccess();
  }

  AssertionResult GradientPassesOutsideSquare() {
    blank()->set_per_sample(true);
    shared_ptr<Layer<Dtype> > layer = MakeLayer();
    layer->Forward(bottom_, top_);
    vector<Rect> rects;
    AssertionResult found = Squares(14, 14, kEveryImage, &rects);
    if (!found) return found;
    // A top diff of distinct values; the squares of the last forward pass
    // decide the gradient: zero inside, the top diff outside.
    Blob<Dtype> top_diff(out_.shape());
    FillerParameter filler_param;
    GaussianFiller<Dtype> filler(filler_param);
    filler.Fill(&top_diff);
    caffe_copy(top_diff.count(), top_diff.cpu_data(), out_.mutable_cpu_diff());
    layer->Backward(top_, vector<bool>(1, true), bottom_);
    vector<PixelYX> corners;
    for (const Rect& r : rects) corners.push_back(PixelYX{r.y0, r.x0});
    vector<double> expected;
    reference::BlankSquareReference(in_.shape(), 14, 14, corners, 0,
        vector<double>(top_diff.cpu_data(),
                       top_diff.cpu_data() + top_diff.count()), &expected);
    for (int i = 0; i < in_.count(); ++i) {
      FAIL_CHECK_UNLESS(in_.cpu_diff()[i] == Dtype(expected[i]))
          << "element " << i;
    }
    return AssertionSuccess();
  }

  AssertionResult InPlaceBackwardZeroesOnlyTheSquare() {
    Blob<Dtype> data;
    data.CopyFrom(in_, false, true);
    vector<Blob<Dtype>*> in_place(1, &data);
    Caffe::set_random_seed(1701);
    shared_ptr<Layer<Dtype> > layer = NewLayer();
    layer->SetUp(in_place, in_place);
    layer->Forward(in_place, in_place);
    caffe_set(data.count(), Dtype(3), data.mutable_cpu_diff());
    layer->Backward(in_place, vector<bool>(1, true), in_place);
    int zeros = 0;
    for (int i = 0; i < data.count(); ++i) {
      const bool blanked = data.cpu_data()[i] == 0;
      FAIL_CHECK_UNLESS(data.cpu_diff()[i] == (blanked ? Dtype(0) : Dtype(3)))
          << "element " << i;
      zeros += blanked;
    }
    FAIL_CHECK_UNLESS(zeros == 4 * 3 * 14 * 14) << zeros;
    return AssertionSuccess();
  }

  AssertionResult ApplyInTest() {
    param_.set_phase(TEST);
    blank()->set_apply_in_test(true);
    MakeLayer()->Forward(bottom_, top_);
    vector<Rect> rects;
    return Squares(14, 14, kEveryImage, &rects);
  }

  AssertionResult SeedDecidesSquares() {
    SolverRankGuard rank_guard;
    blank()->set_per_sample(true);
    // Three passes of each layer: same seed, same squares; another seed or
    // another solver rank, different squares.
    vector<vector<Rect> > runs[4];
    const int seeds[] = {1701, 1701, 1702, 1701};
    for (int run = 0; run < 4; ++run) {
      Caffe::set_solver_rank(run == 3 ? 1 : 0);
      shared_ptr<Layer<Dtype> > layer = MakeLayer(seeds[run]);
      for (int pass = 0; pass < 3; ++pass) {
        layer->Forward(bottom_, top_);
        vector<Rect> rects;
        AssertionResult found = Squares(14, 14, kEveryImage, &rects);
        if (!found) return found << " (run " << run << ")";
        runs[run].push_back(rects);
      }
    }
    std::set<std::pair<int, int> > passes;
    for (int pass = 0; pass < 3; ++pass) {
      for (int n = 0; n < 4; ++n) {
        FAIL_CHECK_UNLESS(runs[0][pass][n].y0 == runs[1][pass][n].y0 &&
                          runs[0][pass][n].x0 == runs[1][pass][n].x0);
        passes.insert(std::make_pair(runs[0][pass][n].y0, runs[0][pass][n].x0));
      }
    }
    FAIL_CHECK_UNLESS(passes.size() > 6);  // passes draw new squares
    for (int other = 2; other < 4; ++other) {
      int same = 0;
      for (int pass = 0; pass < 3; ++pass) {
        for (int n = 0; n < 4; ++n) {
          same += runs[0][pass][n].y0 == runs[other][pass][n].y0 &&
                  runs[0][pass][n].x0 == runs[other][pass][n].x0;
        }
      }
      FAIL_CHECK_UNLESS(same < 3) << "run " << other << ": " << same;
    }
    return AssertionSuccess();
  }

  AssertionResult FixedOffsetsWithProbabilityHalf() {
    Reshape(vector<int>{400, 1, 8, 8});
    blank()->set_per_sample(true);
    blank()->set_probability(0.5);
    blank()->set_offset_h(1);
    blank()->set_offset_w(3);
    MakeLayer()->Forward(bottom_, top_);
    vector<Rect> rects;
    AssertionResult found = Squares(4, 4, kSomeImages, &rects);
    if (!found) return found;
    int occluded = 0;
    for (const Rect& r : rects) {
      if (r.empty()) continue;
      FAIL_CHECK_UNLESS(r.y0 == 1 && r.x0 == 3);
      ++occluded;
    }
    // Binomial(400, 0.5): standard deviation 10; 6 sigma.
    FAIL_CHECK_UNLESS(std::abs(occluded - 200) <= 60) << occluded;
    return AssertionSuccess();
  }

  Variant variant_;
  Blob<Dtype> in_;
  Blob<Dtype> out_;
  vector<Blob<Dtype>*> bottom_;
  vector<Blob<Dtype>*> top_;
  LayerParameter param_;
};

TYPED_TEST_CASE(BlankSquareLayerTest, TestDtypesAndDevices);

TYPED_TEST(BlankSquareLayerTest, TestOneSquareForTheBatchByDefault) {
  EXPECT_TRUE(this->OneSquareForTheBatchByDefault());
}

TYPED_TEST(BlankSquareLayerTest, TestSizesForRatiosAndOddShapes) {
  EXPECT_TRUE(this->SizesForRatiosAndOddShapes());
}

TYPED_TEST(BlankSquareLayerTest, TestFollowsReshapesBetweenPasses) {
  EXPECT_TRUE(this->FollowsReshapesBetweenPasses());
}

TYPED_TEST(BlankSquareLayerTest, TestPerSampleSquaresDiffer) {
  EXPECT_TRUE(this->PerSampleSquaresDiffer());
}

TYPED_TEST(BlankSquareLayerTest, TestPositionsCoverEveryPlaceUniformly) {
  EXPECT_TRUE(this->PositionsCoverEveryPlaceUniformly());
}

TYPED_TEST(BlankSquareLayerTest, TestProbabilityHalfPerSample) {
  EXPECT_TRUE(this->ProbabilityHalfPerSample());
}

TYPED_TEST(BlankSquareLayerTest, TestProbabilityHalfPerBatch) {
  EXPECT_TRUE(this->ProbabilityHalfPerBatch());
}

TYPED_TEST(BlankSquareLayerTest, TestInPlaceEqualsOutOfPlace) {
  EXPECT_TRUE(this->InPlaceEqualsOutOfPlace());
}

TYPED_TEST(BlankSquareLayerTest, TestLargeBatchOutOfPlace) {
  EXPECT_TRUE(this->LargeBatchOutOfPlace());
}

TYPED_TEST(BlankSquareLayerTest, TestGradientPassesOutsideSquare) {
  EXPECT_TRUE(this->GradientPassesOutsideSquare());
}

TYPED_TEST(BlankSquareLayerTest, TestInPlaceBackwardZeroesOnlyTheSquare) {
  EXPECT_TRUE(this->InPlaceBackwardZeroesOnlyTheSquare());
}

TYPED_TEST(BlankSquareLayerTest, TestApplyInTest) {
  EXPECT_TRUE(this->ApplyInTest());
}

TYPED_TEST(BlankSquareLayerTest, TestSeedDecidesSquares) {
  EXPECT_TRUE(this->SeedDecidesSquares());
}

TYPED_TEST(BlankSquareLayerTest, TestFixedOffsetsWithProbabilityHalf) {
  EXPECT_TRUE(this->FixedOffsetsWithProbabilityHalf());
}

// Every check of the squares above fails for each broken layer it is meant
// to catch: one that does nothing, one whose square is a row short (and
// whose backward disagrees with its forward), and, for the checks that know
// where the square belongs, one that blanks it a row off.
TYPED_TEST(BlankSquareLayerTest, TestChecksFailForBrokenLayers) {
  typedef BlankSquareLayerTest<TypeParam> Test;
  struct Check {
    const char* name;
    AssertionResult (Test::*run)();
    bool knows_the_place;
  };
  const Check checks[] = {
    {"OneSquareForTheBatchByDefault",
     &Test::OneSquareForTheBatchByDefault, false},
    {"SizesForRatiosAndOddShapes", &Test::SizesForRatiosAndOddShapes, false},
    {"PerSampleSquaresDiffer", &Test::PerSampleSquaresDiffer, false},
    {"PositionsCoverEveryPlaceUniformly",
     &Test::PositionsCoverEveryPlaceUniformly, true},
    {"ProbabilityHalfPerSample", &Test::ProbabilityHalfPerSample, false},
    {"ProbabilityHalfPerBatch", &Test::ProbabilityHalfPerBatch, false},
    {"InPlaceEqualsOutOfPlace", &Test::InPlaceEqualsOutOfPlace, false},
    {"LargeBatchOutOfPlace", &Test::LargeBatchOutOfPlace, false},
    {"GradientPassesOutsideSquare", &Test::GradientPassesOutsideSquare, false},
    {"InPlaceBackwardZeroesOnlyTheSquare",
     &Test::InPlaceBackwardZeroesOnlyTheSquare, false},
    {"ApplyInTest", &Test::ApplyInTest, false},
    {"SeedDecidesSquares", &Test::SeedDecidesSquares, false},
    {"FixedOffsetsWithProbabilityHalf",
     &Test::FixedOffsetsWithProbabilityHalf, true},
  };
  for (const Variant variant : {kDoesNothing, kWrongSquare, kMisplacedSquare}) {
    for (const Check& check : checks) {
      if (variant == kMisplacedSquare && !check.knows_the_place) continue;
      this->variant_ = variant;
      this->Reset();
      AssertionResult result = (this->*check.run)();
      EXPECT_FALSE(result) << check.name << " passes for "
                           << VariantName(variant);
      if (!result) {
        std::cout << "[ caught   ] " << VariantName(variant) << " by "
                  << check.name << ": " << result.message() << std::endl;
      }
    }
  }
  this->variant_ = kReal;
}

TYPED_TEST(BlankSquareLayerTest, TestSetUpLeavesCaffeRandomStreamAlone) {
  typedef typename TypeParam::Dtype Dtype;
  // What Caffe's generator gives after seeding, with and without setting up
  // the layer first: the same, so the layers after it (their weight fillers)
  // start from the same values in a net with and without BlankSquare.
  Caffe::set_random_seed(31);
  vector<unsigned int> expected;
  for (int i = 0; i < 4; ++i) expected.push_back(caffe_rng_rand());
  Caffe::set_random_seed(31);
  BlankSquareLayer<Dtype> layer(this->param_);
  layer.SetUp(this->bottom_, this->top_);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(expected[i], caffe_rng_rand()) << i;
}

TYPED_TEST(BlankSquareLayerTest, TestLayerNameDecidesSquaresToo) {
  typedef typename TypeParam::Dtype Dtype;
  // Two layers set up at the same point of the same seed's stream (nothing
  // draws in between) but with different names draw different squares.
  this->blank()->set_per_sample(true);
  Blob<Dtype> other_out;
  vector<Blob<Dtype>*> other_top(1, &other_out);
  LayerParameter other_param(this->param_);
  other_param.set_name("occlude_again");
  Caffe::set_random_seed(1701);
  BlankSquareLayer<Dtype> layer(this->param_), other(other_param);
  layer.SetUp(this->bottom_, this->top_);
  other.SetUp(this->bottom_, other_top);
  layer.Forward(this->bottom_, this->top_);
  other.Forward(this->bottom_, other_top);
  int same = 0;
  for (int n = 0; n < 4; ++n) {
    const Rect a = BlankedRect(this->out_, n, 0);
    const Rect b = BlankedRect(other_out, n, 0);
    ASSERT_FALSE(a.empty());
    ASSERT_FALSE(b.empty());
    same += a.y0 == b.y0 && a.x0 == b.x0;
  }
  EXPECT_LT(same, 2);  // chance of 2 or more equal of 4: ~1e-4
}

TYPED_TEST(BlankSquareLayerTest, TestBadParametersFailAtSetup) {
  typedef typename TypeParam::Dtype Dtype;
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
  struct Case { float ratio, probability; int offset_h, offset_w;
                const char* message; };
  const Case cases[] = {
    {0, 1, -1, -1, "BlankSquare layer 'occlude': blank_square_param.ratio "
                   "must be in \\(0, 1\\], got 0"},
    {1.5, 1, -1, -1, "ratio must be in \\(0, 1\\], got 1.5"},
    {0.5, -0.1, -1, -1, "probability must be in \\[0, 1\\], got -0.1"},
    {0.5, 1.5, -1, -1, "probability must be in \\[0, 1\\], got 1.5"},
    // floor(0.03 * 28) = 0
    {0.03, 1, -1, -1, "BlankSquare layer 'occlude': ratio 0.03 of 28x28 "
                      "images is a square of zero pixels"},
    {0.5, 1, 3, -1, "BlankSquare layer 'occlude': set both "
                    "blank_square_param.offset_h and offset_w, or neither"},
    {0.5, 1, -1, 0, "set both blank_square_param.offset_h and offset_w"},
    {0.5, 1, 15, 0, "BlankSquare layer 'occlude': a 14x14 square at offset_h "
                    "15, offset_w 0 does not fit in 28x28 images \\(offsets "
                    "up to 14, 14\\)"},
    {0.25, 1, 0, 22, "a 7x7 square at offset_h 0, offset_w 22 does not fit"},
  };
  for (const Case& c : cases) {
    this->Reset();
    this->blank()->set_ratio(c.ratio);
    this->blank()->set_probability(c.probability);
    if (c.offset_h >= 0) this->blank()->set_offset_h(c.offset_h);
    if (c.offset_w >= 0) this->blank()->set_offset_w(c.offset_w);
    BlankSquareLayer<Dtype> layer(this->param_);
    EXPECT_DEATH(layer.SetUp(this->bottom_, this->top_), c.message);
  }
}

TYPED_TEST(BlankSquareLayerTest, TestBadShapesAndCountsFailAtSetup) {
  typedef typename TypeParam::Dtype Dtype;
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
  {
    this->in_.Reshape(vector<int>{4, 28});
    BlankSquareLayer<Dtype> layer(this->param_);
    EXPECT_DEATH(layer.SetUp(this->bottom_, this->top_),
                 "BlankSquare layer 'occlude': bottom 'data' "
                 "\\(4 28 \\(112\\)\\) needs at least 3 axes");
  }
  {
    vector<Blob<Dtype>*> two_bottoms(2, &this->in_);
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

// Forward and backward `passes` times on one device; each pass's output
// and bottom gradient, appended to *results.
template <typename Dtype>
void RunBlankSquare(Caffe::Brew mode, const LayerParameter& param,
    const Blob<Dtype>& input, bool in_place, int passes,
    vector<vector<Dtype> >* results) {
  Caffe::set_mode(mode);
  Blob<Dtype> data, out;
  vector<Blob<Dtype>*> bottom(1, &data);
  vector<Blob<Dtype>*> top(1, in_place ? &data : &out);
  Caffe::set_random_seed(99);
  BlankSquareLayer<Dtype> layer(param);
  data.CopyFrom(input, false, true);
  layer.SetUp(bottom, top);
  for (int pass = 0; pass < passes; ++pass) {
    data.CopyFrom(input);
    layer.Forward(bottom, top);
    results->push_back(vector<Dtype>(top[0]->cpu_data(),
                                     top[0]->cpu_data() + top[0]->count()));
    caffe_copy(input.count(), input.cpu_data(), top[0]->mutable_cpu_diff());
    layer.Backward(top, vector<bool>(1, true), bottom);
    results->push_back(vector<Dtype>(bottom[0]->cpu_diff(),
                                     bottom[0]->cpu_diff() + input.count()));
  }
}

TYPED_TEST(BlankSquareLayerGPUTest, TestCPUAndGPUBitwiseEqual) {
  typedef TypeParam Dtype;
  // Widths where rows start at every 16-byte alignment (27x31, 9x7), rows
  // of whole vectors (16x32), wide rows that loop over a warp's lanes
  // (11x203), and a square narrower than a vector (5x3 at ratio 0.4: 2x1).
  const vector<vector<int> > shapes = {{16, 3, 27, 31}, {5, 2, 9, 7},
      {4, 3, 16, 32}, {3, 1, 11, 203}, {6, 2, 5, 3}};
  for (const vector<int>& shape : shapes)
  // Random and fixed places, per batch and per sample, out of and in
  // place; probability 0.7: most passes occlude, some (likely) do not.
  for (int fixed = 0; fixed < 2; ++fixed)
  for (int per_sample = 0; per_sample < 2; ++per_sample)
  for (int in_place = 0; in_place < 2; ++in_place) {
    Blob<Dtype> input(shape);
    FillerParameter filler_param;
    GaussianFiller<Dtype> filler(filler_param);
    filler.Fill(&input);
    LayerParameter param;
    param.set_name("occlude");
    BlankSquareParameter* blank = param.mutable_blank_square_param();
    blank->set_per_sample(per_sample);
    blank->set_ratio(0.4);
    blank->set_fill_value(-3);
    blank->set_probability(0.7);
    if (fixed) {
      blank->set_offset_h(shape[2] / 3);
      blank->set_offset_w(shape[3] / 2);
    }
    vector<vector<Dtype> > cpu, gpu;
    const int kPasses = 6;
    RunBlankSquare(Caffe::CPU, param, input, in_place, kPasses, &cpu);
    RunBlankSquare(Caffe::GPU, param, input, in_place, kPasses, &gpu);
    int blanked = 0;
    for (size_t r = 0; r < cpu.size(); ++r) {
      for (size_t i = 0; i < cpu[r].size(); ++i) {
        ASSERT_EQ(cpu[r][i], gpu[r][i])
            << (r % 2 ? "gradient" : "output") << " of pass " << r / 2
            << ", element " << i << ", shape " << shape[0] << "x" << shape[1]
            << "x" << shape[2] << "x" << shape[3] << ", fixed " << fixed
            << ", per_sample " << per_sample << ", in_place " << in_place;
        blanked += r % 2 == 0 && cpu[r][i] == Dtype(-3);
      }
    }
    EXPECT_GT(blanked, 0);
  }
}

TYPED_TEST(BlankSquareLayerGPUTest, TestBackwardAfterCpuForward) {
  typedef TypeParam Dtype;
  // The forward pass on the CPU, the backward on the GPU: the GPU draws
  // the squares the CPU used, per batch and per sample (recomputed from the
  // seed and the pass counter, not copied from the host).
  for (int per_sample = 0; per_sample < 2; ++per_sample) {
    Blob<Dtype> data(vector<int>{8, 2, 13, 17}), out, gradient[2];
    FillerParameter filler_param;
    filler_param.set_min(1);
    filler_param.set_max(2);
    UniformFiller<Dtype> filler(filler_param);
    filler.Fill(&data);
    LayerParameter param;
    param.set_name("occlude");
    param.mutable_blank_square_param()->set_per_sample(per_sample);
    vector<Blob<Dtype>*> bottom(1, &data), top(1, &out);
    for (int device = 0; device < 2; ++device) {
      Caffe::set_mode(Caffe::CPU);
      Caffe::set_random_seed(5);
      BlankSquareLayer<Dtype> layer(param);
      layer.SetUp(bottom, top);
      layer.Forward(bottom, top);
      caffe_set(out.count(), Dtype(1), out.mutable_cpu_diff());
      Caffe::set_mode(device == 0 ? Caffe::CPU : Caffe::GPU);
      layer.Backward(top, vector<bool>(1, true), bottom);
      gradient[device].CopyFrom(data, true, true);
    }
    int zeroed = 0;
    for (int i = 0; i < data.count(); ++i) {
      ASSERT_EQ(gradient[0].cpu_diff()[i], gradient[1].cpu_diff()[i]) << i;
      zeroed += gradient[0].cpu_diff()[i] == 0;
    }
    EXPECT_GT(zeroed, 0);
  }
}

// Blobs near INT_MAX elements: 64-bit offsets and loop counters (a 32-bit
// grid-stride loop would overflow here). Needs 8.6 GB of device memory per
// float blob; skipped, with the reason, where there is not enough.
// Why a case needing `bytes` of device memory cannot run here; empty when it
// can.
std::string LackOfDeviceMemory(size_t bytes) {
  size_t free_bytes = 0, total_bytes = 0;
  CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  if (free_bytes >= bytes + (size_t(1) << 30)) return "";
  std::ostringstream why;
  why << "needs " << ((bytes >> 30) + 1) << " GiB of free device memory, "
      << (free_bytes >> 30) << " GiB free";
  return why.str();
}

TYPED_TEST(BlankSquareLayerGPUTest, TestLargeCount) {
  typedef TypeParam Dtype;
  // 2 x 1 x 32768 x 32767 = 2,147,418,112 elements, 65,535 below INT_MAX.
  const vector<int> shape{2, 1, 32768, 32767};
  const size_t count = size_t(2) * 32768 * 32767;
  for (int in_place = 0; in_place < 2; ++in_place) {
    const std::string lack =
        LackOfDeviceMemory((in_place ? 1 : 2) * count * sizeof(Dtype));
    if (!lack.empty()) GTEST_SKIP() << lack;
    // Every byte 0x3f: upstream's caffe_gpu_set counts in int and cannot
    // fill a blob this large.
    Blob<Dtype> data(shape), out;
    CUDA_CHECK(cudaMemset(data.mutable_gpu_data(), 0x3f,
                          count * sizeof(Dtype)));
    Dtype input_value;
    std::memset(&input_value, 0x3f, sizeof(input_value));
    LayerParameter param;
    param.set_name("occlude");
    BlankSquareParameter* blank = param.mutable_blank_square_param();
    blank->set_fill_value(-1);
    blank->set_offset_h(16383);  // rows 16383..32766 of 32768
    blank->set_offset_w(16384);  // columns 16384..32766 of 32767
    vector<Blob<Dtype>*> bottom(1, &data), top(1, in_place ? &data : &out);
    BlankSquareLayer<Dtype> layer(param);
    layer.SetUp(bottom, top);
    layer.Forward(bottom, top);
    // Rows around the square's top and bottom edges of the last image.
    const int width = 32767;
    vector<Dtype> row(width);
    for (int y : {16382, 16383, 32766, 32767}) {
      const size_t offset = (size_t(32768) + y) * width;
      CUDA_CHECK(cudaMemcpy(row.data(), top[0]->gpu_data() + offset,
          width * sizeof(Dtype), cudaMemcpyDeviceToHost));
      for (int x = 0; x < width; ++x) {
        const bool blank_pixel = y >= 16383 && y <= 32766 && x >= 16384;
        ASSERT_EQ(blank_pixel ? Dtype(-1) : input_value, row[x])
            << "row " << y << ", column " << x << ", in_place " << in_place;
      }
    }
  }
}
#endif

}  // namespace caffe
