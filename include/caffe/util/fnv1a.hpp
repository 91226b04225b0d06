#ifndef CAFFE_UTIL_FNV1A_HPP_
#define CAFFE_UTIL_FNV1A_HPP_

#include <cstddef>
#include <cstdint>

namespace caffe {

const uint64_t kFnv1aOffsetBasis = 0xCBF29CE484222325ULL;

/// 64-bit FNV-1a: the same bits for the same bytes on every platform and
/// build, which std::hash does not promise. Pass an earlier result as `hash`
/// to hash several pieces as one sequence.
inline uint64_t Fnv1a(const void* data, size_t bytes,
                      uint64_t hash = kFnv1aOffsetBasis) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < bytes; ++i) hash = (hash ^ p[i]) * 0x100000001B3ULL;
  return hash;
}

}  // namespace caffe

#endif  // CAFFE_UTIL_FNV1A_HPP_
