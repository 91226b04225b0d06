// Compiles upstream's pristine euclidean_loss_layer.{hpp,cpp} under another
// class name and without registering it. The pristine header comes first;
// the .cpp's own #include of the layer header would find ours, which its
// guard, defined here, keeps out.
#include "caffe/layer_factory.hpp"
#include "caffe/layers/loss_layer.hpp"

#define CAFFE_LAYERS_EUCLIDEAN_LOSS_LAYER_HPP_

#undef REGISTER_LAYER_CLASS
#define REGISTER_LAYER_CLASS(type)
#define EuclideanLossLayer UpstreamEuclideanLossLayer
#include CAFFE_UPSTREAM_EUCLIDEAN_HPP
#include CAFFE_UPSTREAM_EUCLIDEAN_CPP

#include "upstream_layers.hpp"

namespace caffe {

template <typename Dtype>
shared_ptr<Layer<Dtype> > MakeUpstreamEuclideanLoss(const LayerParameter& param) {
  return shared_ptr<Layer<Dtype> >(new UpstreamEuclideanLossLayer<Dtype>(param));
}

template shared_ptr<Layer<float> > MakeUpstreamEuclideanLoss(const LayerParameter&);
template shared_ptr<Layer<double> > MakeUpstreamEuclideanLoss(const LayerParameter&);

}  // namespace caffe
