#ifndef CAFFE_UTIL_SIMD_CLONES_HPP_
#define CAFFE_UTIL_SIMD_CLONES_HPP_

// On x86-64 with GCC a hot function marked CAFFE_SIMD_CLONES also gets an
// AVX2/FMA (x86-64-v3) clone, picked at load time by the CPU it runs on; the
// default clone runs everywhere. What it calls must be always_inline to be
// compiled into each clone.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CAFFE_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define CAFFE_SIMD_CLONES
#endif

#endif  // CAFFE_UTIL_SIMD_CLONES_HPP_
