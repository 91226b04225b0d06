// Our EuclideanLoss compiled a second time with ordinary stores only
// (CAFFE_EUCLIDEAN_STREAMING 0), under another class name and unregistered:
// the benchmark measures what streaming stores buy in each allocation
// pattern, and they stay only where they win in every one.
#include "caffe/layer_factory.hpp"
#include "caffe/layers/loss_layer.hpp"

#undef REGISTER_LAYER_CLASS
#define REGISTER_LAYER_CLASS(type)
// upstream_euclidean_loss.cpp defines the usual instantiation guard symbol.
#undef INSTANTIATE_CLASS
#define INSTANTIATE_CLASS(classname) \
  template class classname<float>; \
  template class classname<double>
#define CAFFE_EUCLIDEAN_STREAMING 0
#define EuclideanLossLayer PlainStoreEuclideanLossLayer
#include "caffe/layers/euclidean_loss_layer.hpp"

#ifndef CPU_ONLY
// Measured on the CPU only: the GPU kernels have no streaming stores.
namespace caffe {
template <typename Dtype>
void PlainStoreEuclideanLossLayer<Dtype>::Forward_gpu(
    const vector<Blob<Dtype>*>& bottom, const vector<Blob<Dtype>*>& top) {
  LOG(FATAL) << "the plain-store EuclideanLoss runs on the CPU only";
}
template <typename Dtype>
void PlainStoreEuclideanLossLayer<Dtype>::Backward_gpu(
    const vector<Blob<Dtype>*>& top, const vector<bool>& propagate_down,
    const vector<Blob<Dtype>*>& bottom) {
  LOG(FATAL) << "the plain-store EuclideanLoss runs on the CPU only";
}
}  // namespace caffe
#endif

#include CAFFE_NATIVE_EUCLIDEAN_CPP

#include "upstream_layers.hpp"

namespace caffe {

template <typename Dtype>
shared_ptr<Layer<Dtype> > MakePlainStoreEuclideanLoss(const LayerParameter& param) {
  return shared_ptr<Layer<Dtype> >(new PlainStoreEuclideanLossLayer<Dtype>(param));
}

template shared_ptr<Layer<float> > MakePlainStoreEuclideanLoss(const LayerParameter&);
template shared_ptr<Layer<double> > MakePlainStoreEuclideanLoss(const LayerParameter&);

}  // namespace caffe
