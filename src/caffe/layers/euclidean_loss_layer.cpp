#include <vector>

#include "caffe/layers/euclidean_loss_layer.hpp"

namespace caffe {

template <typename Dtype>
void EuclideanLossLayer<Dtype>::Reshape(
    const vector<Blob<Dtype>*>& bottom, const vector<Blob<Dtype>*>& top) {
  CHECK(bottom[0]->num_axes() > 0 && bottom[1]->num_axes() > 0 &&
        bottom[0]->shape(0) == bottom[1]->shape(0) &&
        bottom[0]->count() == bottom[1]->count())
      << type() << " layer '" << this->layer_param_.name()
      << "': bottom[0] (" << bottom[0]->shape_string() << ") and bottom[1] ("
      << bottom[1]->shape_string()
      << ") must have the same first axis and the same number of elements";
  LossLayer<Dtype>::Reshape(bottom, top);
  num_ = bottom[0]->shape(0);
}

namespace {

// Sum of (a - b)^2 in double. Eight independent accumulators let the loop
// keep several additions in flight; the result does not depend on threads.
template <typename Dtype>
double SquaredDistance(const int count, const Dtype* a, const Dtype* b) {
  const int kLanes = 8;
  double lane[kLanes] = {0};
  int i = 0;
  for (; i + kLanes <= count; i += kLanes) {
    for (int k = 0; k < kLanes; ++k) {
      const double d = static_cast<double>(a[i + k]) - b[i + k];
      lane[k] += d * d;
    }
  }
  for (; i < count; ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    lane[0] += d * d;
  }
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) +
         ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

}  // namespace

template <typename Dtype>
void EuclideanLossLayer<Dtype>::Forward_cpu(const vector<Blob<Dtype>*>& bottom,
    const vector<Blob<Dtype>*>& top) {
  const double sum = SquaredDistance(bottom[0]->count(),
      bottom[0]->cpu_data(), bottom[1]->cpu_data());
  top[0]->mutable_cpu_data()[0] =
      num_ > 0 ? static_cast<Dtype>(sum / (2.0 * num_)) : Dtype(0);
}

template <typename Dtype>
void EuclideanLossLayer<Dtype>::Backward_cpu(const vector<Blob<Dtype>*>& top,
    const vector<bool>& propagate_down, const vector<Blob<Dtype>*>& bottom) {
  if (!propagate_down[0] && !propagate_down[1]) return;
  const int count = bottom[0]->count();
  const Dtype* a = bottom[0]->cpu_data();
  const Dtype* b = bottom[1]->cpu_data();
  const Dtype scale = top[0]->cpu_diff()[0] / num_;
  if (propagate_down[0] && propagate_down[1]) {
    Dtype* da = bottom[0]->mutable_cpu_diff();
    Dtype* db = bottom[1]->mutable_cpu_diff();
    for (int i = 0; i < count; ++i) {
      const Dtype g = scale * (a[i] - b[i]);
      da[i] = g;
      db[i] = -g;
    }
  } else {
    const int which = propagate_down[0] ? 0 : 1;
    const Dtype signed_scale = which == 0 ? scale : -scale;
    Dtype* d = bottom[which]->mutable_cpu_diff();
    for (int i = 0; i < count; ++i) {
      d[i] = signed_scale * (a[i] - b[i]);
    }
  }
}

#ifdef CPU_ONLY
STUB_GPU(EuclideanLossLayer);
#endif

INSTANTIATE_CLASS(EuclideanLossLayer);
REGISTER_LAYER_CLASS(EuclideanLoss);

}  // namespace caffe
