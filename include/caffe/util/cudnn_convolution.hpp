#ifndef CAFFE_UTIL_CUDNN_CONVOLUTION_HPP_
#define CAFFE_UTIL_CUDNN_CONVOLUTION_HPP_
#ifdef USE_CUDNN

#include <cudnn.h>

#include <cstddef>
#include <cstdint>

#include "caffe/blob.hpp"
#include "caffe/util/convolution_algorithm_cache.hpp"

namespace caffe {
namespace cudnn {

// The geometry of a convolution of an N x C x H x W input with a layer's
// 2-D kernel, pad, stride and dilation (BaseConvolutionLayer's blobs).
ConvolutionGeometry MakeGeometry(int num, int channels, int height,
    int width, int num_output, int groups, const Blob<int>& kernel,
    const Blob<int>& pad, const Blob<int>& stride, const Blob<int>& dilation);

// This thread's cuDNN handle for the current device. It runs on the legacy
// default stream, where Caffe launches all its other kernels, so cuDNN's
// work is ordered with theirs without any synchronisation.
cudnnHandle_t ThreadHandle();

// Device memory for cuDNN workspaces: one buffer per thread and device,
// shared by every layer that thread runs (a solver's train and test nets
// included). Everything on it is ordered on the one default stream, so
// sharing is safe; it costs the largest need instead of each layer's.
// ReserveWorkspace grows it to at least bytes, returning false (and leaving
// it as it was) when the device has no memory for that; Workspace returns
// it, NULL when it is empty.
bool ReserveWorkspace(size_t bytes);
void* Workspace();
size_t WorkspaceSize();

// The cuDNN side of one 2-D convolution: descriptors, the algorithms chosen
// for its geometry, and its three operations. Creates nothing on the device
// until the first Prepare, so that a layer that owns one can run in CPU mode
// on a machine without a GPU.
template <typename Dtype>
class ConvolutionPlan {
 public:
  enum Side { kInput, kOutput };  // x or y of the convolution

  ConvolutionPlan() {}
  ~ConvolutionPlan();

  // Makes the plan fit geometry: sets the descriptors and gets the
  // algorithms (from the process's cache, choosing them on a miss) and
  // reserves their workspace. Does nothing when the geometry is that of the
  // last call, as it is on nearly every Reshape; returns whether it did
  // anything.
  bool Prepare(const ConvolutionGeometry& geometry);

  bool prepared() const { return prepared_; }
  const ConvolutionGeometry& geometry() const { return geometry_; }
  // y's shape, N x num_output x H_out x W_out, as cuDNN computes it.
  int output_height() const { return output_height_; }
  int output_width() const { return output_width_; }
  const ConvolutionAlgorithmChoice& algorithms() const { return choice_; }
  // How many times Prepare set the descriptors (a test hook).
  int64_t updates() const { return updates_; }

  // y = x * w
  void Forward(const Dtype* x, const Dtype* w, Dtype* y) const;
  // dx = dy *^T w (the gradient with respect to x; a deconvolution's forward)
  void BackwardData(const Dtype* w, const Dtype* dy, Dtype* dx) const;
  // dw += the gradient with respect to the filter
  void BackwardFilter(const Dtype* x, const Dtype* dy, Dtype* dw) const;
  // data += bias, one value per channel of x or y
  void AddBias(const Dtype* bias, Side side, Dtype* data) const;
  // dbias += the sum of diff over all but the channel axis of x or y
  void BackwardBias(const Dtype* diff, Side side, Dtype* dbias) const;

 private:
  void CreateDescriptors();
  cudnnTensorDescriptor_t tensor(Side side) const {
    return side == kInput ? x_desc_ : y_desc_;
  }
  cudnnTensorDescriptor_t bias_desc(Side side) const {
    return side == kInput ? x_bias_desc_ : y_bias_desc_;
  }

  bool created_ = false;
  bool prepared_ = false;
  ConvolutionGeometry geometry_;
  int output_height_ = 0, output_width_ = 0;
  ConvolutionAlgorithmChoice choice_;
  int64_t updates_ = 0;

  cudnnTensorDescriptor_t x_desc_, y_desc_, x_bias_desc_, y_bias_desc_;
  cudnnFilterDescriptor_t w_desc_;
  // One per operation: each may use another math type.
  cudnnConvolutionDescriptor_t forward_desc_, backward_filter_desc_,
      backward_data_desc_;

  ConvolutionPlan(const ConvolutionPlan&) = delete;
  ConvolutionPlan& operator=(const ConvolutionPlan&) = delete;
};

}  // namespace cudnn
}  // namespace caffe

#endif  // USE_CUDNN
#endif  // CAFFE_UTIL_CUDNN_CONVOLUTION_HPP_
