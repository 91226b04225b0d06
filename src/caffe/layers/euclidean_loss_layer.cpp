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

// On x86-64 with GCC each hot loop also gets an AVX2/FMA clone, picked at
// load time by the CPU it runs on; the default clone runs everywhere.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CAFFE_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define CAFFE_SIMD_CLONES
#endif

// Sum of (a - b)^2 in double, in 16 independent lanes (vectorisable, and the
// same order on every run).
template <typename Dtype>
__attribute__((always_inline)) inline double SquaredDistanceLanes(
    const int count, const Dtype* a, const Dtype* b) {
  const int kLanes = 16;
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
  for (int width = kLanes / 2; width > 0; width /= 2) {
    for (int k = 0; k < width; ++k) lane[k] += lane[k + width];
  }
  return lane[0];
}

// grad_a = scale (a - b), grad_b = -grad_a; a null output is not written.
template <typename Dtype>
__attribute__((always_inline)) inline void EuclideanGradientsLoop(
    const int count, const Dtype* a, const Dtype* b, const Dtype scale,
    Dtype* da, Dtype* db) {
  if (da && db) {
    for (int i = 0; i < count; ++i) {
      const Dtype g = scale * (a[i] - b[i]);
      da[i] = g;
      db[i] = -g;
    }
  } else {
    Dtype* d = da ? da : db;
    const Dtype signed_scale = da ? scale : -scale;
    for (int i = 0; i < count; ++i) d[i] = signed_scale * (a[i] - b[i]);
  }
}

CAFFE_SIMD_CLONES double SquaredDistance(int count, const float* a,
                                         const float* b) {
  return SquaredDistanceLanes(count, a, b);
}
CAFFE_SIMD_CLONES double SquaredDistance(int count, const double* a,
                                         const double* b) {
  return SquaredDistanceLanes(count, a, b);
}
CAFFE_SIMD_CLONES void EuclideanGradients(int count, const float* a,
    const float* b, float scale, float* da, float* db) {
  EuclideanGradientsLoop(count, a, b, scale, da, db);
}
CAFFE_SIMD_CLONES void EuclideanGradients(int count, const double* a,
    const double* b, double scale, double* da, double* db) {
  EuclideanGradientsLoop(count, a, b, scale, da, db);
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
  EuclideanGradients(bottom[0]->count(), bottom[0]->cpu_data(),
      bottom[1]->cpu_data(), top[0]->cpu_diff()[0] / num_,
      propagate_down[0] ? bottom[0]->mutable_cpu_diff() : NULL,
      propagate_down[1] ? bottom[1]->mutable_cpu_diff() : NULL);
}

#ifdef CPU_ONLY
STUB_GPU(EuclideanLossLayer);
#endif

INSTANTIATE_CLASS(EuclideanLossLayer);
REGISTER_LAYER_CLASS(EuclideanLoss);

}  // namespace caffe
