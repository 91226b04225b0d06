#ifndef CAFFE_UTIL_CONVOLUTION_ALGORITHM_CACHE_HPP_
#define CAFFE_UTIL_CONVOLUTION_ALGORITHM_CACHE_HPP_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <tuple>

namespace caffe {

// A 2-D convolution as cuDNN sees it: x is N x C x H x W (contiguous), the
// filter num_output x C/groups x kernel_h x kernel_w. A deconvolution is the
// same convolution with x and y swapped (x is its top). Host-only, so that
// CPU builds compile and test the cache logic too.
struct ConvolutionGeometry {
  int num = 0, channels = 0, height = 0, width = 0;
  int num_output = 0, kernel_h = 0, kernel_w = 0;
  int pad_h = 0, pad_w = 0;
  int stride_h = 1, stride_w = 1;
  int dilation_h = 1, dilation_w = 1;
  int groups = 1;

  auto Tie() const {
    return std::tie(num, channels, height, width, num_output, kernel_h,
        kernel_w, pad_h, pad_w, stride_h, stride_w, dilation_h, dilation_w,
        groups);
  }
  bool operator==(const ConvolutionGeometry& other) const {
    return Tie() == other.Tie();
  }
  bool operator!=(const ConvolutionGeometry& other) const {
    return !(*this == other);
  }
};

// Everything the algorithm choice depends on: the same geometry on another
// device, in another precision, under another workspace limit, chosen by
// benchmarking instead of cuDNN's heuristics or with TF32 allowed may pick
// another algorithm.
struct ConvolutionAlgorithmKey {
  ConvolutionGeometry geometry;
  int device = 0;
  int data_type = 0;  // cudnnDataType_t
  size_t workspace_limit = 0;  // bytes per operation
  bool benchmark = false;  // cudnnFind* (timed) rather than heuristics
  bool tf32 = false;  // float may use TF32 tensor cores

  auto Tie() const {
    return std::tuple_cat(geometry.Tie(),
        std::tie(device, data_type, workspace_limit, benchmark, tf32));
  }
  bool operator<(const ConvolutionAlgorithmKey& other) const {
    return Tie() < other.Tie();
  }
  bool operator==(const ConvolutionAlgorithmKey& other) const {
    return Tie() == other.Tie();
  }
};

// The algorithm, math type and workspace of each of a convolution's three
// operations; the cuDNN enums are stored as ints to keep this header free
// of cudnn.h.
struct ConvolutionAlgorithmChoice {
  struct Operation {
    int algorithm = 0;
    int math_type = 0;  // cudnnMathType_t
    size_t workspace = 0;  // bytes
  };
  Operation forward, backward_filter, backward_data;

  size_t MaxWorkspace() const;
};

// Choices by key. Choosing queries (or, benchmarking, runs) every cuDNN
// algorithm, which costs far more than the convolution itself; a net calls
// Reshape before every forward pass, and several layers or nets share
// geometries, so each geometry is chosen once per process.
class ConvolutionAlgorithmCache {
 public:
  typedef std::function<ConvolutionAlgorithmChoice()> Chooser;

  // The choice stored for key; otherwise choose()'s, stored. choose runs
  // outside the lock (it may take seconds when benchmarking) so that other
  // threads' lookups proceed; when two threads choose for one key, the first
  // stored wins and both return it.
  ConvolutionAlgorithmChoice Get(const ConvolutionAlgorithmKey& key,
                                 const Chooser& choose);
  // How many times Get called a chooser: a test hook that counts the cuDNN
  // queries the cache did not save.
  int64_t choices_made() const;
  size_t size() const;
  // Forgets every choice (tests start from an empty cache with it).
  void Clear();

  // The process's cache, used by the cuDNN convolution layers.
  static ConvolutionAlgorithmCache& Global();

 private:
  mutable std::mutex mutex_;
  std::map<ConvolutionAlgorithmKey, ConvolutionAlgorithmChoice> choices_;
  int64_t choices_made_ = 0;
};

}  // namespace caffe

#endif  // CAFFE_UTIL_CONVOLUTION_ALGORITHM_CACHE_HPP_
