#ifndef CAFFE_UTIL_HOST_MEMORY_HPP_
#define CAFFE_UTIL_HOST_MEMORY_HPP_

#include <cstddef>

namespace caffe {

// Host memory for blobs (CaffeMallocHost's CPU path,
// patches/0016-aligned-host-memory.patch), placed by rule rather than by
// malloc's dynamic mmap threshold, which rises after the process frees a large
// block (NumPy does so all the time) and would put the same blob on the heap
// in one session and in its own mapping in another.
// The rules and the measurements behind them: docs/memory.md.

/// Every host allocation starts on a cache line.
const size_t kHostAlignment = 64;
/// From this size on, a block starts on a page (posix_memalign: from the
/// heap or a mapping as malloc sees fit, page-aligned either way).
const size_t kHostPageThreshold = 128 << 10;
/// From this size on, a block gets its own 2 MiB-aligned mapping with
/// transparent huge pages asked for (madvise(MADV_HUGEPAGE)): far fewer
/// page faults on first touch and TLB misses when a kernel streams over it.
const size_t kHostHugePageThreshold = 2 << 20;

/// Aligned, uninitialised host memory of `size` bytes (a valid unique
/// pointer for size 0); CHECK-fails with the size when memory runs out.
void* AllocateHostMemory(size_t size);
/// Frees memory from AllocateHostMemory; `size` must be the same.
void FreeHostMemory(void* ptr, size_t size);

}  // namespace caffe

#endif  // CAFFE_UTIL_HOST_MEMORY_HPP_
