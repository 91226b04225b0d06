#ifdef USE_CUDNN
#include "caffe/util/cudnn_algorithm.hpp"

#include "caffe/util/cudnn.hpp"

namespace caffe {
namespace cudnn {

namespace {

// Perf results come sorted by expected speed; take the first usable one.
template <typename Perf, typename Algo>
Algo FirstThatFits(const Perf* perf, int count, size_t limit, Algo fallback) {
  for (int i = 0; i < count; ++i) {
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= limit) {
      return perf[i].algo;
    }
  }
  return fallback;
}

}  // namespace

cudnnConvolutionFwdAlgo_t ChooseForwardAlgorithm(cudnnHandle_t handle,
    cudnnTensorDescriptor_t x, cudnnFilterDescriptor_t w,
    cudnnConvolutionDescriptor_t conv, cudnnTensorDescriptor_t y,
    size_t workspace_limit_bytes) {
  cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
  int count = 0;
  CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(handle, x, w, conv, y,
      CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &count, perf));
  return FirstThatFits(perf, count, workspace_limit_bytes,
      CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM);
}

cudnnConvolutionBwdFilterAlgo_t ChooseBackwardFilterAlgorithm(
    cudnnHandle_t handle, cudnnTensorDescriptor_t x,
    cudnnTensorDescriptor_t dy, cudnnConvolutionDescriptor_t conv,
    cudnnFilterDescriptor_t dw, size_t workspace_limit_bytes) {
  cudnnConvolutionBwdFilterAlgoPerf_t
      perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
  int count = 0;
  CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle, x, dy,
      conv, dw, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &count, perf));
  return FirstThatFits(perf, count, workspace_limit_bytes,
      CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0);
}

cudnnConvolutionBwdDataAlgo_t ChooseBackwardDataAlgorithm(
    cudnnHandle_t handle, cudnnFilterDescriptor_t w,
    cudnnTensorDescriptor_t dy, cudnnConvolutionDescriptor_t conv,
    cudnnTensorDescriptor_t dx, size_t workspace_limit_bytes) {
  cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
  int count = 0;
  CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, w, dy, conv,
      dx, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &count, perf));
  return FirstThatFits(perf, count, workspace_limit_bytes,
      CUDNN_CONVOLUTION_BWD_DATA_ALGO_0);
}

}  // namespace cudnn
}  // namespace caffe
#endif  // USE_CUDNN
