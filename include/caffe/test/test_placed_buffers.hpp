// Blob memory at chosen offsets, to test that a layer's results do not
// depend on where its buffers lie (page-aligned and 4K-aliased, 16 bytes
// past a page as glibc's mmap chunks are, misaligned by an element, ...).
#ifndef CAFFE_TEST_TEST_PLACED_BUFFERS_HPP_
#define CAFFE_TEST_TEST_PLACED_BUFFERS_HPP_

#include <stdint.h>

#include <cstring>
#include <vector>

#include "caffe/common.hpp"
#include "caffe/syncedmem.hpp"

namespace caffe {

template <typename Dtype>
class PlacedBuffers {
 public:
  static const size_t kPage = 4096;

  /// Room for buffers of `count` elements, buffer k starting offsets[k]
  /// bytes past a page boundary (offsets below kPage, multiples of
  /// sizeof(Dtype)), on the host in CPU mode and on the device in GPU mode.
  PlacedBuffers(int count, const size_t* offsets, int buffers = 4)
      : bytes_(count * sizeof(Dtype)), gpu_(Caffe::mode() == Caffe::GPU),
        offsets_(offsets, offsets + buffers),
        host_(gpu_ ? 0 : buffers), device_(buffers, NULL) {
    for (int k = 0; k < buffers; ++k) {
      CHECK_LT(offsets[k], kPage);
      CHECK_EQ(offsets[k] % sizeof(Dtype), 0);
      if (gpu_) {
#ifndef CPU_ONLY
        CUDA_CHECK(cudaMalloc(&device_[k], bytes_ + 2 * kPage));
#endif
      } else {
        host_[k].resize(bytes_ + 2 * kPage);
      }
    }
  }
  ~PlacedBuffers() {
#ifndef CPU_ONLY
    for (void* ptr : device_) {
      if (ptr) cudaFree(ptr);
    }
#endif
  }

  /// Buffer k, filled with `values` (zeros when null), becomes `memory`'s
  /// data on the device the mode selects; the memory does not own it.
  void Place(int k, const Dtype* values, SyncedMemory* memory) {
    char* base = gpu_ ? static_cast<char*>(device_[k]) : host_[k].data();
    const uintptr_t page = (reinterpret_cast<uintptr_t>(base) + kPage - 1) &
                           ~static_cast<uintptr_t>(kPage - 1);
    char* ptr = reinterpret_cast<char*>(page) + offsets_[k];
    if (gpu_) {
#ifndef CPU_ONLY
      if (values) {
        CUDA_CHECK(cudaMemcpy(ptr, values, bytes_, cudaMemcpyHostToDevice));
      } else {
        CUDA_CHECK(cudaMemset(ptr, 0, bytes_));
      }
      memory->set_gpu_data(ptr);
#endif
    } else {
      if (values) {
        std::memcpy(ptr, values, bytes_);
      } else {
        std::memset(ptr, 0, bytes_);
      }
      memory->set_cpu_data(ptr);
    }
  }

 private:
  const size_t bytes_;
  const bool gpu_;
  const std::vector<size_t> offsets_;
  std::vector<std::vector<char> > host_;
  std::vector<void*> device_;

  DISABLE_COPY_AND_ASSIGN(PlacedBuffers);
};

}  // namespace caffe

#endif  // CAFFE_TEST_TEST_PLACED_BUFFERS_HPP_
