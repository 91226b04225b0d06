// One reference per layer operation, and a table of cases per layer that
// drives every generic check of that layer from it (in the spirit of
// PyTorch's OpInfo).
//
// A layer's Op holds its reference forward and backward, written in double
// over plain vectors (never calling Caffe's kernels), and its cases: the
// LayerParameter as prototxt text, the bottoms' shapes and value ranges,
// which bottoms propagate down, the tolerances per Dtype, the gradient
// checker's step and threshold, and flags. REFERENCE_TESTS(Name, op) then
// defines, for every case of the table:
//   NameReferenceTest.Forward    the tops (and the state the layer keeps,
//                                and a loss layer's returned loss) equal
//                                the reference forward's;
//   NameReferenceTest.Backward   bottom diffs are assigned the reference's
//                                gradient, parameter diffs add it to what
//                                they held, and the diffs of bottoms and
//                                parameters not asked for stay as they were
//                                (where the op says they do);
//   NameReferenceTest.Gradient   GradientChecker agrees with Backward, where
//                                the case is differentiable;
//   NameReferenceTest.Placement  the results are bit-identical wherever the
//                                bottoms' and tops' buffers lie
//                                (PlacedBuffers);
//   NameReferenceGPUTest.CPUEqualsGPU (CUDA builds) both devices' forward
//                                and backward agree to the case's tolerance.
// Failures name the table, the case and the element.
#ifndef CAFFE_TEST_LAYER_REFERENCE_HPP_
#define CAFFE_TEST_LAYER_REFERENCE_HPP_

#include <google/protobuf/text_format.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

#include "caffe/blob.hpp"
#include "caffe/common.hpp"
#include "caffe/layer.hpp"
#include "caffe/layer_factory.hpp"
#include "caffe/proto/caffe.pb.h"
#include "caffe/util/math_functions.hpp"
#include "caffe/util/pixel_yx.hpp"

#include "caffe/test/test_caffe_main.hpp"
#include "caffe/test/test_gradient_check_util.hpp"
#include "caffe/test/test_placed_buffers.hpp"

namespace caffe {
namespace reference {

/// A blob's values in double, in Caffe's row-major order.
struct Tensor {
  std::vector<int> shape;
  std::vector<double> v;
  int count() const {
    int n = 1;
    for (int d : shape) n *= d;
    return n;
  }
  /// Shape and zeros of `count()` values.
  void Resize(const std::vector<int>& s) {
    shape = s;
    v.assign(count(), 0.0);
  }
};

/// One pass of a reference: what it reads and what it writes.
struct Pass {
  const LayerParameter* param;
  std::vector<Tensor> bottom;
  /// The layer's blobs (parameters, or state such as BatchNorm's moving
  /// averages) as they hold before the forward pass; a forward that keeps
  /// state updates them as the layer must.
  std::vector<Tensor> blobs;
  std::vector<Tensor> top;           // written by forward
  std::vector<Tensor> top_diff;      // read by backward
  std::vector<bool> propagate_down;  // read by backward
  /// Written by backward for every bottom that propagates down.
  std::vector<Tensor> bottom_diff;
  /// Written by backward: each blob's gradient, which the layer must add to
  /// what its diff held (zeros for blobs that are not learned).
  std::vector<Tensor> blob_diff;
};

typedef void (*Function)(Pass* pass);

struct Range {
  double lo, hi;
};

/// Bottom values from a pattern instead of uniform random ones: value of
/// element i of a blob of `shape`.
typedef double (*Pattern)(const std::vector<int>& shape, int i);

/// |actual - expected| <= tolerance * max(1, |expected|).
struct Tolerance {
  double float_tol, double_tol;
  template <typename Dtype> double get() const {
    return sizeof(Dtype) == 4 ? float_tol : double_tol;
  }
};

/// One row of a table. Built with chained setters:
///   Case("per_channel", "scale_param { axis: 1 }", {{4, 6, 5, 7}})
///       .Ranges({{-2, 2}}).InPlace()
struct Case {
  Case(const std::string& name, const std::string& layer,
       const std::vector<std::vector<int> >& bottom_shapes)
      : name(name), layer(layer), bottom_shapes(bottom_shapes) {}

