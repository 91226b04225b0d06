// A deliberately broken native layer, for testing the port-check tool
// (python/caffe/test/test_portcheck.py loads this plugin with ctypes; its
// static registration adds the layer to libcaffe's registry).
#include <vector>

#include "caffe/layer_factory.hpp"
#include "caffe/layers/euclidean_loss_layer.hpp"

namespace caffe {

// EuclideanLoss whose gradient for the second input is half what it should
// be: the kind of slip a port makes.
template <typename Dtype>
class BrokenEuclideanLossLayer : public EuclideanLossLayer<Dtype> {
 public:
  explicit BrokenEuclideanLossLayer(const LayerParameter& param)
      : EuclideanLossLayer<Dtype>(param) {}
  virtual inline const char* type() const { return "BrokenEuclideanLoss"; }

 protected:
  virtual void Backward_cpu(const vector<Blob<Dtype>*>& top,
      const vector<bool>& propagate_down, const vector<Blob<Dtype>*>& bottom) {
    EuclideanLossLayer<Dtype>::Backward_cpu(top, propagate_down, bottom);
    if (propagate_down[1]) {
      caffe_scal(bottom[1]->count(), Dtype(0.5), bottom[1]->mutable_cpu_diff());
    }
  }
  virtual void Backward_gpu(const vector<Blob<Dtype>*>& top,
      const vector<bool>& propagate_down, const vector<Blob<Dtype>*>& bottom) {
    Backward_cpu(top, propagate_down, bottom);
  }
};

INSTANTIATE_CLASS(BrokenEuclideanLossLayer);
REGISTER_LAYER_CLASS(BrokenEuclideanLoss);

}  // namespace caffe
