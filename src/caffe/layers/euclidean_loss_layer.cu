#include <stdint.h>

#include <algorithm>
#include <vector>

#include "caffe/layers/euclidean_loss_layer.hpp"
#include "caffe/util/gpu_occupancy.cuh"
#include "caffe/util/gpu_vector.cuh"

namespace caffe {

namespace {

const int kThreads = 256;  // per block, a power of two
// The forward grid: one wave of 256-thread blocks on an H100 or H200 (132
// SMs x 8 blocks, which the kernel's launch bounds keep resident), enough
// 16-byte loads in flight for their memory; more blocks would leave a
// second, partial wave. It depends on the count only, never on the device,
// so the loss has the same bits everywhere.
const int kForwardBlocks = 1024;
// The backward grid's limit: beyond it, threads loop (grid-stride).
const int kBackwardBlocks = 65535;

// Elements are taken in chunks of one vector's width (4 floats, 2
// doubles): thread t of the grid takes chunks t, t + threads, ... and does
// the elements of each chunk in order. The chunk is one vector load where
// the inputs are 16-byte aligned, and single loads where they are not (or
// at the end): the same elements in the same order either way, so where
// the buffers lie changes no bit of the result.
template <typename Dtype>
__device__ __forceinline__ void AddSquaredDistance(Dtype a, Dtype b,
                                                   double* sum) {
  const double d = static_cast<double>(a) - static_cast<double>(b);
  *sum = __fma_rn(d, d, *sum);
}

// Adds cache[0..kThreads) into cache[0] in a fixed order.
__device__ void BlockSum(double* cache) {
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride >>= 1) {
    if (threadIdx.x < stride) {
      cache[threadIdx.x] += cache[threadIdx.x + stride];
    }
    __syncthreads();
  }
}

// The loss in one launch: each block sums (a - b)^2 over its share into
// block_sums; the last block to finish (counted in *blocks_done) adds them
// up in block order, writes loss = sum / (2 num) into *loss and
// loss x loss_weight[0] into *weighted_loss (pinned host memory, which
// Loss_gpu reads without a copy), and sets *blocks_done back to 0 for the
// next launch.
template <typename Dtype, bool kVector>
__global__ void __launch_bounds__(kThreads,
    CAFFE_FULL_OCCUPANCY_BLOCKS(kThreads)) EuclideanLossForward(
    const int64_t count, const Dtype* a, const Dtype* b, const int num,
    const Dtype* loss_weight, double* block_sums, unsigned int* blocks_done,
    Dtype* loss, Dtype* weighted_loss) {
  typedef GpuVector<Dtype> V;
  __shared__ double cache[kThreads];
  __shared__ bool last_block;
  const int64_t chunks = (count + V::kWidth - 1) / V::kWidth;
  const int64_t stride = static_cast<int64_t>(kThreads) * gridDim.x;
  double sum = 0;
  for (int64_t k = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x;
       k < chunks; k += stride) {
    const int64_t i = k * V::kWidth;
    if (kVector && i + V::kWidth <= count) {
      const typename V::Type va = V::Load(a + i);
      const typename V::Type vb = V::Load(b + i);
#pragma unroll
      for (int e = 0; e < V::kWidth; ++e) {
        AddSquaredDistance(V::Get(va, e), V::Get(vb, e), &sum);
      }
    } else {
      for (int64_t j = i; j < i + V::kWidth && j < count; ++j) {
        AddSquaredDistance(a[j], b[j], &sum);
      }
    }
  }
  cache[threadIdx.x] = sum;
  BlockSum(cache);
  if (threadIdx.x == 0) {
    block_sums[blockIdx.x] = cache[0];
    // The sum is visible to every block before the count says it is done.
    __threadfence();
    last_block = atomicAdd(blocks_done, 1u) == gridDim.x - 1;
  }
  __syncthreads();
  if (!last_block) return;
  __threadfence();  // see the other blocks' sums, not stale cached ones
  double total = 0;
  for (int k = threadIdx.x; k < gridDim.x; k += kThreads) {
    total += __ldcg(block_sums + k);
  }
  cache[threadIdx.x] = total;
  BlockSum(cache);
  if (threadIdx.x == 0) {
    const Dtype value =
        num > 0 ? static_cast<Dtype>(cache[0] / (2.0 * num)) : Dtype(0);
    *loss = value;
    *weighted_loss = value * loss_weight[0];
    *blocks_done = 0;
  }
}

// Both gradients in one pass: da = scale (a - b), db = -da, scale =
// top_diff[0] / num read on the device (Backward never waits for the
// host); a null output is skipped. Chunks as in the forward kernel.
template <typename Dtype, bool kVector>
__global__ void EuclideanLossBackward(const int64_t count, const Dtype* a,
    const Dtype* b, const Dtype* top_diff, const int num, Dtype* da,
    Dtype* db) {
  typedef GpuVector<Dtype> V;
  const Dtype scale = top_diff[0] / num;
  const int64_t chunks = (count + V::kWidth - 1) / V::kWidth;
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t k = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
       k < chunks; k += stride) {
    const int64_t i = k * V::kWidth;
    if (kVector && i + V::kWidth <= count) {
      const typename V::Type g =
          V::ScaledDifference(scale, V::Load(a + i), V::Load(b + i));
      if (da) V::Store(da + i, g);
      if (db) V::Store(db + i, V::Negative(g));
    } else {
      for (int64_t j = i; j < i + V::kWidth && j < count; ++j) {
        const Dtype g = scale * (a[j] - b[j]);
        if (da) da[j] = g;
        if (db) db[j] = -g;
      }
    }
  }
}

}  // namespace