  std::string name;
  std::string layer;  // LayerParameter in prototxt text; type from the Op
  std::vector<std::vector<int> > bottom_shapes;
  /// Per bottom; the last range serves bottoms beyond the list.
  std::vector<Range> ranges = {{-1, 1}};
  Pattern pattern = NULL;  // bottom 0's values, if set, instead of a range
  /// Per layer blob, filled after SetUp; none: the layer's own filling.
  std::vector<Range> blob_ranges;
  Range top_diff_range = {-1, 1};
  /// Per bottom; empty: all propagate down.
  std::vector<bool> propagate_down;
  /// Per layer blob; empty: as the layer sets it up.
  std::vector<bool> param_propagate_down;
  int tops = 1;
  bool in_place = false;  // top 0 is bottom 0
  int passes = 1;         // forward passes before the checks
  Tolerance tolerance = {1e-5, 1e-12};
  bool gradient = false;  // checked with GradientChecker
  double step = 1e-2, threshold = 1e-2;
  /// Why the layer's results are not the reference's (e.g. they depend on
  /// a random draw); empty: they are. Placement and CPU == GPU still run.
  std::string no_reference;

  Case& Ranges(const std::vector<Range>& r) { ranges = r; return *this; }
  Case& Values(Pattern p) { pattern = p; return *this; }
  Case& BlobRanges(const std::vector<Range>& r) {
    blob_ranges = r;
    return *this;
  }
  Case& TopDiffRange(Range r) { top_diff_range = r; return *this; }
  Case& PropagateDown(const std::vector<bool>& d) {
    propagate_down = d;
    return *this;
  }
  Case& ParamPropagateDown(const std::vector<bool>& d) {
    param_propagate_down = d;
    return *this;
  }
  Case& Tops(int n) { tops = n; return *this; }
  Case& InPlace(bool b = true) { in_place = b; return *this; }
  Case& Passes(int n) { passes = n; return *this; }
  Case& Tol(double f, double d) { tolerance = {f, d}; return *this; }
  Case& Gradient(double s = 1e-2, double t = 1e-2) {
    gradient = true;
    step = s;
    threshold = t;
    return *this;
  }
  Case& NoReference(const std::string& why) {
    no_reference = why;
    return *this;
  }
};

/// A layer operation: its reference and its table.
struct Op {
  Op(const std::string& table, const std::string& type, Function forward,
     Function backward)
      : table(table), type(type), forward(forward), backward(backward) {}

  std::string table;  // names failures, e.g. "Scale"
  std::string type;   // the registered layer type
  Function forward, backward;
  bool loss = false;  // top 0 is a loss, weighted by loss_weight (1)
  /// Per bottom: its diff stays as it was when it does not propagate down.
  std::vector<bool> keeps_unpropagated_diff;
  std::vector<Case> cases;
};

// The operations whose references other tests share (defined in
// src/caffe/test/test_<layer>_reference.cpp).

/// BlankSquare: `in` (N x ... x H x W) with every channel of image n set to
/// `fill` inside the square_h x square_w square whose top-left corner is
/// corners[n] (x < 0: image n not occluded).
void BlankSquareReference(const std::vector<int>& shape, int square_h,
    int square_w, const std::vector<PixelYX>& corners, double fill,
    const std::vector<double>& in, std::vector<double>* out);

/// EuclideanLoss: returns sum((a - b)^2) / (2 N), N = shape[0]; grad_a, if
/// not null, is (a - b) / N (times top diff gives the layer's gradient).
double EuclideanLossReference(const std::vector<int>& shape,
    const std::vector<double>& a, const std::vector<double>& b,
    std::vector<double>* grad_a);

// ---------------------------------------------------------------------------
// The generic checks.

/// Everything one run of a case gives, in Dtype.
template <typename Dtype>
struct Results {
  std::vector<std::vector<Dtype> > top, bottom_diff, blob_data, blob_diff;
  std::vector<std::vector<int> > top_shape;
  Dtype loss = 0;
};

/// The initial values of a case, the same for every run of it.
template <typename Dtype>
struct Inputs {
  std::vector<std::vector<Dtype> > bottom, bottom_diff, blob_data, blob_diff,
      top_diff;
  std::vector<bool> propagate_down;
};

inline std::string Where(const Op& op, const Case& c) {
  return "table " + op.table + ", case '" + c.name + "'";
}

inline LayerParameter ParseLayer(const Op& op, const Case& c) {
  LayerParameter param;
  CHECK(google::protobuf::TextFormat::ParseFromString(c.layer, &param))
      << Where(op, c) << ": cannot parse " << c.layer;
  if (!param.has_type()) param.set_type(op.type);
  if (!param.has_name()) param.set_name(c.name);
  return param;
}

inline bool Near(double expected, double actual, double tolerance) {
  return std::fabs(actual - expected) <=
         tolerance * std::max(1.0, std::fabs(expected));
}

/// Runs a case on the current device: SetUp, `passes` forwards, backward
/// with the inputs' top diffs. With `offsets` (4 byte offsets per
/// placement), each bottom's and top's data and diff lie in PlacedBuffers
/// at offsets[0..1] (bottoms) and offsets[2..3] (tops).
template <typename Dtype>
class CaseRunner {
 public:
  CaseRunner(const Op& op, const Case& c) : op_(op), c_(c) {}

