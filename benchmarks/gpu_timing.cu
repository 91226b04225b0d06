// Kernels for the GPU side of the benchmarks (benchmark_util.hpp): an empty
// kernel, whose back-to-back time is the launch floor, and a vectorised
// copy, the memory roofline.
#include <stdint.h>

#include <algorithm>

#include "benchmark_util.hpp"
#include "caffe/util/vector_alignment.hpp"

namespace bench {

namespace {

__global__ void EmptyKernel() {}

// dst = src over `vectors` 16-byte vectors, one per thread, then the last
// `tail` bytes (fewer than 16) by block 0.
__global__ void CopyKernel(const uint4* src, uint4* dst, size_t vectors,
                           const char* src_tail, char* dst_tail, int tail) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i < vectors) dst[i] = src[i];
  if (blockIdx.x == 0 && static_cast<int>(threadIdx.x) < tail) {
    dst_tail[threadIdx.x] = src_tail[threadIdx.x];
  }
}

}  // namespace

void LaunchEmptyKernel() {
  EmptyKernel<<<1, 1>>>();
  CUDA_POST_KERNEL_CHECK;
}

void LaunchCopyKernel(const void* src, void* dst, size_t bytes) {
  CHECK_EQ(caffe::VectorMisalignment(reinterpret_cast<uintptr_t>(src)), 0)
      << "copy source";
  CHECK_EQ(caffe::VectorMisalignment(reinterpret_cast<uintptr_t>(dst)), 0)
      << "copy destination";
  const size_t vectors = bytes / sizeof(uint4);
  const int tail = static_cast<int>(bytes % sizeof(uint4));
  const int threads = 256;
  const size_t blocks = std::max<size_t>(1, (vectors + threads - 1) / threads);
  CHECK_LE(blocks, 0x7fffffffu) << "copy of " << bytes << " bytes";
  // NOLINT_NEXT_LINE(whitespace/operators)
  CopyKernel<<<static_cast<unsigned int>(blocks), threads>>>(
      static_cast<const uint4*>(src), static_cast<uint4*>(dst), vectors,
      static_cast<const char*>(src) + sizeof(uint4) * vectors,
      static_cast<char*>(dst) + sizeof(uint4) * vectors, tail);
  CUDA_POST_KERNEL_CHECK;
}

}  // namespace bench