template <typename Dtype>
void EuclideanLossLayer<Dtype>::Forward_gpu(const vector<Blob<Dtype>*>& bottom,
    const vector<Blob<Dtype>*>& top) {
  if (!host_loss_) {
    // Mapped (the kernel writes it), portable (any device's kernel may).
    CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&host_loss_),
        sizeof(Dtype), cudaHostAllocMapped | cudaHostAllocPortable));
    CUDA_CHECK(cudaHostGetDevicePointer(
        reinterpret_cast<void**>(&host_loss_on_device_), host_loss_, 0));
    // Zeroed when first on the device; each launch leaves it 0.
    blocks_done_.Reshape(vector<int>(1, 1));
  }
  const int64_t count = bottom[0]->count();
  const int64_t chunks = (count + GpuVector<Dtype>::kWidth - 1) /
                         GpuVector<Dtype>::kWidth;
  const int blocks = static_cast<int>(std::max<int64_t>(1,
      std::min<int64_t>(kForwardBlocks, (chunks + kThreads - 1) / kThreads)));
  block_sums_.Reshape(vector<int>(1, blocks));
  const Dtype* a = bottom[0]->gpu_data();
  const Dtype* b = bottom[1]->gpu_data();
  void (*kernel)(int64_t, const Dtype*, const Dtype*, int, const Dtype*,
      double*, unsigned int*, Dtype*, Dtype*) = VectorAligned(a, b) ?
      EuclideanLossForward<Dtype, true> : EuclideanLossForward<Dtype, false>;
  // NOLINT_NEXT_LINE(whitespace/operators)
  kernel<<<blocks, kThreads>>>(count, a, b, num_, top[0]->gpu_diff(),
      block_sums_.mutable_gpu_data(), blocks_done_.mutable_gpu_data(),
      top[0]->mutable_gpu_data(), host_loss_on_device_);
  CUDA_POST_KERNEL_CHECK;
}

template <typename Dtype>
void EuclideanLossLayer<Dtype>::Backward_gpu(const vector<Blob<Dtype>*>& top,
    const vector<bool>& propagate_down, const vector<Blob<Dtype>*>& bottom) {
  if (!propagate_down[0] && !propagate_down[1]) return;
  const int64_t count = bottom[0]->count();
  if (count == 0) return;
  const Dtype* a = bottom[0]->gpu_data();
  const Dtype* b = bottom[1]->gpu_data();
  Dtype* da = propagate_down[0] ? bottom[0]->mutable_gpu_diff() : NULL;
  Dtype* db = propagate_down[1] ? bottom[1]->mutable_gpu_diff() : NULL;
  const int64_t chunks = (count + GpuVector<Dtype>::kWidth - 1) /
                         GpuVector<Dtype>::kWidth;
  const int blocks = static_cast<int>(std::min<int64_t>(kBackwardBlocks,
      (chunks + kThreads - 1) / kThreads));
  void (*kernel)(int64_t, const Dtype*, const Dtype*, const Dtype*, int,
      Dtype*, Dtype*) = VectorAligned(a, b, da, db) ?
      EuclideanLossBackward<Dtype, true> : EuclideanLossBackward<Dtype, false>;
  // NOLINT_NEXT_LINE(whitespace/operators)
  kernel<<<blocks, kThreads>>>(count, a, b, top[0]->gpu_diff(), num_, da, db);
  CUDA_POST_KERNEL_CHECK;
}

INSTANTIATE_LAYER_GPU_FUNCS(EuclideanLossLayer);

}  // namespace caffe
