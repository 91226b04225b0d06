#include "caffe/util/host_memory.hpp"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "glog/logging.h"

namespace caffe {

namespace {

size_t PageSize() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

size_t RoundUp(size_t size, size_t multiple) {
  return (size + multiple - 1) / multiple * multiple;
}

/// The bytes a mapping for `size` covers (what munmap must be given).
size_t MappedLength(size_t size) { return RoundUp(size, PageSize()); }

/// A private anonymous mapping of `length` bytes starting at a multiple of
/// `alignment` (a multiple of the page size).
void* MapAligned(size_t length, size_t alignment) {
  const size_t slack = alignment - PageSize();
  void* mapped = mmap(NULL, length + slack, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(mapped != MAP_FAILED) << "host allocation of " << length
      << " bytes failed: mmap: " << std::strerror(errno);
  const uintptr_t start = reinterpret_cast<uintptr_t>(mapped);
  const uintptr_t aligned = RoundUp(start, alignment);
  // Give back the slack before and after the aligned block.
  if (aligned > start) {
    munmap(mapped, aligned - start);
  }
  const size_t tail = start + length + slack - (aligned + length);
  if (tail > 0) {
    munmap(reinterpret_cast<void*>(aligned + length), tail);
  }
  return reinterpret_cast<void*>(aligned);
}

}  // namespace

void* AllocateHostMemory(size_t size) {
  if (size < kHostHugePageThreshold) {
    const size_t alignment =
        size < kHostPageThreshold ? kHostAlignment : PageSize();
    void* ptr = NULL;
    const int error = posix_memalign(&ptr, alignment, size ? size : 1);
    CHECK_EQ(error, 0) << "host allocation of " << size << " bytes failed: "
                       << std::strerror(error);
    return ptr;
  }
  const size_t length = MappedLength(size);
  void* ptr = MapAligned(length, kHostHugePageThreshold);
#ifdef MADV_HUGEPAGE
  // Advice only: without transparent huge pages the mapping keeps 4K pages
  // (and only whole 2 MiB extents of it become huge pages).
  madvise(ptr, length, MADV_HUGEPAGE);
#endif
  return ptr;
}

void FreeHostMemory(void* ptr, size_t size) {
  if (!ptr) return;
  if (size < kHostHugePageThreshold) {
    free(ptr);
    return;
  }
  CHECK_EQ(munmap(ptr, MappedLength(size)), 0)
      << "freeing " << size << " bytes of host memory: munmap: "
      << std::strerror(errno);
}

}  // namespace caffe
