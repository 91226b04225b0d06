#ifndef CAFFE_UTIL_COUNTER_RNG_HPP_
#define CAFFE_UTIL_COUNTER_RNG_HPP_

#include <stdint.h>

#ifdef __CUDACC__
#define CAFFE_HOST_DEVICE __host__ __device__
#else
#define CAFFE_HOST_DEVICE
#endif

namespace caffe {

// Counter-based random bits: the value for (key, counter) is a pure function
// (SplitMix64's output mix), so any thread on the CPU or the GPU computes
// the same bits for the same draw, in any order, with no generator state.
CAFFE_HOST_DEVICE inline uint64_t CounterRandom(uint64_t key, uint64_t counter) {
  uint64_t z = key + (counter + 1) * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// An integer in [0, range) from the high 32 bits (multiply-shift; the bias
// is below range / 2^32).
CAFFE_HOST_DEVICE inline uint32_t UniformBelow(uint64_t bits, uint32_t range) {
  return static_cast<uint32_t>(((bits >> 32) * range) >> 32);
}

}  // namespace caffe

#endif  // CAFFE_UTIL_COUNTER_RNG_HPP_
