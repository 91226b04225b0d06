#ifdef USE_CUDNN
#include "caffe/util/cudnn_algorithm.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

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

// Perf results come sorted fastest first (expected speed for the
// heuristics, measured time for Find); take the first usable one.
template <typename Perf>
const Perf* FirstThatFits(const Perf* perf, int count, size_t limit) {
  for (int i = 0; i < count; ++i) {
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= limit) {
      return &perf[i];
    }
  }
  return NULL;
}

template <typename Perf, typename Algo>
void Pick(const Perf* perf, int count, size_t limit, Algo no_workspace,
          cudnnConvolutionDescriptor_t conv,
          ConvolutionAlgorithmChoice::Operation* op) {
  const Perf* best = FirstThatFits(perf, count, limit);
  op->algorithm = best ? best->algo : no_workspace;
  op->math_type = best ? best->mathType : CUDNN_DEFAULT_MATH;
  CUDNN_CHECK(cudnnSetConvolutionMathType(conv,
      static_cast<cudnnMathType_t>(op->math_type)));
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
  int count = 0;
  {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    if (benchmark) {
      CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithm(handle, x, w, forward,
          y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &count, perf));
    } else {
      CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(handle, x, w,
          forward, y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &count, perf));
    }
    Pick(perf, count, workspace_limit_bytes,
         CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, forward, &choice.forward);
    CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(handle, x, w, forward,
        y, static_cast<cudnnConvolutionFwdAlgo_t>(choice.forward.algorithm),
        &choice.forward.workspace));
  }
  {
    cudnnConvolutionBwdFilterAlgoPerf_t
        perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    if (benchmark) {
      CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithm(handle, x, y,
          backward_filter, w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &count,
          perf));
    } else {
      CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle, x, y,
          backward_filter, w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &count,
          perf));
    }
    Pick(perf, count, workspace_limit_bytes,
         CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0, backward_filter,
         &choice.backward_filter);
    CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(handle, x, y,
        backward_filter, w, static_cast<cudnnConvolutionBwdFilterAlgo_t>(
            choice.backward_filter.algorithm),
        &choice.backward_filter.workspace));
  }
  {
    cudnnConvolutionBwdDataAlgoPerf_t
        perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    if (benchmark) {
      CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithm(handle, w, y,
          backward_data, x, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &count,
          perf));
    } else {
      CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, w, y,
          backward_data, x, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &count,
          perf));
    }
    Pick(perf, count, workspace_limit_bytes,
         CUDNN_CONVOLUTION_BWD_DATA_ALGO_0, backward_data,
         &choice.backward_data);
    CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(handle, w, y,
        backward_data, x, static_cast<cudnnConvolutionBwdDataAlgo_t>(
            choice.backward_data.algorithm),
        &choice.backward_data.workspace));
  }
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