  /// The case's inputs; layer blob shapes need a SetUp, so a layer is set
  /// up here once to learn them.
  Inputs<Dtype> MakeInputs() {
    std::mt19937 rng(1701);
    auto uniform = [&rng](Range r) {
      return r.lo + (r.hi - r.lo) *
          std::uniform_real_distribution<double>(0, 1)(rng);
    };
    Inputs<Dtype> in;
    const int bottoms = c_.bottom_shapes.size();
    for (int b = 0; b < bottoms; ++b) {
      Blob<Dtype> shape_only(c_.bottom_shapes[b]);
      const int count = shape_only.count();
      const Range r = c_.ranges[std::min<int>(b, c_.ranges.size() - 1)];
      std::vector<Dtype> values(count), diff(count);
      for (int i = 0; i < count; ++i) {
        values[i] = static_cast<Dtype>(b == 0 && c_.pattern ?
            c_.pattern(c_.bottom_shapes[b], i) : uniform(r));
      }
      for (int i = 0; i < count; ++i) diff[i] = static_cast<Dtype>(uniform(r));
      in.bottom.push_back(values);
      in.bottom_diff.push_back(diff);
    }
    in.propagate_down = c_.propagate_down;
    in.propagate_down.resize(bottoms, c_.propagate_down.empty());
    // Blobs as the layer fills them, or from the case's ranges; diffs
    // random, what an earlier pass left.
    LayerParameter param = ParseLayer(op_, c_);
    Caffe::set_random_seed(1701);
    shared_ptr<Layer<Dtype> > layer = LayerRegistry<Dtype>::CreateLayer(param);
    std::vector<Blob<Dtype> > bottom_blobs(bottoms);
    std::vector<Blob<Dtype>*> bottom, top;
    std::vector<Blob<Dtype> > top_blobs(c_.tops);
    for (int b = 0; b < bottoms; ++b) {
      bottom_blobs[b].Reshape(c_.bottom_shapes[b]);
      caffe_copy(bottom_blobs[b].count(), in.bottom[b].data(),
                 bottom_blobs[b].mutable_cpu_data());
      bottom.push_back(&bottom_blobs[b]);
    }
    for (int t = 0; t < c_.tops; ++t) {
      top.push_back(t == 0 && c_.in_place ? bottom[0] : &top_blobs[t]);
    }
    layer->SetUp(bottom, top);
    for (size_t k = 0; k < layer->blobs().size(); ++k) {
      Blob<Dtype>& blob = *layer->blobs()[k];
      std::vector<Dtype> data(blob.cpu_data(), blob.cpu_data() + blob.count());
      if (k < c_.blob_ranges.size()) {
        for (Dtype& d : data) d = static_cast<Dtype>(uniform(c_.blob_ranges[k]));
      }
      std::vector<Dtype> diff(blob.count());
      for (Dtype& d : diff) d = static_cast<Dtype>(uniform({-1, 1}));
      in.blob_data.push_back(data);
      in.blob_diff.push_back(diff);
    }
    for (int t = 0; t < c_.tops; ++t) {
      std::vector<Dtype> diff(top[t]->count());
      for (Dtype& d : diff) d = static_cast<Dtype>(uniform(c_.top_diff_range));
      in.top_diff.push_back(diff);
    }
    // In place, bottom 0's diff is top 0's.
    if (c_.in_place) in.bottom_diff[0] = in.top_diff[0];
    return in;
  }

