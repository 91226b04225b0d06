// Our EuclideanLoss with ordinary stores only: the benchmark measures what
// streaming stores buy in each allocation pattern, and they stay only where
// they win in every one.
#include "caffe/layers/euclidean_loss_layer.hpp"

#include "upstream_layers.hpp"

namespace caffe {

namespace {

template <typename Dtype>
class PlainStoreEuclideanLossLayer : public EuclideanLossLayer<Dtype> {
 public:
  explicit PlainStoreEuclideanLossLayer(const LayerParameter& param)
      : EuclideanLossLayer<Dtype>(param) {
    this->allow_streaming_ = false;
  }
};

}  // namespace

template <typename Dtype>
shared_ptr<Layer<Dtype> > MakePlainStoreEuclideanLoss(const LayerParameter& param) {
  return shared_ptr<Layer<Dtype> >(new PlainStoreEuclideanLossLayer<Dtype>(param));
}

template shared_ptr<Layer<float> > MakePlainStoreEuclideanLoss(const LayerParameter&);
template shared_ptr<Layer<double> > MakePlainStoreEuclideanLoss(const LayerParameter&);

}  // namespace caffe
