#include <vector>

#include "caffe/layers/blank_square_layer.hpp"
#include "caffe/util/math_functions.hpp"

namespace caffe {

namespace {

// Out of place: every element once, src or value.
template <typename Dtype>
__global__ void CopyWithSquares(const int count, const BlankSquareSampler
    sampler, const int image, const int height, const int width,
    const Dtype* src, const Dtype value, Dtype* dst) {
  CUDA_KERNEL_LOOP(index, count) {
    const int n = index / image;
    const int y = (index / width) % height;
    const int x = index % width;
    int y0, x0;
    const bool blank = sampler.Square(n, &y0, &x0) &&
        y >= y0 && y < y0 + sampler.height && x >= x0 && x < x0 + sampler.width;
    dst[index] = blank ? value : src[index];
  }
}

// In place: one thread per element of the squares, nothing else written.
template <typename Dtype>
__global__ void FillSquares(const int count, const BlankSquareSampler sampler,
    const int channels, const int height, const int width, const Dtype value,
    Dtype* data) {
  const int square = sampler.height * sampler.width;
  CUDA_KERNEL_LOOP(index, count) {
    const int n = index / (channels * square);
    const int c = (index / square) % channels;
    const int dy = (index / sampler.width) % sampler.height;
    const int dx = index % sampler.width;
    int y0, x0;
    if (sampler.Square(n, &y0, &x0)) {
      data[((n * channels + c) * height + y0 + dy) * width + x0 + dx] = value;
    }
  }
}

template <typename Dtype>
void BlankSquaresGpu(const BlankSquareSampler& sampler, int num, int channels,
    int height, int width, const Dtype* src, Dtype value, Dtype* dst) {
  if (src == dst) {
    const int count = num * channels * sampler.height * sampler.width;
    // NOLINT_NEXT_LINE(whitespace/operators)
    FillSquares<Dtype><<<CAFFE_GET_BLOCKS(count), CAFFE_CUDA_NUM_THREADS>>>(
        count, sampler, channels, height, width, value, dst);
  } else {
    const int count = num * channels * height * width;
    // NOLINT_NEXT_LINE(whitespace/operators)
    CopyWithSquares<Dtype><<<CAFFE_GET_BLOCKS(count), CAFFE_CUDA_NUM_THREADS>>>(
        count, sampler, channels * height * width, height, width, src, value,
        dst);
  }
  CUDA_POST_KERNEL_CHECK;
}

}  // namespace

template <typename Dtype>
void BlankSquareLayer<Dtype>::Forward_gpu(const vector<Blob<Dtype>*>& bottom,
    const vector<Blob<Dtype>*>& top) {
  BeginForward();
  const Dtype* src = bottom[0]->gpu_data();
  Dtype* dst = top[0]->mutable_gpu_data();
  if (!occluded_) {
    if (src != dst) caffe_copy(bottom[0]->count(), src, dst);
    return;
  }
  BlankSquaresGpu(sampler_, num_, channels_, height_, width_, src,
      static_cast<Dtype>(this->layer_param_.blank_square_param().fill_value()),
      dst);
}

template <typename Dtype>
void BlankSquareLayer<Dtype>::Backward_gpu(const vector<Blob<Dtype>*>& top,
    const vector<bool>& propagate_down, const vector<Blob<Dtype>*>& bottom) {
  if (!propagate_down[0]) return;
  const Dtype* src = top[0]->gpu_diff();
  Dtype* dst = bottom[0]->mutable_gpu_diff();
  if (!occluded_) {
    if (src != dst) caffe_copy(top[0]->count(), src, dst);
    return;
  }
  BlankSquaresGpu(sampler_, num_, channels_, height_, width_, src, Dtype(0),
      dst);
}

INSTANTIATE_LAYER_GPU_FUNCS(BlankSquareLayer);

}  // namespace caffe
