#ifdef USE_CUDNN
#include "caffe/util/cudnn_algorithm.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "caffe/util/cudnn.hpp"

namespace caffe {
namespace cudnn {

bool BenchmarkAlgorithms() {
  const char* value = std::getenv("CAFFE_CUDNN_BENCHMARK");
  if (value == NULL || *value == '\0' || std::strcmp(value, "0") == 0) {
    return false;
  }
  CHECK_EQ(std::string(value), "1")
      << "CAFFE_CUDNN_BENCHMARK must be 1 (benchmark cuDNN's algorithms) or "
      << "0 (use its heuristics)";
  return true;
}

size_t WorkspaceLimitBytes() {
  const size_t kDefaultMiB = 64;
  const char* value = std::getenv("CAFFE_CUDNN_WORKSPACE_LIMIT_MB");
  if (value == NULL || *value == '\0') return kDefaultMiB << 20;
  char* end = NULL;
  errno = 0;
  const unsigned long long mib = std::strtoull(value, &end, 10);  // NOLINT
  CHECK(errno == 0 && *end == '\0' && value[0] != '-' && mib < (1ull << 44))
      << "CAFFE_CUDNN_WORKSPACE_LIMIT_MB must be a whole number of MiB, not '"
      << value << "'";
  return static_cast<size_t>(mib) << 20;
}

namespace {

// The descriptors of one convolution, as each operation's calls take them.
struct Descriptors {
  cudnnHandle_t handle;
  cudnnTensorDescriptor_t x;
  cudnnFilterDescriptor_t w;
  cudnnTensorDescriptor_t y;
  cudnnConvolutionDescriptor_t conv;  // the operation's own
};

// Each operation's cuDNN entry points, so that one chooser serves all three.
struct Forward {
  typedef cudnnConvolutionFwdAlgoPerf_t Perf;
  typedef cudnnConvolutionFwdAlgo_t Algo;
  static const char* Name() { return "forward"; }
  static int MaxCount(cudnnHandle_t handle) {
    int count = 0;
    CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(handle, &count));
    return count;
  }
  static cudnnStatus_t Heuristics(const Descriptors& d, int requested,
                                  int* count, Perf* perf) {
    return cudnnGetConvolutionForwardAlgorithm_v7(d.handle, d.x, d.w, d.conv,
        d.y, requested, count, perf);
  }
  static cudnnStatus_t Find(const Descriptors& d, int requested, int* count,
                            Perf* perf) {
    return cudnnFindConvolutionForwardAlgorithm(d.handle, d.x, d.w, d.conv,
        d.y, requested, count, perf);
  }
  static cudnnStatus_t Workspace(const Descriptors& d, Algo algo,
                                 size_t* bytes) {
    return cudnnGetConvolutionForwardWorkspaceSize(d.handle, d.x, d.w, d.conv,
        d.y, algo, bytes);
  }
};

struct BackwardFilter {
  typedef cudnnConvolutionBwdFilterAlgoPerf_t Perf;
  typedef cudnnConvolutionBwdFilterAlgo_t Algo;
  static const char* Name() { return "backward filter"; }
  static int MaxCount(cudnnHandle_t handle) {
    int count = 0;
    CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(handle,
        &count));
    return count;
  }
  static cudnnStatus_t Heuristics(const Descriptors& d, int requested,
                                  int* count, Perf* perf) {
    return cudnnGetConvolutionBackwardFilterAlgorithm_v7(d.handle, d.x, d.y,
        d.conv, d.w, requested, count, perf);
  }
  static cudnnStatus_t Find(const Descriptors& d, int requested, int* count,
                            Perf* perf) {
    return cudnnFindConvolutionBackwardFilterAlgorithm(d.handle, d.x, d.y,
        d.conv, d.w, requested, count, perf);
  }
  static cudnnStatus_t Workspace(const Descriptors& d, Algo algo,
                                 size_t* bytes) {
    return cudnnGetConvolutionBackwardFilterWorkspaceSize(d.handle, d.x, d.y,
        d.conv, d.w, algo, bytes);
  }
};

struct BackwardData {
  typedef cudnnConvolutionBwdDataAlgoPerf_t Perf;
  typedef cudnnConvolutionBwdDataAlgo_t Algo;
  static const char* Name() { return "backward data"; }
  static int MaxCount(cudnnHandle_t handle) {
    int count = 0;
    CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(handle,
        &count));
    return count;
  }
  static cudnnStatus_t Heuristics(const Descriptors& d, int requested,
                                  int* count, Perf* perf) {
    return cudnnGetConvolutionBackwardDataAlgorithm_v7(d.handle, d.w, d.y,
        d.conv, d.x, requested, count, perf);
  }
  static cudnnStatus_t Find(const Descriptors& d, int requested, int* count,
                            Perf* perf) {
    return cudnnFindConvolutionBackwardDataAlgorithm(d.handle, d.w, d.y,
        d.conv, d.x, requested, count, perf);
  }
  static cudnnStatus_t Workspace(const Descriptors& d, Algo algo,
                                 size_t* bytes) {
    return cudnnGetConvolutionBackwardDataWorkspaceSize(d.handle, d.w, d.y,
        d.conv, d.x, algo, bytes);
  }
};

