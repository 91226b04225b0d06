#ifndef CAFFE_UTIL_CUDNN_ALGORITHM_HPP_
#define CAFFE_UTIL_CUDNN_ALGORITHM_HPP_
#ifdef USE_CUDNN

#include <cudnn.h>

#include <cstddef>

namespace caffe {
namespace cudnn {

// cuDNN 8 removed the cudnnGetConvolution*Algorithm calls that took a
// workspace limit. These ask cuDNN's heuristics (the _v7 getters) for their
// ranked algorithms and return the best one that is supported and whose
// workspace fits in workspace_limit_bytes; when none fits, the algorithm
// that needs no workspace.

cudnnConvolutionFwdAlgo_t ChooseForwardAlgorithm(cudnnHandle_t handle,
    cudnnTensorDescriptor_t x, cudnnFilterDescriptor_t w,
    cudnnConvolutionDescriptor_t conv, cudnnTensorDescriptor_t y,
    size_t workspace_limit_bytes);

cudnnConvolutionBwdFilterAlgo_t ChooseBackwardFilterAlgorithm(
    cudnnHandle_t handle, cudnnTensorDescriptor_t x,
    cudnnTensorDescriptor_t dy, cudnnConvolutionDescriptor_t conv,
    cudnnFilterDescriptor_t dw, size_t workspace_limit_bytes);

cudnnConvolutionBwdDataAlgo_t ChooseBackwardDataAlgorithm(
    cudnnHandle_t handle, cudnnFilterDescriptor_t w,
    cudnnTensorDescriptor_t dy, cudnnConvolutionDescriptor_t conv,
    cudnnTensorDescriptor_t dx, size_t workspace_limit_bytes);

}  // namespace cudnn
}  // namespace caffe

#endif  // USE_CUDNN
#endif  // CAFFE_UTIL_CUDNN_ALGORITHM_HPP_