  Results<Dtype> Run(const Inputs<Dtype>& in, const size_t* offsets = NULL) {
    LayerParameter param = ParseLayer(op_, c_);
    Caffe::set_random_seed(1701);
    shared_ptr<Layer<Dtype> > layer = LayerRegistry<Dtype>::CreateLayer(param);
    const int bottoms = c_.bottom_shapes.size();
    std::vector<Blob<Dtype> > bottom_blobs(bottoms), top_blobs(c_.tops);
    std::vector<Blob<Dtype>*> bottom, top;
    std::vector<shared_ptr<PlacedBuffers<Dtype> > > buffers;
    for (int b = 0; b < bottoms; ++b) {
      bottom_blobs[b].Reshape(c_.bottom_shapes[b]);
      bottom.push_back(&bottom_blobs[b]);
      Set(in.bottom[b], offsets, &buffers, &bottom_blobs[b], false);
      Set(in.bottom_diff[b], offsets, &buffers, &bottom_blobs[b], true);
    }
    for (int t = 0; t < c_.tops; ++t) {
      top.push_back(t == 0 && c_.in_place ? bottom[0] : &top_blobs[t]);
    }
    layer->SetUp(bottom, top);
    for (int t = 0; t < c_.tops; ++t) {
      if (top[t] != bottom[0] && offsets) {
        buffers.emplace_back(new PlacedBuffers<Dtype>(
            top[t]->count(), offsets + 2, 2));
        buffers.back()->Place(0, NULL, top[t]->data().get());
      }
    }
    for (size_t k = 0; k < layer->blobs().size(); ++k) {
      Blob<Dtype>& blob = *layer->blobs()[k];
      caffe_copy(blob.count(), in.blob_data[k].data(), blob.mutable_cpu_data());
      caffe_copy(blob.count(), in.blob_diff[k].data(), blob.mutable_cpu_diff());
      if (k < c_.param_propagate_down.size()) {
        layer->set_param_propagate_down(k, c_.param_propagate_down[k]);
      }
    }
    Results<Dtype> r;
    for (int pass = 0; pass < c_.passes; ++pass) {
      if (pass > 0 && c_.in_place) {
        caffe_copy(bottom[0]->count(), in.bottom[0].data(),
                   bottom[0]->mutable_cpu_data());
      }
      r.loss = layer->Forward(bottom, top);
    }
    for (int t = 0; t < c_.tops; ++t) {
      r.top.push_back(Data(*top[t], false));
      r.top_shape.push_back(top[t]->shape());
    }
    for (size_t k = 0; k < layer->blobs().size(); ++k) {
      r.blob_data.push_back(Data(*layer->blobs()[k], false));
    }
    for (int t = 0; t < c_.tops; ++t) {
      if (top[t] == bottom[0]) {
        caffe_copy(top[t]->count(), in.top_diff[t].data(),
                   top[t]->mutable_cpu_diff());
      } else {
        Set(in.top_diff[t], offsets ? offsets + 2 : NULL, &buffers, top[t],
            true);
      }
    }
    layer->Backward(top, in.propagate_down, bottom);
    for (int b = 0; b < bottoms; ++b) {
      r.bottom_diff.push_back(Data(*bottom[b], true));
    }
    for (size_t k = 0; k < layer->blobs().size(); ++k) {
      r.blob_diff.push_back(Data(*layer->blobs()[k], true));
    }
    param_propagate_down_.clear();
    for (size_t k = 0; k < layer->blobs().size(); ++k) {
      param_propagate_down_.push_back(layer->param_propagate_down(k));
    }
    return r;
  }

