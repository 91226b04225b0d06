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

namespace {

// An environment switch: unset, empty or 0 is off, 1 is on; anything else
// stops with what it means.
bool Switch(const char* name, const char* meaning_on, const char* meaning_off) {
  const char* value = std::getenv(name);
  if (value == NULL || *value == '\0' || std::strcmp(value, "0") == 0) {
    return false;
  }
  CHECK_EQ(std::string(value), "1") << name << " must be 1 (" << meaning_on
      << ") or 0 (" << meaning_off << ")";
  return true;
}

}  // namespace

bool BenchmarkAlgorithms() {
  return Switch("CAFFE_CUDNN_BENCHMARK", "benchmark cuDNN's algorithms",
                "use its heuristics");
}

bool AllowTF32() {
  return Switch("CAFFE_CUDNN_ALLOW_TF32",
                "float convolutions may use TF32 tensor cores",
                "float convolutions compute in FP32");
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

// Whether a candidate cuDNN listed with math type `listed` may run where
// the descriptors allow `allowed`, and the math type to run it with. Under
// CUDNN_FMA_MATH (float in FP32) tensor-core candidates are out: on Ampere
// and newer their float math is TF32, and a candidate listed with default
// math is run with FMA math so that cuDNN cannot turn to TF32 either.
// Conversion to half precision is never taken: Caffe's blobs are float or
// double, and their users expect that precision.
bool RunsAs(cudnnMathType_t allowed, cudnnMathType_t listed,
            cudnnMathType_t* math) {
  if (listed == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) return false;
  if (allowed == CUDNN_FMA_MATH) {
    if (listed == CUDNN_TENSOR_OP_MATH) return false;
    *math = CUDNN_FMA_MATH;
    return true;
  }
  *math = listed;
  return true;
}

// Candidates come sorted fastest first (expected speed for the heuristics,
// measured time for Find). The first whose workspace, asked of cuDNN with
// its math type set, fits the limit wins; when none fits, the one that
// needs least. The list is as long as cuDNN may make it (an algorithm can
// be listed once per math type), so no candidate is cut off. Where timing
// fails, or times nothing usable, the heuristics choose.
template <typename Op>
ConvolutionAlgorithmChoice::Operation Choose(const Descriptors& d,
    size_t limit, bool benchmark, cudnnMathType_t allowed) {
  const int requested = Op::MaxCount(d.handle);
  std::vector<typename Op::Perf> perf(std::max(requested, 1));
  ConvolutionAlgorithmChoice::Operation best, smallest;
  bool found = false, fits = false;
  const auto consider = [&](int count) {
    for (int i = 0; i < count && !fits; ++i) {
      cudnnMathType_t math = CUDNN_DEFAULT_MATH;
      if (perf[i].status != CUDNN_STATUS_SUCCESS ||
          !RunsAs(allowed, perf[i].mathType, &math)) {
        continue;
      }
      CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv, math));
      size_t bytes = 0;
      if (Op::Workspace(d, perf[i].algo, &bytes) != CUDNN_STATUS_SUCCESS) {
        continue;
      }
      ConvolutionAlgorithmChoice::Operation candidate;
      candidate.algorithm = perf[i].algo;
      candidate.math_type = math;
      candidate.workspace = bytes;
      if (!found || bytes < smallest.workspace) smallest = candidate;
      found = true;
      if (bytes <= limit) {
        best = candidate;
        fits = true;
      }
    }
  };
  int count = 0;
  if (benchmark) {
    // The query considers the math types the descriptor allows (a
    // descriptor reused for a new geometry still has the last choice's).
    CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv, allowed));
    const cudnnStatus_t status = Op::Find(d, requested, &count, perf.data());
    if (status == CUDNN_STATUS_SUCCESS) consider(count);
    LOG_IF(WARNING, !found)
        << "cuDNN could not time its " << Op::Name() << " convolution "
        << "algorithms ("
        << (status == CUDNN_STATUS_SUCCESS ? "none of them usable"
                                           : cudnnGetErrorString(status))
        << "); using its heuristics";
  }
  if (!found) {
    CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv, allowed));
    count = 0;
    CUDNN_CHECK(Op::Heuristics(d, requested, &count, perf.data()));
    consider(count);
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
    size_t workspace_limit_bytes, bool benchmark, cudnnMathType_t allowed) {
  ConvolutionAlgorithmChoice choice;
  choice.forward = Choose<Forward>({handle, x, w, y, forward},
      workspace_limit_bytes, benchmark, allowed);
  choice.backward_filter = Choose<BackwardFilter>(
      {handle, x, w, y, backward_filter}, workspace_limit_bytes, benchmark,
      allowed);
  choice.backward_data = Choose<BackwardData>({handle, x, w, y, backward_data},
      workspace_limit_bytes, benchmark, allowed);
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
