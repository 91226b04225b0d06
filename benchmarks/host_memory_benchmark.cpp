// What blob host memory costs under each allocation rule: SyncedMemory's
// (caffe::AllocateHostMemory, docs/memory.md) against malloc from the heap
// (after a large free, as in any NumPy session), posix_memalign to a page,
// and a mapping of 4 KiB pages (what malloc gives blocks above its
// threshold). Per size: allocate and zero (SyncedMemory zeroes a new blob,
// so this is the first-touch cost) and one later pass (memset), fastest of
// the rounds, measured in this one run.
//
// Usage: host_memory_benchmark [--gpu] [--min-time SECONDS]
// (--gpu: pinned memory comes from cudaMallocHost; nothing to measure here.)
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "benchmark_util.hpp"
#include "caffe/util/host_memory.hpp"

namespace {

typedef std::chrono::steady_clock Clock;

enum Rule { kSynced, kHeap, kPageAligned, kMapped4K, kRules };
const char* const kRuleNames[] = {"SyncedMemory", "malloc (heap)",
                                  "posix_memalign 4K", "mmap 4K pages"};

void* Allocate(int rule, size_t size) {
  void* ptr = NULL;
  switch (rule) {
    case kSynced: return caffe::AllocateHostMemory(size);
    case kHeap: return std::malloc(size);
    case kPageAligned: CHECK_EQ(0, posix_memalign(&ptr, 4096, size)); return ptr;
    default:
      ptr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      CHECK(ptr != MAP_FAILED);
      return ptr;
  }
}

void Free(int rule, void* ptr, size_t size) {
  switch (rule) {
    case kSynced: caffe::FreeHostMemory(ptr, size); break;
    case kHeap: case kPageAligned: std::free(ptr); break;
    default: munmap(ptr, size);
  }
}

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Options options = bench::Init(argc, argv);  // frees a large block
  if (options.gpu) {
    std::printf("host memory: GPU mode pins host memory with cudaMallocHost; "
                "this benchmark measures the CPU path only\n");
    return 0;
  }
  std::printf("Blob host memory: allocate+zero (first touch) and a later memset, "
              "fastest of the rounds, us\n");
  std::printf("%12s", "bytes");
  for (int rule = 0; rule < kRules; ++rule) {
    std::printf(" | %-17s %8s", kRuleNames[rule], "memset");
  }
  std::printf("\n");
  const size_t sizes[] = {64 << 10, 256 << 10, 1 << 20, 4 << 20, 25600000, 64 << 20};
  for (size_t size : sizes) {
    std::printf("%12zu", size);
    for (int rule = 0; rule < kRules; ++rule) {
      double first = 1e300, later = 1e300, total = 0;
      for (int round = 0; round < 5 || total < options.min_time; ++round) {
        const Clock::time_point start = Clock::now();
        char* ptr = static_cast<char*>(Allocate(rule, size));
        std::memset(ptr, 0, size);
        first = std::min(first, Since(start));
        const Clock::time_point pass = Clock::now();
        std::memset(ptr, round & 0xff, size);
        later = std::min(later, Since(pass));
        Free(rule, ptr, size);
        total += Since(start);
      }
      std::printf(" | %17.1f %8.1f", 1e6 * first, 1e6 * later);
    }
    std::printf("\n");
  }
  return 0;
}
