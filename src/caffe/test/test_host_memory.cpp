// SyncedMemory's host allocations (patches/0016-aligned-host-memory.patch,
// util/host_memory.hpp): aligned by rule whatever malloc did before, and
// usable to the last byte.
#include <stdint.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "gtest/gtest.h"

#include "caffe/common.hpp"
#include "caffe/syncedmem.hpp"
#include "caffe/util/host_memory.hpp"

#include "caffe/test/test_caffe_main.hpp"

namespace caffe {

namespace {

uintptr_t Address(const void* ptr) { return reinterpret_cast<uintptr_t>(ptr); }

// The alignment a block of `size` bytes is promised.
size_t PromisedAlignment(size_t size) {
  if (size >= kHostHugePageThreshold) return kHostHugePageThreshold;
  if (size >= kHostPageThreshold) return 4096;
  return kHostAlignment;
}

// Sizes around every threshold, odd ones included.
const size_t kSizes[] = {0, 1, 63, 4097, kHostPageThreshold - 1,
    kHostPageThreshold, (1 << 20) + 3, kHostHugePageThreshold - 1,
    kHostHugePageThreshold, 5 * kHostHugePageThreshold + 7};

void CheckAllocations() {
  for (size_t size : kSizes) {
    SyncedMemory memory(size);
    char* data = static_cast<char*>(memory.mutable_cpu_data());
    EXPECT_EQ(0, Address(data) % PromisedAlignment(size)) << "size " << size;
    // Zeroed (SyncedMemory's contract) and writable to the last byte.
    for (size_t i = 0; i < size; i += 997) ASSERT_EQ(0, data[i]) << i;
    if (size > 0) {
      EXPECT_EQ(0, data[size - 1]);
      std::memset(data, 0x5a, size);
      EXPECT_EQ(0x5a, data[size - 1]);
    }
  }
}

}  // namespace

class HostMemoryTest : public ::testing::Test {};

TEST_F(HostMemoryTest, TestAlignmentAndSizes) {
  CheckAllocations();
}

TEST_F(HostMemoryTest, TestAlignmentAfterLargeFree) {
  // glibc raises its mmap threshold to the size of a freed mapped block (up
  // to 32 MiB), so after this free malloc serves blocks of several MB from
  // the heap, 16 bytes past an arbitrary address. SyncedMemory must not.
  const size_t kLarge = 24 << 20;
  char* volatile large = static_cast<char*>(std::malloc(kLarge));
  ASSERT_TRUE(large != NULL);
  large[0] = 1;
  large[kLarge - 1] = 1;
  std::free(large);
  CheckAllocations();
  std::vector<SyncedMemory*> blobs;  // several at once: none overlaps
  for (int k = 0; k < 4; ++k) {
    blobs.push_back(new SyncedMemory(3 << 20));
    std::memset(blobs.back()->mutable_cpu_data(), k, 3 << 20);
  }
  for (int k = 0; k < 4; ++k) {
    const char* data = static_cast<const char*>(blobs[k]->cpu_data());
    EXPECT_EQ(0, Address(data) % kHostHugePageThreshold);
    EXPECT_EQ(k, data[0]);
    EXPECT_EQ(k, data[(3 << 20) - 1]);
    delete blobs[k];
  }
}

TEST_F(HostMemoryTest, TestFreeOnSetCpuData) {
  // Replacing owned memory frees it the way it was allocated (free() on a
  // mapping, or munmap of the wrong length, aborts or corrupts the heap).
  std::vector<float> external(1 << 20, 1.0f);
  for (size_t size : kSizes) {
    SyncedMemory memory(size);
    memory.mutable_cpu_data();
    memory.set_cpu_data(external.data());
    EXPECT_EQ(external.data(), memory.cpu_data());
  }
}

#ifndef CPU_ONLY
// In GPU mode host memory is pinned (cudaMallocHost), as upstream's is.
TEST_F(HostMemoryTest, TestPinnedInGPUMode) {
  Caffe::set_mode(Caffe::GPU);
  const size_t size = kHostHugePageThreshold + 5;
  SyncedMemory memory(size);
  char* data = static_cast<char*>(memory.mutable_cpu_data());
  cudaPointerAttributes attributes;
  CUDA_CHECK(cudaPointerGetAttributes(&attributes, data));
  EXPECT_EQ(cudaMemoryTypeHost, attributes.type);
  std::memset(data, 1, size);
  char last = 0;
  CUDA_CHECK(cudaMemcpy(&last,
      static_cast<const char*>(memory.gpu_data()) + size - 1, 1,
      cudaMemcpyDeviceToHost));
  EXPECT_EQ(1, last);
}
#endif

}  // namespace caffe