  /// Which of the layer's blobs took gradients in the last Run.
  const std::vector<bool>& param_propagate_down() const {
    return param_propagate_down_;
  }

  /// The reference's pass on the inputs: forward `passes` times, then
  /// backward.
  Pass Reference(const Inputs<Dtype>& in, const LayerParameter& param) const {
    Pass p;
    p.param = &param;
    for (size_t b = 0; b < in.bottom.size(); ++b) {
      p.bottom.push_back(ToTensor(c_.bottom_shapes[b], in.bottom[b]));
    }
    for (const std::vector<Dtype>& data : in.blob_data) {
      p.blobs.push_back(ToTensor({static_cast<int>(data.size())}, data));
    }
    for (int pass = 0; pass < c_.passes; ++pass) {
      p.top.clear();
      op_.forward(&p);
    }
    for (size_t t = 0; t < in.top_diff.size(); ++t) {
      p.top_diff.push_back(ToTensor(p.top[t].shape, in.top_diff[t]));
    }
    p.propagate_down = in.propagate_down;
    p.bottom_diff.resize(p.bottom.size());
    p.blob_diff.resize(p.blobs.size());
    op_.backward(&p);
    return p;
  }

  /// Sets up the case's layer, out of place, for GradientChecker.
  void CheckGradient(const Inputs<Dtype>& in) {
    LayerParameter param = ParseLayer(op_, c_);
    Caffe::set_random_seed(1701);
    shared_ptr<Layer<Dtype> > layer = LayerRegistry<Dtype>::CreateLayer(param);
    const int bottoms = c_.bottom_shapes.size();
    std::vector<Blob<Dtype> > bottom_blobs(bottoms), top_blobs(c_.tops);
    std::vector<Blob<Dtype>*> bottom, top;
    for (int b = 0; b < bottoms; ++b) {
      bottom_blobs[b].Reshape(c_.bottom_shapes[b]);
      caffe_copy(bottom_blobs[b].count(), in.bottom[b].data(),
                 bottom_blobs[b].mutable_cpu_data());
      bottom.push_back(&bottom_blobs[b]);
    }
    for (int t = 0; t < c_.tops; ++t) top.push_back(&top_blobs[t]);
    layer->SetUp(bottom, top);
    for (size_t k = 0; k < layer->blobs().size(); ++k) {
      caffe_copy(layer->blobs()[k]->count(), in.blob_data[k].data(),
                 layer->blobs()[k]->mutable_cpu_data());
    }
    // Each top element's gradient on its own where that is cheap (a few
    // hundred thousand forward elements), else the gradient of half the
    // tops' sum of squares.
    GradientChecker<Dtype> checker(c_.step, c_.threshold, 1701);
    int top_count = 0, bottom_count = 0;
    for (Blob<Dtype>* blob : top) top_count += blob->count();
    for (Blob<Dtype>* blob : bottom) bottom_count += blob->count();
    const bool exhaustive =
        static_cast<double>(top_count) * bottom_count * top_count < 1e6;
    for (int b = -1; b < bottoms; ++b) {
      const bool all = std::count(in.propagate_down.begin(),
                                  in.propagate_down.end(), true) == bottoms;
      if (b == -1 ? !all : (all || !in.propagate_down[b])) continue;
      if (exhaustive) {
        checker.CheckGradientExhaustive(layer.get(), bottom, top, b);
      } else {
        checker.CheckGradient(layer.get(), bottom, top, b);
      }
    }
  }

 private:
  static Tensor ToTensor(const std::vector<int>& shape,
                         const std::vector<Dtype>& values) {
    Tensor t;
    t.shape = shape;
    t.v.assign(values.begin(), values.end());
    return t;
  }

