#include <algorithm>
#include <cmath>
#include <vector>

#include "caffe/layers/blank_square_layer.hpp"
#include "caffe/util/math_functions.hpp"
#include "caffe/util/rng.hpp"

namespace caffe {

template <typename Dtype>
void BlankSquareLayer<Dtype>::LayerSetUp(const vector<Blob<Dtype>*>& bottom,
    const vector<Blob<Dtype>*>& top) {
  const string who = Describe();
  CHECK_EQ(bottom.size(), 1) << who << " takes exactly 1 bottom blob";
  CHECK_EQ(top.size(), 1) << who << " produces exactly 1 top blob";
  const BlankSquareParameter& param = this->layer_param_.blank_square_param();
  CHECK(param.ratio() > 0 && param.ratio() <= 1)
      << who << ": blank_square_param.ratio must be in (0, 1], got "
      << param.ratio();
  CHECK(param.probability() >= 0 && param.probability() <= 1)
      << who << ": blank_square_param.probability must be in [0, 1], got "
      << param.probability();
  // Drawn from Caffe's generator, so random_seed decides it; the solver rank
  // keeps replicas apart even if they share a seed.
  layer_key_ = CounterRandom(
      (static_cast<uint64_t>(caffe_rng_rand()) << 32) ^ caffe_rng_rand(),
      static_cast<uint64_t>(Caffe::solver_rank()));
  forward_count_ = 0;
}

template <typename Dtype>
void BlankSquareLayer<Dtype>::Reshape(const vector<Blob<Dtype>*>& bottom,
    const vector<Blob<Dtype>*>& top) {
  CHECK_GE(bottom[0]->num_axes(), 3) << Describe() << ": bottom '"
      << this->layer_param_.bottom(0) << "' (" << bottom[0]->shape_string()
      << ") needs at least 3 axes, the last two being height and width";
  NeuronLayer<Dtype>::Reshape(bottom, top);
  num_ = bottom[0]->shape(0);
  height_ = bottom[0]->shape(-2);
  width_ = bottom[0]->shape(-1);
  channels_ = bottom[0]->count(1) / std::max(1, height_ * width_);
  // floor(ratio * side); the small tolerance keeps e.g. 0.3f * 10 at 3.
  const double ratio = this->layer_param_.blank_square_param().ratio();
  sampler_.height = static_cast<int>(std::floor(ratio * height_ + 1e-4));
  sampler_.width = static_cast<int>(std::floor(ratio * width_ + 1e-4));
  CHECK(sampler_.height > 0 && sampler_.width > 0) << Describe() << ": ratio "
      << ratio << " of " << height_ << "x" << width_
      << " images is a square of zero pixels";
  sampler_.y_positions = height_ - sampler_.height + 1;
  sampler_.x_positions = width_ - sampler_.width + 1;
  sampler_.per_sample = this->layer_param_.blank_square_param().per_sample();
}

template <typename Dtype>
void BlankSquareLayer<Dtype>::BeginForward() {
  const BlankSquareParameter& param = this->layer_param_.blank_square_param();
  occluded_ = this->phase_ == TRAIN || param.apply_in_test();
  if (!occluded_) return;
  sampler_.key = CounterRandom(layer_key_, forward_count_++);
  // probability 1 gives 2^32, above every 32-bit draw.
  sampler_.threshold = static_cast<uint64_t>(
      std::ldexp(static_cast<double>(param.probability()), 32));
}

// Writes value into each occluded image's square of data, nothing else.
template <typename Dtype>
static void FillSquares(const BlankSquareSampler& sampler, int num,
    int channels, int height, int width, Dtype value, Dtype* data) {
  for (int n = 0; n < num; ++n) {
    int y0 = 0, x0 = 0;
    if (!sampler.Square(n, &y0, &x0)) continue;
    for (int c = 0; c < channels; ++c) {
      Dtype* row = data + ((n * channels + c) * height + y0) * width + x0;
      for (int y = 0; y < sampler.height; ++y, row += width) {
        std::fill(row, row + sampler.width, value);
      }
    }
  }
}

template <typename Dtype>
void BlankSquareLayer<Dtype>::Forward_cpu(const vector<Blob<Dtype>*>& bottom,
    const vector<Blob<Dtype>*>& top) {
  BeginForward();
  const Dtype* src = bottom[0]->cpu_data();
  Dtype* dst = top[0]->mutable_cpu_data();
  if (!occluded_) {
    if (src != dst) caffe_copy(bottom[0]->count(), src, dst);
    return;
  }
  // Out of place: one copy of the whole batch (memcpy streams large ones),
  // then the squares. Measured against copying around the squares in one
  // pass, this was as fast or faster at every size benchmarked.
  if (src != dst) caffe_copy(bottom[0]->count(), src, dst);
  FillSquares(sampler_, num_, channels_, height_, width_,
      static_cast<Dtype>(this->layer_param_.blank_square_param().fill_value()),
      dst);
}

template <typename Dtype>
void BlankSquareLayer<Dtype>::Backward_cpu(const vector<Blob<Dtype>*>& top,
    const vector<bool>& propagate_down, const vector<Blob<Dtype>*>& bottom) {
  if (!propagate_down[0]) return;
  const Dtype* src = top[0]->cpu_diff();
  Dtype* dst = bottom[0]->mutable_cpu_diff();
  if (!occluded_) {
    if (src != dst) caffe_copy(top[0]->count(), src, dst);
    return;
  }
  if (src != dst) caffe_copy(top[0]->count(), src, dst);
  FillSquares(sampler_, num_, channels_, height_, width_, Dtype(0), dst);
}

#ifdef CPU_ONLY
STUB_GPU(BlankSquareLayer);
#endif

INSTANTIATE_CLASS(BlankSquareLayer);
REGISTER_LAYER_CLASS(BlankSquare);

}  // namespace caffe
