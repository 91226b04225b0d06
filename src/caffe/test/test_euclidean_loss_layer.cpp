#include <climits>
#include <cmath>
#include <cstring>
#include <iostream>
#include <vector>

#include "gtest/gtest.h"

#include "caffe/blob.hpp"
#include "caffe/common.hpp"
#include "caffe/filler.hpp"
#include "caffe/layers/euclidean_loss_layer.hpp"

#include "caffe/test/layer_reference.hpp"
#include "caffe/test/test_caffe_main.hpp"
#include "caffe/test/test_placed_buffers.hpp"

namespace caffe {

// The one reference (test_euclidean_loss_reference.cpp), on blobs: the loss,
// and in grad_a loss_weight (a - b) / N (grad_b is -grad_a).
template <typename Dtype>
double ReferenceEuclideanLoss(const Blob<Dtype>& a, const Blob<Dtype>& b,
    double loss_weight, vector<double>* grad_a) {
  const double loss = reference::EuclideanLossReference(a.shape(),
      vector<double>(a.cpu_data(), a.cpu_data() + a.count()),
      vector<double>(b.cpu_data(), b.cpu_data() + b.count()), grad_a);
  for (double& g : *grad_a) g *= loss_weight;
  return loss;
}

template <typename TypeParam>
class EuclideanLossLayerTest : public MultiDeviceTest<TypeParam> {
  typedef typename TypeParam::Dtype Dtype;

 protected:
  EuclideanLossLayerTest()
      : a_(new Blob<Dtype>(10, 5, 1, 1)), b_(new Blob<Dtype>(10, 5, 1, 1)),
        loss_(new Blob<Dtype>()) {
    Caffe::set_random_seed(1701);
    FillerParameter filler_param;
    GaussianFiller<Dtype> filler(filler_param);
    filler.Fill(a_);
    filler.Fill(b_);
    bottom_.push_back(a_);
    bottom_.push_back(b_);
    top_.push_back(loss_);
    param_.set_name("loss");
  }
  virtual ~EuclideanLossLayerTest() { delete a_; delete b_; delete loss_; }

  // Tolerance relative to the value: float rounds each product once.
  static double Tolerance(double value) {
    return (sizeof(Dtype) == 4 ? 1e-6 : 1e-12) * std::max(1.0, std::fabs(value));
  }

  // Runs forward and backward with the given propagate_down, the inputs'
  // diffs preset to a sentinel, and checks everything against the reference.
  void CheckBackward(bool down_a, bool down_b, double loss_weight) {
    const Dtype kSentinel = 42;
    param_.clear_loss_weight();
    if (loss_weight != 1) param_.add_loss_weight(loss_weight);
    EuclideanLossLayer<Dtype> layer(param_);
    layer.SetUp(bottom_, top_);
    const Dtype loss = layer.Forward(bottom_, top_);
    vector<double> grad;
    const double expected = ReferenceEuclideanLoss(*a_, *b_, loss_weight, &grad);
    EXPECT_NEAR(expected * loss_weight, loss, Tolerance(expected * loss_weight));
    caffe_set(a_->count(), kSentinel, a_->mutable_cpu_diff());
    caffe_set(b_->count(), kSentinel, b_->mutable_cpu_diff());
    vector<bool> propagate_down;
    propagate_down.push_back(down_a);
    propagate_down.push_back(down_b);
    layer.Backward(top_, propagate_down, bottom_);
    for (int i = 0; i < a_->count(); ++i) {
      if (down_a) {
        EXPECT_NEAR(grad[i], a_->cpu_diff()[i], Tolerance(grad[i])) << i;
      } else {
        EXPECT_EQ(kSentinel, a_->cpu_diff()[i]) << i;
      }
      if (down_b) {
        EXPECT_NEAR(-grad[i], b_->cpu_diff()[i], Tolerance(grad[i])) << i;
      } else {
        EXPECT_EQ(kSentinel, b_->cpu_diff()[i]) << i;
      }
    }
  }