  static std::vector<Dtype> Data(const Blob<Dtype>& blob, bool diff) {
    const Dtype* p = diff ? blob.cpu_diff() : blob.cpu_data();
    return std::vector<Dtype>(p, p + blob.count());
  }

  // Values into a blob's data or diff; placed at offsets[0] (data) or
  // offsets[1] (diff) where offsets are given.
  void Set(const std::vector<Dtype>& values, const size_t* offsets,
           std::vector<shared_ptr<PlacedBuffers<Dtype> > >* buffers,
           Blob<Dtype>* blob, bool diff) {
    if (!offsets) {
      caffe_copy(blob->count(), values.data(),
                 diff ? blob->mutable_cpu_diff() : blob->mutable_cpu_data());
      return;
    }
    buffers->emplace_back(new PlacedBuffers<Dtype>(blob->count(), offsets, 2));
    buffers->back()->Place(diff ? 1 : 0, values.data(),
        diff ? blob->diff().get() : blob->data().get());
  }

  const Op& op_;
  const Case& c_;
  std::vector<bool> param_propagate_down_;
};

/// Checks `actual` against `expected` element by element; the first
/// mismatch fails, naming what and where.
template <typename Dtype>
::testing::AssertionResult AllNear(const std::string& what,
    const std::vector<double>& expected, const std::vector<Dtype>& actual,
    double tolerance) {
  if (expected.size() != actual.size()) {
    return ::testing::AssertionFailure() << what << ": " << actual.size()
        << " elements, the reference has " << expected.size();
  }
  for (size_t i = 0; i < expected.size(); ++i) {
    if (!Near(expected[i], actual[i], tolerance)) {
      return ::testing::AssertionFailure() << what << " element " << i
          << ": expected " << expected[i] << ", got " << actual[i]
          << " (tolerance " << tolerance << " relative)";
    }
  }
  return ::testing::AssertionSuccess();
}

/// A case run by the layer and by the reference, side by side.
template <typename Dtype>
struct SideBySide {
  SideBySide(const Op& op, const Case& c)
      : runner(op, c), in(runner.MakeInputs()), layer(runner.Run(in)),
        param(ParseLayer(op, c)), reference(runner.Reference(in, param)) {}
  CaseRunner<Dtype> runner;
  const Inputs<Dtype> in;
  const Results<Dtype> layer;
  const LayerParameter param;
  const Pass reference;  // reference.param points at param
};

template <typename Dtype>
void CheckForward(const Op& op) {
  for (const Case& c : op.cases) {
    if (!c.no_reference.empty()) continue;
    SCOPED_TRACE(Where(op, c));
    const SideBySide<Dtype> s(op, c);
    const Results<Dtype>& r = s.layer;
    const Pass& p = s.reference;
    const double tol = c.tolerance.get<Dtype>();
    ASSERT_EQ(p.top.size(), r.top.size());
    for (size_t t = 0; t < p.top.size(); ++t) {
      EXPECT_EQ(p.top[t].count(), static_cast<int>(r.top[t].size()))
          << Where(op, c) << ": top " << t << " count";
      EXPECT_TRUE(AllNear(Where(op, c) + ": top " + std::to_string(t),
                          p.top[t].v, r.top[t], tol));
    }
    for (size_t k = 0; k < p.blobs.size(); ++k) {
      EXPECT_TRUE(AllNear(Where(op, c) + ": blob " + std::to_string(k) +
                          " (state) after forward", p.blobs[k].v,
                          r.blob_data[k], tol));
    }
    if (op.loss) {
      const double weight =
          s.param.loss_weight_size() ? s.param.loss_weight(0) : 1;
      const double loss = p.top[0].v[0] * weight;
      EXPECT_TRUE(Near(loss, r.loss, tol)) << Where(op, c)
          << ": Forward returned " << r.loss << ", expected " << loss;
    }
  }
}

template <typename Dtype>
void CheckBackward(const Op& op) {
  for (const Case& c : op.cases) {
    if (!c.no_reference.empty()) continue;
    SCOPED_TRACE(Where(op, c));
    const SideBySide<Dtype> s(op, c);
    const Inputs<Dtype>& in = s.in;
    const Results<Dtype>& r = s.layer;
    const Pass& p = s.reference;
    const double tol = c.tolerance.get<Dtype>();
    for (size_t b = 0; b < p.bottom.size(); ++b) {
      const std::string what = Where(op, c) + ": bottom " + std::to_string(b) +
                               " diff";
      if (in.propagate_down[b]) {
        EXPECT_TRUE(AllNear(what, p.bottom_diff[b].v, r.bottom_diff[b], tol));
      } else if ((b == 0 && c.in_place) ||
                 (b < op.keeps_unpropagated_diff.size() &&
                  op.keeps_unpropagated_diff[b])) {
        const std::vector<double> held(in.bottom_diff[b].begin(),
                                       in.bottom_diff[b].end());
        EXPECT_TRUE(AllNear(what + " (not propagated, kept)", held,
                            r.bottom_diff[b], 0));
      }
    }
    for (size_t k = 0; k < p.blobs.size(); ++k) {
      std::vector<double> expected(in.blob_diff[k].begin(),
                                   in.blob_diff[k].end());
      const bool down = s.runner.param_propagate_down()[k];
      if (down) {
        ASSERT_EQ(expected.size(), p.blob_diff[k].v.size())
            << Where(op, c) << ": the reference's blob " << k << " diff";
        for (size_t i = 0; i < expected.size(); ++i) {
          expected[i] += p.blob_diff[k].v[i];
        }
      }
      EXPECT_TRUE(AllNear(Where(op, c) + ": blob " + std::to_string(k) +
          (down ? " diff (accumulated)" : " diff (not propagated, kept)"),
          expected, r.blob_diff[k], down ? tol : 0));
    }
  }
}

template <typename Dtype>
void CheckGradient(const Op& op) {
  for (const Case& c : op.cases) {
    if (!c.gradient || c.in_place) continue;
    SCOPED_TRACE(Where(op, c));
    CaseRunner<Dtype> runner(op, c);
    runner.CheckGradient(runner.MakeInputs());
  }
}

template <typename Dtype>
::testing::AssertionResult BitIdentical(const std::string& what,
    const std::vector<std::vector<Dtype> >& expected,
    const std::vector<std::vector<Dtype> >& actual) {
  for (size_t k = 0; k < expected.size(); ++k) {
    for (size_t i = 0; i < expected[k].size(); ++i) {
      if (!(expected[k][i] == actual[k][i]) &&
          !(expected[k][i] != expected[k][i] && actual[k][i] != actual[k][i])) {
        return ::testing::AssertionFailure() << what << " " << k
            << " element " << i << ": " << actual[k][i] << " instead of "
            << expected[k][i];
      }
    }
  }
  return ::testing::AssertionSuccess();
}

template <typename Dtype>
void CheckPlacement(const Op& op) {
  const size_t e = sizeof(Dtype);
  // Byte offsets from a page of bottom data, bottom diff, top data, top
  // diff: 4K-aliased, 16 bytes past (glibc's mmap chunks), misaligned by
  // elements alike and unalike, staggered.
  const size_t placements[][4] = {
      {0, 0, 0, 0}, {16, 16, 16, 16}, {e, 3 * e, 5 * e, 7 * e},
      {e, 2 * e, 0, 3 * e}, {0, 1088, 2176, 3264}};
  for (const Case& c : op.cases) {
    SCOPED_TRACE(Where(op, c));
    CaseRunner<Dtype> runner(op, c);
    const Inputs<Dtype> in = runner.MakeInputs();
    const Results<Dtype> expected = runner.Run(in);
    for (const size_t* offsets : placements) {
      const Results<Dtype> r = runner.Run(in, offsets);
      std::ostringstream where;
      where << Where(op, c) << ", offsets " << offsets[0] << " " << offsets[1]
            << " " << offsets[2] << " " << offsets[3] << ": ";
      EXPECT_TRUE(BitIdentical(where.str() + "top", expected.top, r.top));
      EXPECT_TRUE(BitIdentical(where.str() + "bottom diff",
                               expected.bottom_diff, r.bottom_diff));
      EXPECT_TRUE(BitIdentical(where.str() + "blob diff", expected.blob_diff,
                               r.blob_diff));
      EXPECT_TRUE(BitIdentical(where.str() + "blob", expected.blob_data,
                               r.blob_data));
      EXPECT_TRUE(expected.loss == r.loss) << where.str() << "loss";
    }
  }
}

/// Both devices' results agree to the case's tolerance (bit for bit where
/// it is 0).
template <typename Dtype>
void CheckCPUEqualsGPU(const Op& op) {
  for (const Case& c : op.cases) {
    SCOPED_TRACE(Where(op, c));
    CaseRunner<Dtype> runner(op, c);
    Caffe::set_mode(Caffe::CPU);
    const Inputs<Dtype> in = runner.MakeInputs();
    const Results<Dtype> cpu = runner.Run(in);
    Caffe::set_mode(Caffe::GPU);
    const Results<Dtype> gpu = runner.Run(in);
    const double tol = c.tolerance.get<Dtype>();
    const std::pair<const char*, const std::vector<std::vector<Dtype> >*>
        parts[][2] = {{{"top", &cpu.top}, {"top", &gpu.top}},
                      {{"bottom diff", &cpu.bottom_diff},
                       {"bottom diff", &gpu.bottom_diff}},
                      {{"blob", &cpu.blob_data}, {"blob", &gpu.blob_data}},
                      {{"blob diff", &cpu.blob_diff},
                       {"blob diff", &gpu.blob_diff}}};
    for (const auto& part : parts) {
      for (size_t k = 0; k < part[0].second->size(); ++k) {
        const std::vector<Dtype>& a = (*part[0].second)[k];
        EXPECT_TRUE(AllNear(Where(op, c) + ": GPU's " + part[0].first + " " +
                            std::to_string(k) + " against the CPU's",
                            std::vector<double>(a.begin(), a.end()),
                            (*part[1].second)[k], tol));
      }
    }
  }
}

}  // namespace reference
}  // namespace caffe

