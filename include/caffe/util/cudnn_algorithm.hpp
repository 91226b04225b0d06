#ifndef CAFFE_UTIL_CUDNN_ALGORITHM_HPP_
#define CAFFE_UTIL_CUDNN_ALGORITHM_HPP_
#ifdef USE_CUDNN

#include <cudnn.h>

#include <cstddef>

#include "caffe/util/convolution_algorithm_cache.hpp"

namespace caffe {
namespace cudnn {

// CAFFE_CUDNN_BENCHMARK=1: choose algorithms by running them (cudnnFind*),
// once per geometry, like PyTorch's torch.backends.cudnn.benchmark; unset or
// 0: cuDNN's heuristics, which run nothing.
bool BenchmarkAlgorithms();

// CAFFE_CUDNN_ALLOW_TF32=1: float convolutions may use TF32 tensor cores on
// Ampere and newer (10 bits of mantissa in the products, as PyTorch's
// convolutions by default), where they may be faster; unset or 0: float
// convolutions compute in FP32, as Caffe's float always has (and upstream's
// tests expect). Double is FP64 either way.
bool AllowTF32();

// The most workspace one convolution operation may use:
// CAFFE_CUDNN_WORKSPACE_LIMIT_MB (MiB), 64 by default. The workspace is
// shared by all layers a thread runs on a device (cudnn_convolution.hpp),
// so it costs the largest need, not the sum.
size_t WorkspaceLimitBytes();

// Chooses each operation's algorithm for these descriptors: the fastest
// that succeeds and fits in workspace_limit_bytes, by cuDNN's heuristics
// (cudnnGet*Algorithm_v7) or, with benchmark, by timing them all
// (cudnnFind*Algorithm, which allocates its own buffers; where it fails
// or runs nothing usable, the heuristics). When none fits, the one that needs least workspace,
// with a warning. Each operation has its own
// convolution descriptor, because each may want another math type (tensor
// cores or not): the chosen one is set on it (cudnnSetConvolutionMathType)
// before its workspace is measured. allowed is the math the convolution
// may use: CUDNN_FMA_MATH keeps float in FP32 (no tensor-core candidate is
// taken), CUDNN_DEFAULT_MATH lets cuDNN choose (TF32 for float on Ampere
// and newer); conversion to half precision is never taken.
ConvolutionAlgorithmChoice ChooseAlgorithms(cudnnHandle_t handle,
    cudnnTensorDescriptor_t x, cudnnFilterDescriptor_t w,
    cudnnTensorDescriptor_t y, cudnnConvolutionDescriptor_t forward,
    cudnnConvolutionDescriptor_t backward_filter,
    cudnnConvolutionDescriptor_t backward_data,
    size_t workspace_limit_bytes, bool benchmark, cudnnMathType_t allowed);

// Sets the math types of an earlier choice (a cached one) on fresh
// descriptors of the same geometry.
void SetMathTypes(const ConvolutionAlgorithmChoice& choice,
    cudnnConvolutionDescriptor_t forward,
    cudnnConvolutionDescriptor_t backward_filter,
    cudnnConvolutionDescriptor_t backward_data);

}  // namespace cudnn
}  // namespace caffe

#endif  // USE_CUDNN
#endif  // CAFFE_UTIL_CUDNN_ALGORITHM_HPP_
