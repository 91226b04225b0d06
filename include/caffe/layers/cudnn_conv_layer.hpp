#ifndef CAFFE_CUDNN_CONV_LAYER_HPP_
#define CAFFE_CUDNN_CONV_LAYER_HPP_

#include <vector>

#include "caffe/blob.hpp"
#include "caffe/layer.hpp"
#include "caffe/layers/conv_layer.hpp"
#include "caffe/proto/caffe.pb.h"

#ifdef USE_CUDNN
#include "caffe/util/cudnn_convolution.hpp"
#endif

namespace caffe {

#ifdef USE_CUDNN
/**
 * @brief ConvolutionLayer computed by cuDNN on the GPU; in CPU mode it is
 *        ConvolutionLayer (any number of spatial axes, no GPU needed), so
 *        the layer factory can give it to every default-engine convolution
 *        whatever the mode when the net is built (docs/cudnn-engine.md).
 *
 * On the GPU it takes 2-D input. The algorithms are chosen once per
 * geometry and process (cudnn::ConvolutionPlan), not on every Reshape; all
 * groups go to cuDNN in one call, on the default stream, with the workspace
 * its thread shares with the other cuDNN layers.
 */
template <typename Dtype>
class CuDNNConvolutionLayer : public ConvolutionLayer<Dtype> {
 public:
  explicit CuDNNConvolutionLayer(const LayerParameter& param)
      : ConvolutionLayer<Dtype>(param) {}
  virtual void Reshape(const vector<Blob<Dtype>*>& bottom,
      const vector<Blob<Dtype>*>& top);

  // The cuDNN side: algorithms, workspace and counters (tests, benchmarks).
  const cudnn::ConvolutionPlan<Dtype>& plan() const { return plan_; }

 protected:
  virtual void Forward_gpu(const vector<Blob<Dtype>*>& bottom,
      const vector<Blob<Dtype>*>& top);
  virtual void Backward_gpu(const vector<Blob<Dtype>*>& top,
      const vector<bool>& propagate_down, const vector<Blob<Dtype>*>& bottom);

 private:
  // Fits the plan to bottom's shape (a no-op when it already does).
  void PreparePlan(const Blob<Dtype>& bottom, const Blob<Dtype>& top);

  cudnn::ConvolutionPlan<Dtype> plan_;
};
#endif

}  // namespace caffe

#endif  // CAFFE_CUDNN_CONV_LAYER_HPP_
