#ifndef CAFFE_CUDNN_DECONV_LAYER_HPP_
#define CAFFE_CUDNN_DECONV_LAYER_HPP_

#include <vector>

#include "caffe/blob.hpp"
#include "caffe/layer.hpp"
#include "caffe/layers/deconv_layer.hpp"
#include "caffe/proto/caffe.pb.h"

#ifdef USE_CUDNN
#include "caffe/util/cudnn_convolution.hpp"
#endif

namespace caffe {

#ifdef USE_CUDNN
/**
 * @brief DeconvolutionLayer computed by cuDNN on the GPU; in CPU mode it is
 *        DeconvolutionLayer (docs/cudnn-engine.md).
 *
 * A deconvolution is the convolution whose input is the top and whose
 * output is the bottom, run backwards: its forward pass is that
 * convolution's gradient with respect to its input, and so on. The plan
 * describes that convolution (CuDNNConvolutionLayer has the details).
 */
template <typename Dtype>
class CuDNNDeconvolutionLayer : public DeconvolutionLayer<Dtype> {
 public:
  explicit CuDNNDeconvolutionLayer(const LayerParameter& param)
      : DeconvolutionLayer<Dtype>(param) {}
  virtual void Reshape(const vector<Blob<Dtype>*>& bottom,
      const vector<Blob<Dtype>*>& top);

  const cudnn::ConvolutionPlan<Dtype>& plan() const { return plan_; }

 protected:
  virtual void Forward_gpu(const vector<Blob<Dtype>*>& bottom,
      const vector<Blob<Dtype>*>& top);
  virtual void Backward_gpu(const vector<Blob<Dtype>*>& top,
      const vector<bool>& propagate_down, const vector<Blob<Dtype>*>& bottom);

 private:
  void PreparePlan(const Blob<Dtype>& bottom, const Blob<Dtype>& top);

  cudnn::ConvolutionPlan<Dtype> plan_;
};
#endif

}  // namespace caffe

#endif  // CAFFE_CUDNN_DECONV_LAYER_HPP_
