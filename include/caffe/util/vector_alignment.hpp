#ifndef CAFFE_UTIL_VECTOR_ALIGNMENT_HPP_
#define CAFFE_UTIL_VECTOR_ALIGNMENT_HPP_

#include <stdint.h>

#include "caffe/util/counter_rng.hpp"  // CAFFE_HOST_DEVICE

namespace caffe {

/// The widest access the vectorized kernels make: SSE2's __m128 on the
/// host, float4 and double2 on the GPU. Such an access must not straddle a
/// multiple of it.
const int kVectorBytes = 16;

/// Bytes `address` lies past the last multiple of kVectorBytes.
CAFFE_HOST_DEVICE inline int VectorMisalignment(uintptr_t address) {
  return static_cast<int>(address & (kVectorBytes - 1));
}

/// Whether `a` and `b` lie equally far past a multiple of kVectorBytes:
/// after equally long heads of single elements, both are aligned.
inline bool AlignedAlike(const void* a, const void* b) {
  return VectorMisalignment(reinterpret_cast<uintptr_t>(a) ^
                            reinterpret_cast<uintptr_t>(b)) == 0;
}

}  // namespace caffe

#endif  // CAFFE_UTIL_VECTOR_ALIGNMENT_HPP_
