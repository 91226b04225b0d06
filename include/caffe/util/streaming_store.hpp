#ifndef CAFFE_UTIL_STREAMING_STORE_HPP_
#define CAFFE_UTIL_STREAMING_STORE_HPP_

#include <stdint.h>

#include <algorithm>
#include <cstddef>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "caffe/util/vector_alignment.hpp"

namespace caffe {

// Streaming stores for layers whose data no longer fits in the caches. A
// plain store first reads the line it writes (write-allocate); a
// non-temporal (streaming) store does not, which is how memcpy copies large
// blocks, but it also sends the data to memory, so whoever reads it next
// (the next layer, the next iteration) reads it from memory, not from the
// cache. scripts/benchmark measures both under several allocation patterns
// (euclidean_loss_benchmark, "native" against "native, plain stores"); on a
// 2-core EPYC VM with a 32 MiB L3, 2026-11-23: 10^6 floats per input (8 MB
// of gradients, 16 MB touched) plain stores won under every pattern, 10^7
// (80 MB of gradients) streaming won. Partial cache lines stream slowly:
// use them for long contiguous outputs.

/// Worth streaming: a layer that writes this much also reads about as much,
/// together more than a server's last-level cache (32 MiB is typical).
inline bool StreamingPays(size_t bytes_written) { return bytes_written >= (16 << 20); }

#ifdef __SSE2__
template <typename Dtype> struct SseVector;
template <> struct SseVector<float> {
  typedef __m128 Type;
  static const int kWidth = 4;
  static Type Load(const float* p) { return _mm_loadu_ps(p); }
  static void Stream(float* p, Type v) { _mm_stream_ps(p, v); }
  static Type Broadcast(float x) { return _mm_set1_ps(x); }
  static Type Sub(Type a, Type b) { return _mm_sub_ps(a, b); }
  static Type Mul(Type a, Type b) { return _mm_mul_ps(a, b); }
  static Type Neg(Type a) { return _mm_xor_ps(a, _mm_set1_ps(-0.0f)); }
};
template <> struct SseVector<double> {
  typedef __m128d Type;
  static const int kWidth = 2;
  static Type Load(const double* p) { return _mm_loadu_pd(p); }
  static void Stream(double* p, Type v) { _mm_stream_pd(p, v); }
  static Type Broadcast(double x) { return _mm_set1_pd(x); }
  static Type Sub(Type a, Type b) { return _mm_sub_pd(a, b); }
  static Type Mul(Type a, Type b) { return _mm_mul_pd(a, b); }
  static Type Neg(Type a) { return _mm_xor_pd(a, _mm_set1_pd(-0.0)); }
};

/// Elements to handle one by one before dst is aligned to kVectorBytes.
template <typename Dtype>
inline int StreamingHead(const Dtype* dst, int n) {
  const uintptr_t address = reinterpret_cast<uintptr_t>(dst);
  // A dst between two multiples of sizeof(Dtype) never aligns: all plain.
  if (VectorMisalignment(address) % sizeof(Dtype) != 0) return n;
  const int bytes_to_boundary = VectorMisalignment(0 - address);
  return std::min(n, static_cast<int>(bytes_to_boundary / sizeof(Dtype)));
}
#endif

/// Orders streamed stores before whatever the caller does next.
inline void StreamingFence() {
#ifdef __SSE2__
  _mm_sfence();
#endif
}

}  // namespace caffe

#endif  // CAFFE_UTIL_STREAMING_STORE_HPP_