/// Defines the generic tests of a table: `op_function` returns the
/// reference::Op, `Name` prefixes the test cases' names.
#define REFERENCE_TESTS_CPU(Name, op_function) \
  template <typename TypeParam> \
  class Name##ReferenceTest : public ::caffe::MultiDeviceTest<TypeParam> {}; \
  TYPED_TEST_CASE(Name##ReferenceTest, ::caffe::TestDtypesAndDevices); \
  TYPED_TEST(Name##ReferenceTest, Forward) { \
    ::caffe::reference::CheckForward<typename TypeParam::Dtype>( \
        op_function()); \
  } \
  TYPED_TEST(Name##ReferenceTest, Backward) { \
    ::caffe::reference::CheckBackward<typename TypeParam::Dtype>( \
        op_function()); \
  } \
  TYPED_TEST(Name##ReferenceTest, Gradient) { \
    ::caffe::reference::CheckGradient<typename TypeParam::Dtype>( \
        op_function()); \
  } \
  TYPED_TEST(Name##ReferenceTest, Placement) { \
    ::caffe::reference::CheckPlacement<typename TypeParam::Dtype>( \
        op_function()); \
  }

#ifdef CPU_ONLY
#define REFERENCE_TESTS(Name, op_function) \
  REFERENCE_TESTS_CPU(Name, op_function)
#else
#define REFERENCE_TESTS(Name, op_function) \
  REFERENCE_TESTS_CPU(Name, op_function) \
  template <typename Dtype> \
  class Name##ReferenceGPUTest : public ::caffe::GPUDeviceTest<Dtype> {}; \
  TYPED_TEST_CASE(Name##ReferenceGPUTest, ::caffe::TestDtypes); \
  TYPED_TEST(Name##ReferenceGPUTest, CPUEqualsGPU) { \
    ::caffe::reference::CheckCPUEqualsGPU<TypeParam>(op_function()); \
  }
#endif

#endif  // CAFFE_TEST_LAYER_REFERENCE_HPP_
