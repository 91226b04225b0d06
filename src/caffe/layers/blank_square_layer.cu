#include <stdint.h>

#include <vector>

#include "caffe/layers/blank_square_kernels.hpp"
#include "caffe/layers/blank_square_layer.hpp"
#include "caffe/util/gpu_occupancy.cuh"
#include "caffe/util/gpu_vector.cuh"
#include "caffe/util/math_functions.hpp"
#include "caffe/util/vector_alignment.hpp"

namespace caffe {

namespace {

using blank_square::Geometry;
using blank_square::LaunchShape;
using blank_square::Shape;
using blank_square::Thread;

// Device memory for blank_square_kernels.hpp's kernel bodies: src (null in
// place), dst, the fill value and where the squares are. Per sample, a
// thread draws the square of each image it works on, once (the kernel
// bodies ask once per image), with the CPU's generator: a few 64-bit
// multiplies per thread, where a kernel that drew them all first cost a
// launch of its own on every forward pass. Otherwise the batch's one
// square, drawn on the host (x < 0: none).
template <typename Dtype>
struct DeviceMemory {
  typedef GpuVector<Dtype> V;
  const Dtype* __restrict__ src;
  Dtype* __restrict__ dst;
  Dtype value;
  BlankSquareSampler sampler;
  PixelYX batch_corner;

  __device__ __forceinline__ bool Corner(int64_t n, PixelYX* corner) const {
    if (sampler.per_sample) return sampler.Square(static_cast<int>(n), corner);
    *corner = batch_corner;
    return batch_corner.x >= 0;
  }
  __device__ __forceinline__ int Head(size_t offset, int length) const {
    return blank_square::HeadLength(reinterpret_cast<uintptr_t>(dst + offset),
                                    sizeof(Dtype), length);
  }
  __device__ __forceinline__ void Copy(size_t i) { dst[i] = src[i]; }
  __device__ __forceinline__ void Fill(size_t i) { dst[i] = value; }
  __device__ __forceinline__ void CopyVector(size_t i) {
    V::Store(dst + i, V::Load(src + i));
  }
  __device__ __forceinline__ void FillVector(size_t i) {
    V::Store(dst + i, V::Broadcast(value));
  }
};

__device__ __forceinline__ Thread ThisThread() {
  const Thread t = {static_cast<int>(blockIdx.x), static_cast<int>(blockIdx.y),
      static_cast<int>(blockIdx.z), static_cast<int>(threadIdx.x),
      static_cast<int>(threadIdx.y), static_cast<int>(blockDim.x),
      static_cast<int>(blockDim.y), static_cast<int>(gridDim.y),
      static_cast<int>(gridDim.z)};
  return t;
}

// Out of place (forward, or backward of the gradient): one pass over every
// element, copying outside the squares and writing value inside them
// without reading what they cover. kVector: src and dst are aligned alike.
// Full occupancy (at most 32 registers where an SM has 2048 thread slots):
// one 16-byte load in flight per thread, so the memory needs them all.
template <typename Dtype, bool kVector>
__global__ void __launch_bounds__(blank_square::kThreadsPerBlock,
    CAFFE_FULL_OCCUPANCY_BLOCKS(blank_square::kThreadsPerBlock))
CopyBlankingSquares(const Geometry g, DeviceMemory<Dtype> m) {
  blank_square::CopyBlankingThread<GpuVector<Dtype>::kWidth, kVector>(
      g, ThisThread(), m);
}

// In place: only the squares are written.
template <typename Dtype>
__global__ void FillSquares(const Geometry g, DeviceMemory<Dtype> m) {
  blank_square::FillSquareThread<GpuVector<Dtype>::kWidth>(g, ThisThread(),
                                                           m);
}

dim3 Block(const Shape& s) { return dim3(s.lanes, s.rows); }
dim3 Grid(const Shape& s) { return dim3(s.grid_x, s.grid_y, s.grid_z); }

}  // namespace

template <typename Dtype>
void BlankSquareLayer<Dtype>::BlankSquaresGpu(const Dtype* src, Dtype value,
    Dtype* dst) {
  if (num_ == 0 || channels_ == 0) return;  // an empty grid is a launch error
  const Geometry g = {num_, channels_, height_, width_, sampler_.height,
                      sampler_.width};
  DeviceMemory<Dtype> m = {src, dst, value, sampler_, {-1, -1}};
  if (!sampler_.per_sample && !sampler_.Square(0, &m.batch_corner)) {
    m.batch_corner = PixelYX{-1, -1};
  }
  const int kWidth = GpuVector<Dtype>::kWidth;
  if (src == dst) {
    if (!sampler_.per_sample && m.batch_corner.x < 0) return;  // no square
    m.src = NULL;
    const Shape s = LaunchShape(g, g.square_height, g.square_width, kWidth);
    // NOLINT_NEXT_LINE(whitespace/operators)
    FillSquares<Dtype><<<Grid(s), Block(s)>>>(g, m);
  } else if (AlignedAlike(src, dst)) {
    // Every row's head has the same length in both, so the vectors after it
    // are aligned in both.
    const Shape s = LaunchShape(g, g.height, g.width, kWidth);
    // NOLINT_NEXT_LINE(whitespace/operators)
    CopyBlankingSquares<Dtype, true><<<Grid(s), Block(s)>>>(g, m);
  } else {
    const Shape s = LaunchShape(g, g.height, g.width, 1);
    // NOLINT_NEXT_LINE(whitespace/operators)
    CopyBlankingSquares<Dtype, false><<<Grid(s), Block(s)>>>(g, m);
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
