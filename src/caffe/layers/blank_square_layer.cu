#include <algorithm>
#include <vector>

#include "caffe/layers/blank_square_layer.hpp"
#include "caffe/util/math_functions.hpp"

namespace caffe {

namespace {

// Threads of a block: 32 columns (a warp along a row) by 8 rows.
const int kBlockColumns = 32;
const int kBlockRows = 8;
const int kMaxGridZ = 65535;

// One thread per image: the top-left corner of its square (x the column, y
// the row), or x = -1 where the image is not occluded. The draws are made
// here once per image, so the kernels below do no hashing per element.
__global__ void PlaceSquares(const int num, const BlankSquareSampler sampler,
    int2* corners) {
  CUDA_KERNEL_LOOP(n, num) {
    int y0, x0;
    corners[n] = sampler.Square(n, &y0, &x0) ? make_int2(x0, y0)
                                             : make_int2(-1, -1);
  }
}

// Out of place: every element once, src or value. Grid x and y tile an
// image's rows and columns, z runs over images; each thread does its
// pixel in every channel (no division per element).
template <typename Dtype>
__global__ void CopyWithSquares(const int num, const int channels,
    const int height, const int width, const int square_height,
    const int square_width, const int2* corners, const Dtype* src,
    const Dtype value, Dtype* dst) {
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  const int y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= width || y >= height) return;
  for (int n = blockIdx.z; n < num; n += gridDim.z) {
    const int2 corner = corners[n];
    const bool blank = corner.x >= 0 && x >= corner.x &&
        x < corner.x + square_width && y >= corner.y &&
        y < corner.y + square_height;
    size_t index = (static_cast<size_t>(n) * channels * height + y) * width + x;
    for (int c = 0; c < channels; ++c, index += height * width) {
      dst[index] = blank ? value : src[index];
    }
  }
}

// In place: only the squares are written. Grid x and y tile a square, z
// runs over images; each thread does its pixel in every channel.
template <typename Dtype>
__global__ void FillSquares(const int num, const int channels,
    const int height, const int width, const int square_height,
    const int square_width, const int2* corners, const Dtype value,
    Dtype* data) {
  const int dx = blockIdx.x * blockDim.x + threadIdx.x;
  const int dy = blockIdx.y * blockDim.y + threadIdx.y;
  if (dx >= square_width || dy >= square_height) return;
  for (int n = blockIdx.z; n < num; n += gridDim.z) {
    const int2 corner = corners[n];
    if (corner.x < 0) continue;
    size_t index = (static_cast<size_t>(n) * channels * height + corner.y +
                    dy) * width + corner.x + dx;
    for (int c = 0; c < channels; ++c, index += height * width) {
      data[index] = value;
    }
  }
}

}  // namespace

template <typename Dtype>
void BlankSquareLayer<Dtype>::BlankSquaresGpu(const Dtype* src, Dtype value,
    Dtype* dst) {
  int2* corners = reinterpret_cast<int2*>(corners_.mutable_gpu_data());
  // NOLINT_NEXT_LINE(whitespace/operators)
  PlaceSquares<<<CAFFE_GET_BLOCKS(num_), CAFFE_CUDA_NUM_THREADS>>>(num_,
      sampler_, corners);
  CUDA_POST_KERNEL_CHECK;
  const dim3 threads(kBlockColumns, kBlockRows);
  const int images = std::min(num_, kMaxGridZ);
  if (src == dst) {
    const dim3 blocks((sampler_.width + kBlockColumns - 1) / kBlockColumns,
        (sampler_.height + kBlockRows - 1) / kBlockRows, images);
    // NOLINT_NEXT_LINE(whitespace/operators)
    FillSquares<Dtype><<<blocks, threads>>>(num_, channels_, height_, width_,
        sampler_.height, sampler_.width, corners, value, dst);
  } else {
    const dim3 blocks((width_ + kBlockColumns - 1) / kBlockColumns,
        (height_ + kBlockRows - 1) / kBlockRows, images);
    // NOLINT_NEXT_LINE(whitespace/operators)
    CopyWithSquares<Dtype><<<blocks, threads>>>(num_, channels_, height_,
        width_, sampler_.height, sampler_.width, corners, src, value, dst);
  }
  CUDA_POST_KERNEL_CHECK;
}

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
  BlankSquaresGpu(src,
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
  BlankSquaresGpu(src, Dtype(0), dst);
}

INSTANTIATE_LAYER_GPU_FUNCS(BlankSquareLayer);

}  // namespace caffe
