// 16-byte vector access for CUDA kernels (float4, double2): one load or
// store instruction moves a 16-byte aligned run of 4 floats or 2 doubles.
// Callers check the alignment; these functions assume it. Load and Store
// go through the load/store intrinsics: a plain assignment of a vector
// built from scalars (make_float4(v, v, v, v)) was compiled to four
// scalar stores.
#ifndef CAFFE_UTIL_GPU_VECTOR_CUH_
#define CAFFE_UTIL_GPU_VECTOR_CUH_

#include <stdint.h>

#include <cuda_runtime.h>

#include "caffe/util/vector_alignment.hpp"

namespace caffe {

template <typename Dtype> struct GpuVector;

template <> struct GpuVector<float> {
  typedef float4 Type;
  /// Read-only data (not written by the kernel that reads it).
  static __device__ __forceinline__ Type Load(const float* p) {
    return __ldg(reinterpret_cast<const Type*>(p));
  }
  static __device__ __forceinline__ void Store(float* p, const Type& v) {
    __stwb(reinterpret_cast<Type*>(p), v);
  }
  static const int kWidth = 4;
  static __device__ __forceinline__ Type Broadcast(float v) {
    return make_float4(v, v, v, v);
  }
  static __device__ __forceinline__ float Get(const Type& v, int e) {
    return e == 0 ? v.x : e == 1 ? v.y : e == 2 ? v.z : v.w;
  }
  /// s (a - b), element by element.
  static __device__ __forceinline__ Type ScaledDifference(float s,
      const Type& a, const Type& b) {
    return make_float4(s * (a.x - b.x), s * (a.y - b.y), s * (a.z - b.z),
                       s * (a.w - b.w));
  }
  static __device__ __forceinline__ Type Negative(const Type& v) {
    return make_float4(-v.x, -v.y, -v.z, -v.w);
  }
};

template <> struct GpuVector<double> {
  typedef double2 Type;
  /// Read-only data (not written by the kernel that reads it).
  static __device__ __forceinline__ Type Load(const double* p) {
    return __ldg(reinterpret_cast<const Type*>(p));
  }
  static __device__ __forceinline__ void Store(double* p, const Type& v) {
    __stwb(reinterpret_cast<Type*>(p), v);
  }
  static const int kWidth = 2;
  static __device__ __forceinline__ Type Broadcast(double v) {
    return make_double2(v, v);
  }
  static __device__ __forceinline__ double Get(const Type& v, int e) {
    return e == 0 ? v.x : v.y;
  }
  static __device__ __forceinline__ Type ScaledDifference(double s,
      const Type& a, const Type& b) {
    return make_double2(s * (a.x - b.x), s * (a.y - b.y));
  }
  static __device__ __forceinline__ Type Negative(const Type& v) {
    return make_double2(-v.x, -v.y);
  }
};

/// Whether every pointer given is 16-byte aligned (null ones count as
/// aligned: an output a kernel skips).
inline bool VectorAligned(const void* a, const void* b = 0, const void* c = 0,
                          const void* d = 0) {
  const uintptr_t bits = reinterpret_cast<uintptr_t>(a) |
      reinterpret_cast<uintptr_t>(b) | reinterpret_cast<uintptr_t>(c) |
      reinterpret_cast<uintptr_t>(d);
  return VectorMisalignment(bits) == 0;
}

}  // namespace caffe

#endif  // CAFFE_UTIL_GPU_VECTOR_CUH_