// Candidates come sorted fastest first (expected speed for the heuristics,
// measured time for Find). The first whose workspace, asked of cuDNN with
// its math type set, fits the limit wins; when none fits, the one that
// needs least. The list is as long as cuDNN may make it (an algorithm can
// be listed once per math type), so no candidate is cut off.
template <typename Op>
ConvolutionAlgorithmChoice::Operation Choose(const Descriptors& d,
    size_t limit, bool benchmark) {
  const int requested = Op::MaxCount(d.handle);
  std::vector<typename Op::Perf> perf(std::max(requested, 1));
  int count = 0;
  if (benchmark) {
    const cudnnStatus_t status = Op::Find(d, requested, &count, perf.data());
    LOG_IF(WARNING, status != CUDNN_STATUS_SUCCESS)
        << "cuDNN could not time its " << Op::Name() << " convolution "
        << "algorithms (" << cudnnGetErrorString(status) << "); using its "
        << "heuristics";
    if (status != CUDNN_STATUS_SUCCESS) count = 0;
  }
  if (count == 0) {
    CUDNN_CHECK(Op::Heuristics(d, requested, &count, perf.data()));
  }
  ConvolutionAlgorithmChoice::Operation best, smallest;
  bool found = false, fits = false;
  for (int i = 0; i < count && !fits; ++i) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS) continue;
    CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv, perf[i].mathType));
    size_t bytes = 0;
    if (Op::Workspace(d, perf[i].algo, &bytes) != CUDNN_STATUS_SUCCESS) continue;
    ConvolutionAlgorithmChoice::Operation candidate;
    candidate.algorithm = perf[i].algo;
    candidate.math_type = perf[i].mathType;
    candidate.workspace = bytes;
    if (!found || bytes < smallest.workspace) smallest = candidate;
    found = true;
    if (bytes <= limit) {
      best = candidate;
      fits = true;
    }
  }
  CHECK(found) << "cuDNN offers no " << Op::Name() << " algorithm for this "
               << "convolution (" << count << " candidates, none usable)";
  if (!fits) {
    LOG(WARNING) << "No cuDNN " << Op::Name() << " convolution algorithm fits "
                 << "the workspace limit of " << limit << " bytes; using one "
                 << "that needs " << smallest.workspace
                 << " (CAFFE_CUDNN_WORKSPACE_LIMIT_MB)";
    best = smallest;
  }
  CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv,
      static_cast<cudnnMathType_t>(best.math_type)));
  return best;
}

}  // namespace

ConvolutionAlgorithmChoice ChooseAlgorithms(cudnnHandle_t handle,
    cudnnTensorDescriptor_t x, cudnnFilterDescriptor_t w,
    cudnnTensorDescriptor_t y, cudnnConvolutionDescriptor_t forward,
    cudnnConvolutionDescriptor_t backward_filter,
    cudnnConvolutionDescriptor_t backward_data,
    size_t workspace_limit_bytes, bool benchmark) {
  // The query considers the math types a descriptor allows: allow all (a
  // descriptor reused for a new geometry still has the last choice's).
  for (cudnnConvolutionDescriptor_t conv :
       {forward, backward_filter, backward_data}) {
    CUDNN_CHECK(cudnnSetConvolutionMathType(conv, CUDNN_DEFAULT_MATH));
  }
  ConvolutionAlgorithmChoice choice;
  choice.forward = Choose<Forward>({handle, x, w, y, forward},
                                   workspace_limit_bytes, benchmark);
  choice.backward_filter = Choose<BackwardFilter>(
      {handle, x, w, y, backward_filter}, workspace_limit_bytes, benchmark);
  choice.backward_data = Choose<BackwardData>({handle, x, w, y, backward_data},
                                              workspace_limit_bytes, benchmark);
  return choice;
}

void SetMathTypes(const ConvolutionAlgorithmChoice& choice,
    cudnnConvolutionDescriptor_t forward,
    cudnnConvolutionDescriptor_t backward_filter,
    cudnnConvolutionDescriptor_t backward_data) {
  CUDNN_CHECK(cudnnSetConvolutionMathType(forward,
      static_cast<cudnnMathType_t>(choice.forward.math_type)));
  CUDNN_CHECK(cudnnSetConvolutionMathType(backward_filter,
      static_cast<cudnnMathType_t>(choice.backward_filter.math_type)));
  CUDNN_CHECK(cudnnSetConvolutionMathType(backward_data,
      static_cast<cudnnMathType_t>(choice.backward_data.math_type)));
}

}  // namespace cudnn
}  // namespace caffe
#endif  // USE_CUDNN
