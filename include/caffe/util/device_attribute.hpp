#ifndef CAFFE_UTIL_DEVICE_ATTRIBUTE_HPP_
#define CAFFE_UTIL_DEVICE_ATTRIBUTE_HPP_

#ifndef CPU_ONLY

#include <cuda_runtime.h>

#include "caffe/common.hpp"

namespace caffe {

/// An attribute of the current CUDA device. CUDA 13 removed clockRate,
/// deviceOverlap and kernelExecTimeoutEnabled from cudaDeviceProp; the
/// attributes (cudaDevAttrClockRate, ...) give the same facts on every
/// CUDA version the fork builds with.
inline int CurrentDeviceAttribute(cudaDeviceAttr attribute) {
  int device = 0;
  int value = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  CUDA_CHECK(cudaDeviceGetAttribute(&value, attribute, device));
  return value;
}

}  // namespace caffe

#endif  // CPU_ONLY
#endif  // CAFFE_UTIL_DEVICE_ATTRIBUTE_HPP_
