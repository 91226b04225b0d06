#include <algorithm>
#include <vector>

#include "caffe/layers/euclidean_loss_layer.hpp"

namespace caffe {

namespace {

const int kThreads = 256;   // per block, a power of two
const int kMaxBlocks = 1024;

// Adds cache[0..kThreads) into cache[0] in a fixed order.
__device__ void BlockSum(double* cache) {
  for (int stride = kThreads / 2; stride > 0; stride >>= 1) {
    if (threadIdx.x < stride) {
      cache[threadIdx.x] += cache[threadIdx.x + stride];
    }
    __syncthreads();
  }
}

// Each block writes the sum of (a - b)^2 over its grid-stride share. The
// grid depends only on count, so the summation order is fixed.
template <typename Dtype>
__global__ void SquaredDistanceBlocks(const int count, const Dtype* a,
    const Dtype* b, double* block_sums) {
  __shared__ double cache[kThreads];
  double sum = 0;
  for (int i = blockIdx.x * kThreads + threadIdx.x; i < count;
       i += kThreads * gridDim.x) {
    const double d = static_cast<double>(a[i]) - b[i];
    sum += d * d;
  }
  cache[threadIdx.x] = sum;
  __syncthreads();
  BlockSum(cache);
  if (threadIdx.x == 0) block_sums[blockIdx.x] = cache[0];
}

// One block: loss = sum(block_sums) / (2 num).
template <typename Dtype>
__global__ void FinishLoss(const int blocks, const double* block_sums,
    const int num, Dtype* loss) {
  __shared__ double cache[kThreads];
  double sum = 0;
  for (int i = threadIdx.x; i < blocks; i += kThreads) sum += block_sums[i];
  cache[threadIdx.x] = sum;
  __syncthreads();
  BlockSum(cache);
  if (threadIdx.x == 0) {
    loss[0] = num > 0 ? static_cast<Dtype>(cache[0] / (2.0 * num)) : Dtype(0);
  }
}

// Gradients of both inputs in one pass; a null output is skipped. The
// scale is read on the device, so Backward never waits for the host.
template <typename Dtype>
__global__ void EuclideanGradients(const int count, const Dtype* a,
    const Dtype* b, const Dtype* top_diff, const int num, Dtype* da,
    Dtype* db) {
  const Dtype scale = top_diff[0] / num;
  CUDA_KERNEL_LOOP(i, count) {
    const Dtype g = scale * (a[i] - b[i]);
    if (da) da[i] = g;
    if (db) db[i] = -g;
  }
}

}  // namespace

template <typename Dtype>
void EuclideanLossLayer<Dtype>::Forward_gpu(const vector<Blob<Dtype>*>& bottom,
    const vector<Blob<Dtype>*>& top) {
  const int count = bottom[0]->count();
  const int blocks = std::max(1, std::min(kMaxBlocks,
      (count + kThreads - 1) / kThreads));
  block_sums_.Reshape(vector<int>(1, blocks));
  double* block_sums = block_sums_.mutable_gpu_data();
  // NOLINT_NEXT_LINE(whitespace/operators)
  SquaredDistanceBlocks<Dtype><<<blocks, kThreads>>>(count,
      bottom[0]->gpu_data(), bottom[1]->gpu_data(), block_sums);
  // NOLINT_NEXT_LINE(whitespace/operators)
  FinishLoss<Dtype><<<1, kThreads>>>(blocks, block_sums, num_,
      top[0]->mutable_gpu_data());
  CUDA_POST_KERNEL_CHECK;
}

template <typename Dtype>
void EuclideanLossLayer<Dtype>::Backward_gpu(const vector<Blob<Dtype>*>& top,
    const vector<bool>& propagate_down, const vector<Blob<Dtype>*>& bottom) {
  if (!propagate_down[0] && !propagate_down[1]) return;
  const int count = bottom[0]->count();
  if (count == 0) return;
  Dtype* da = propagate_down[0] ? bottom[0]->mutable_gpu_diff() : NULL;
  Dtype* db = propagate_down[1] ? bottom[1]->mutable_gpu_diff() : NULL;
  // NOLINT_NEXT_LINE(whitespace/operators)
  EuclideanGradients<Dtype><<<CAFFE_GET_BLOCKS(count), CAFFE_CUDA_NUM_THREADS>>>(
      count, bottom[0]->gpu_data(), bottom[1]->gpu_data(),
      top[0]->gpu_diff(), num_, da, db);
  CUDA_POST_KERNEL_CHECK;
}

INSTANTIATE_LAYER_GPU_FUNCS(EuclideanLossLayer);

}  // namespace caffe