  Blob<Dtype>* const a_;
  Blob<Dtype>* const b_;
  Blob<Dtype>* const loss_;
  vector<Blob<Dtype>*> bottom_;
  vector<Blob<Dtype>*> top_;
  LayerParameter param_;
};

TYPED_TEST_CASE(EuclideanLossLayerTest, TestDtypesAndDevices);

TYPED_TEST(EuclideanLossLayerTest, TestForwardHandComputed) {
  typedef typename TypeParam::Dtype Dtype;
  // a - b = [0 2 0; 3 0 6]: sum of squares 49, N = 2, loss 49 / 4.
  const Dtype a[] = {1, 2, 3, 4, 5, 6};
  const Dtype b[] = {1, 0, 3, 1, 5, 0};
  this->a_->Reshape(2, 3, 1, 1);
  this->b_->Reshape(2, 3, 1, 1);
  caffe_copy(6, a, this->a_->mutable_cpu_data());
  caffe_copy(6, b, this->b_->mutable_cpu_data());
  EuclideanLossLayer<Dtype> layer(this->param_);
  layer.SetUp(this->bottom_, this->top_);
  EXPECT_EQ(0, this->loss_->num_axes());
  EXPECT_EQ(Dtype(12.25), layer.Forward(this->bottom_, this->top_));
  EXPECT_EQ(Dtype(12.25), this->loss_->cpu_data()[0]);
}

TYPED_TEST(EuclideanLossLayerTest, TestLargeBlobAccuracy) {
  typedef typename TypeParam::Dtype Dtype;
  // 10^7 elements: float accumulation would be off by ~1e-4 relative.
  const int kCount = 10000000;
  this->a_->Reshape(vector<int>{100, kCount / 100});
  this->b_->Reshape(vector<int>{100, kCount / 100});
  FillerParameter filler_param;
  filler_param.set_min(-1);
  filler_param.set_max(1);
  UniformFiller<Dtype> filler(filler_param);
  filler.Fill(this->a_);
  filler.Fill(this->b_);
  EuclideanLossLayer<Dtype> layer(this->param_);
  layer.SetUp(this->bottom_, this->top_);
  const double loss = layer.Forward(this->bottom_, this->top_);
  vector<double> grad;
  const double expected = ReferenceEuclideanLoss(*this->a_, *this->b_, 1, &grad);
  // Double accumulates in double too: its error is ~1e-16 per addition,
  // and the float loss is rounded to float once at the end.
  EXPECT_NEAR(expected, loss, (sizeof(Dtype) == 4 ? 1e-6 : 1e-12) * expected);
}

TYPED_TEST(EuclideanLossLayerTest, TestLargeBlobGradients) {
  typedef typename TypeParam::Dtype Dtype;
  // Above the streaming-store threshold (16 MiB of gradients) with an odd
  // count (head and tail), and below it.
  const int kAbove = 700001, kBelow = 100001;
  for (int columns : {kAbove, kBelow}) {
    this->a_->Reshape(vector<int>{3, columns});
    this->b_->Reshape(vector<int>{3, columns});
    FillerParameter filler_param;
    GaussianFiller<Dtype> filler(filler_param);
    filler.Fill(this->a_);
    filler.Fill(this->b_);
    this->CheckBackward(true, true, 1.5);
    this->CheckBackward(false, true, 1);
  }
}

// Where the inputs and gradients lie must not change a single bit: the
// forward sums in an order fixed by the element index (eight lanes on the
// CPU, a grid that depends only on the count on the GPU), and each gradient
// element is one subtraction and one multiplication whether it is streamed
// or not. Placements: what SyncedMemory gives; every buffer on a page
// boundary (4K-aliased); 16 bytes past one (glibc's mmap chunks); offsets
// of one and three elements (SIMD-misaligned: gradients misaligned alike,
// so the streamed path starts with a head, or unalike, so it is refused);
// staggered by 1088 bytes.
TYPED_TEST(EuclideanLossLayerTest, TestResultsIndependentOfPlacement) {
  typedef typename TypeParam::Dtype Dtype;
  // Above the streaming-store threshold (16 MiB of gradients), with an odd
  // count (head and tail).
  const vector<int> shape{3, 700001};
  this->a_->Reshape(shape);
  this->b_->Reshape(shape);
  FillerParameter filler_param;
  GaussianFiller<Dtype> filler(filler_param);
  filler.Fill(this->a_);
  filler.Fill(this->b_);
  const vector<bool> down(2, true);
  this->param_.add_loss_weight(1.5);
  EuclideanLossLayer<Dtype> layer(this->param_);
  layer.SetUp(this->bottom_, this->top_);
  const Dtype loss = layer.Forward(this->bottom_, this->top_);
  layer.Backward(this->top_, down, this->bottom_);
  const int count = this->a_->count();
  const vector<Dtype> a(this->a_->cpu_data(), this->a_->cpu_data() + count);
  const vector<Dtype> b(this->b_->cpu_data(), this->b_->cpu_data() + count);
  const vector<Dtype> grad_a(this->a_->cpu_diff(), this->a_->cpu_diff() + count);
  const vector<Dtype> grad_b(this->b_->cpu_diff(), this->b_->cpu_diff() + count);

  const size_t e = sizeof(Dtype);
  const size_t placements[][4] = {  // byte offsets of a, b, grad a, grad b
      {0, 0, 0, 0}, {16, 16, 16, 16}, {e, 3 * e, 3 * e, 3 * e},
      {e, 3 * e, e, 3 * e}, {0, 1088, 2176, 3264}};
  for (const size_t* offsets : placements) {
    Blob<Dtype> placed_a(shape), placed_b(shape), placed_loss;
    PlacedBuffers<Dtype> buffers(count, offsets);
    buffers.Place(0, a.data(), placed_a.data().get());
    buffers.Place(1, b.data(), placed_b.data().get());
    buffers.Place(2, NULL, placed_a.diff().get());
    buffers.Place(3, NULL, placed_b.diff().get());
    vector<Blob<Dtype>*> bottom{&placed_a, &placed_b}, top{&placed_loss};
    EuclideanLossLayer<Dtype> placed_layer(this->param_);
    placed_layer.SetUp(bottom, top);
    EXPECT_EQ(loss, placed_layer.Forward(bottom, top))
        << "offsets " << offsets[0] << " " << offsets[1];
    placed_layer.Backward(top, down, bottom);
    for (int i = 0; i < count; ++i) {
      ASSERT_EQ(grad_a[i], placed_a.cpu_diff()[i])
          << "offsets " << offsets[2] << " " << offsets[3] << ", element " << i;
      ASSERT_EQ(grad_b[i], placed_b.cpu_diff()[i])
          << "offsets " << offsets[2] << " " << offsets[3] << ", element " << i;
    }
  }
}

TYPED_TEST(EuclideanLossLayerTest, TestMismatchedCountFails) {
  typedef typename TypeParam::Dtype Dtype;
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
  this->b_->Reshape(10, 4, 1, 1);
  EuclideanLossLayer<Dtype> layer(this->param_);
  EXPECT_DEATH(layer.SetUp(this->bottom_, this->top_),
      "EuclideanLoss layer 'loss': bottom\\[0\\] \\(10 5 1 1 \\(50\\)\\) and "
      "bottom\\[1\\] \\(10 4 1 1 \\(40\\)\\) must have the same first axis");
}

TYPED_TEST(EuclideanLossLayerTest, TestMismatchedBatchFails) {
  typedef typename TypeParam::Dtype Dtype;
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
  // Same count, different N: no silent reinterpretation.
  this->b_->Reshape(5, 10, 1, 1);
  EuclideanLossLayer<Dtype> layer(this->param_);
  EXPECT_DEATH(layer.SetUp(this->bottom_, this->top_),
      "bottom\\[1\\] \\(5 10 1 1 \\(50\\)\\) must have the same first axis");
}

#ifndef CPU_ONLY
template <typename Dtype>
class EuclideanLossLayerGPUTest : public GPUDeviceTest<Dtype> {
 protected:
  // Two Gaussian bottoms of num x dim (seeded) and a layer set up on them.
  void SetUpLayer(int num, int dim) {
    Caffe::set_random_seed(1701);
    a_.Reshape(vector<int>{num, dim});
    b_.Reshape(vector<int>{num, dim});
    FillerParameter filler_param;
    GaussianFiller<Dtype> filler(filler_param);
    filler.Fill(&a_);
    filler.Fill(&b_);
    bottom_ = {&a_, &b_};
    top_ = {&loss_};
    LayerParameter param;
    param.set_name("loss");
    layer_.reset(new EuclideanLossLayer<Dtype>(param));
    layer_->SetUp(bottom_, top_);
  }
  Blob<Dtype> a_, b_, loss_;
  vector<Blob<Dtype>*> bottom_, top_;
  shared_ptr<EuclideanLossLayer<Dtype> > layer_;
};

TYPED_TEST_CASE(EuclideanLossLayerGPUTest, TestDtypes);

TYPED_TEST(EuclideanLossLayerGPUTest, TestCPUAndGPUAgree) {
  typedef TypeParam Dtype;
  this->SetUpLayer(32, 3001);
  Blob<Dtype>& a = this->a_;
  Blob<Dtype>& b = this->b_;
  EuclideanLossLayer<Dtype>& layer = *this->layer_;
  vector<bool> down(2, true);
  Caffe::set_mode(Caffe::CPU);
  const Dtype cpu_loss = layer.Forward(this->bottom_, this->top_);
  layer.Backward(this->top_, down, this->bottom_);
  const vector<Dtype> cpu_grad_a(a.cpu_diff(), a.cpu_diff() + a.count());
  const vector<Dtype> cpu_grad_b(b.cpu_diff(), b.cpu_diff() + b.count());
  Caffe::set_mode(Caffe::GPU);
  const Dtype gpu_loss = layer.Forward(this->bottom_, this->top_);
  layer.Backward(this->top_, down, this->bottom_);
  // Both sum in double; only the order differs.
  EXPECT_NEAR(cpu_loss, gpu_loss, 1e-6 * std::fabs(cpu_loss));
  for (int i = 0; i < a.count(); ++i) {
    ASSERT_EQ(cpu_grad_a[i], a.cpu_diff()[i]) << i;
    ASSERT_EQ(cpu_grad_b[i], b.cpu_diff()[i]) << i;
  }
}
TYPED_TEST(EuclideanLossLayerGPUTest, TestCPUAndGPUAgreeAtSmallAndOddCounts) {
  typedef TypeParam Dtype;
  // Counts below one vector (1, 3), between vectors (5, 4097), exact
  // vectors (8), and one block's worth and more; gradients bitwise, for
  // each input alone and both, with a loss weight.
  for (int dim : {1, 3, 5, 8, 4097, 70001}) {
    for (int down = 1; down < 4; ++down) {
      this->SetUpLayer(2, dim);
      const vector<bool> propagate{(down & 1) != 0, (down & 2) != 0};
      Blob<Dtype>& a = this->a_;
      Blob<Dtype>& b = this->b_;
      this->loss_.mutable_cpu_diff()[0] = Dtype(1.5);
      Caffe::set_mode(Caffe::CPU);
      const Dtype cpu_loss = this->layer_->Forward(this->bottom_, this->top_);
      caffe_set(a.count(), Dtype(7), a.mutable_cpu_diff());
      caffe_set(b.count(), Dtype(7), b.mutable_cpu_diff());
      this->layer_->Backward(this->top_, propagate, this->bottom_);
      const vector<Dtype> cpu_a(a.cpu_diff(), a.cpu_diff() + a.count());
      const vector<Dtype> cpu_b(b.cpu_diff(), b.cpu_diff() + b.count());
      Caffe::set_mode(Caffe::GPU);
      const Dtype gpu_loss = this->layer_->Forward(this->bottom_, this->top_);
      caffe_set(a.count(), Dtype(7), a.mutable_cpu_diff());
      caffe_set(b.count(), Dtype(7), b.mutable_cpu_diff());
      this->layer_->Backward(this->top_, propagate, this->bottom_);
      EXPECT_NEAR(cpu_loss, gpu_loss, 1e-6 * std::fabs(cpu_loss)) << dim;
      // The returned loss is the top's loss times its weight.
      EXPECT_EQ(this->loss_.cpu_data()[0] * Dtype(1.5), gpu_loss) << dim;
      for (int i = 0; i < a.count(); ++i) {
        ASSERT_EQ(cpu_a[i], a.cpu_diff()[i]) << "dim " << dim << ", " << i;
        ASSERT_EQ(cpu_b[i], b.cpu_diff()[i]) << "dim " << dim << ", " << i;
      }
    }
  }
}

TYPED_TEST(EuclideanLossLayerGPUTest, TestForwardAfterReshape) {
  typedef TypeParam Dtype;
  // The forward kernel's last-block count is left at 0 for the next
  // launch: forwards at another size, with another grid, and back give
  // the same bits as the first.
  this->SetUpLayer(64, 10007);
  const Dtype first = this->layer_->Forward(this->bottom_, this->top_);
  Blob<Dtype> small_a(vector<int>{4, 3}), small_b(vector<int>{4, 3});
  caffe_set(12, Dtype(2), small_a.mutable_cpu_data());
  caffe_set(12, Dtype(0), small_b.mutable_cpu_data());
  vector<Blob<Dtype>*> small_bottom{&small_a, &small_b};
  // 12 elements of difference 2: 48 / (2 x 4).
  EXPECT_EQ(Dtype(6), this->layer_->Forward(small_bottom, this->top_));
  EXPECT_EQ(first, this->layer_->Forward(this->bottom_, this->top_));
}

// Inputs near INT_MAX elements: 64-bit indices and loop counters (a 32-bit
// grid-stride loop would overflow here). Four blobs of 8.6 GB (float);
// skipped, with the reason, where the device has not that much free.
TYPED_TEST(EuclideanLossLayerGPUTest, TestLargeCount) {
  typedef TypeParam Dtype;
  const int count = INT_MAX - 2;  // not a whole number of vectors
  size_t free_bytes = 0, total_bytes = 0;
  CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  const size_t needed = 4 * sizeof(Dtype) * size_t(count) + (size_t(1) << 30);
  if (free_bytes < needed) {
    GTEST_SKIP() << "needs " << (needed >> 30) << " GiB of free device memory, "
                 << (free_bytes >> 30) << " GiB free";
  }
  Blob<Dtype> a(vector<int>{1, count}), b(vector<int>{1, count}), loss;
  // a: every byte 0x3f (upstream's caffe_gpu_set counts in int and cannot
  // fill a blob this large); b: zeros, as first allocated.
  CUDA_CHECK(cudaMemset(a.mutable_gpu_data(), 0x3f,
                        size_t(count) * sizeof(Dtype)));
  b.mutable_gpu_data();
  Dtype value;
  std::memset(&value, 0x3f, sizeof(value));
  vector<Blob<Dtype>*> bottom{&a, &b}, top{&loss};
  LayerParameter param;
  param.set_name("loss");
  EuclideanLossLayer<Dtype> layer(param);
  layer.SetUp(bottom, top);
  const double expected = 0.5 * count * double(value) * double(value);
  EXPECT_NEAR(expected, layer.Forward(bottom, top), 1e-6 * expected);
  layer.Backward(top, vector<bool>(2, true), bottom);
  // The first elements, and the last ones (the tail after the vectors).
  for (size_t first : {size_t(0), size_t(count) - 7}) {
    Dtype grad_a[7], grad_b[7];
    CUDA_CHECK(cudaMemcpy(grad_a, a.gpu_diff() + first, sizeof(grad_a),
                          cudaMemcpyDeviceToHost));
    CUDA_CHECK(cudaMemcpy(grad_b, b.gpu_diff() + first, sizeof(grad_b),
                          cudaMemcpyDeviceToHost));
    for (int k = 0; k < 7; ++k) {
      EXPECT_EQ(value, grad_a[k]) << first + k;
      EXPECT_EQ(-value, grad_b[k]) << first + k;
    }
  }
}

TYPED_TEST(EuclideanLossLayerGPUTest, TestForwardIsDeterministic) {
  typedef TypeParam Dtype;
  // Repeated forwards on the device give the same bits: a reduction with
  // atomics or a launch-dependent partial-sum order would not. (The CPU
  // forward is one thread in a fixed order; its order is tested against
  // placement in TestResultsIndependentOfPlacement.)
  this->SetUpLayer(64, 10007);
  const Dtype first = this->layer_->Forward(this->bottom_, this->top_);
  for (int run = 0; run < 5; ++run) {
    EXPECT_EQ(first, this->layer_->Forward(this->bottom_, this->top_));
  }
}
#endif

}  // namespace caffe
