#include <vector>

#include "caffe/layers/euclidean_loss_layer.hpp"
#include "caffe/util/simd_clones.hpp"
#include "caffe/util/streaming_store.hpp"
#include "caffe/util/vector_alignment.hpp"

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

// Sum of (a - b)^2 in double, in 8 independent lanes (vectorisable, and the
// same order on every run).
template <typename Dtype>
__attribute__((always_inline)) inline double SquaredDistanceLanes(
    const int count, const Dtype* a, const Dtype* b) {
  const int kLanes = 8;
  double lane[kLanes] = {0};
  int i = 0;
  // Not i + kLanes <= count: that overflows for counts near INT_MAX.
  for (; i <= count - kLanes; i += kLanes) {
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

CAFFE_SIMD_CLONES double SquaredDistance(int count, const float* a,
                                         const float* b) {
  return SquaredDistanceLanes(count, a, b);
}
CAFFE_SIMD_CLONES double SquaredDistance(int count, const double* a,
                                         const double* b) {
  return SquaredDistanceLanes(count, a, b);
}

// first[i] = scale (a[i] - b[i]) and, when second is not null, second[i] =
// -first[i], for i in [begin, end), with ordinary (cached) stores.
template <typename Dtype>
__attribute__((always_inline)) inline void PlainGradientsLoop(int begin,
    int end, const Dtype* __restrict a, const Dtype* __restrict b,
    const Dtype scale, Dtype* __restrict first, Dtype* __restrict second) {
  if (second) {
    for (int i = begin; i < end; ++i) {
      const Dtype g = scale * (a[i] - b[i]);
      first[i] = g;
      second[i] = -g;
    }
  } else {
    for (int i = begin; i < end; ++i) first[i] = scale * (a[i] - b[i]);
  }
}

CAFFE_SIMD_CLONES void PlainGradients(int begin, int end, const float* a,
    const float* b, float scale, float* first, float* second) {
  PlainGradientsLoop(begin, end, a, b, scale, first, second);
}
CAFFE_SIMD_CLONES void PlainGradients(int begin, int end, const double* a,
    const double* b, double scale, double* first, double* second) {
  PlainGradientsLoop(begin, end, a, b, scale, first, second);
}

// The gradients: first = first_scale (a - b) and, when second is not null,
// second = -first. Large outputs are streamed (streaming_store.hpp) when
// allowed and both can be: the outputs must be aligned alike.
template <typename Dtype>
void EuclideanGradients(const int count, const Dtype* a, const Dtype* b,
    const Dtype first_scale, Dtype* first, Dtype* second,
    const bool allow_streaming) {
  int i = 0;
#ifdef __SSE2__
  if (allow_streaming && (!second || AlignedAlike(first, second)) &&
      StreamingPays(sizeof(Dtype) * count * (second ? 2 : 1))) {
    typedef SseVector<Dtype> V;
    const int head = StreamingHead(first, count);
    PlainGradients(0, head, a, b, first_scale, first, second);
    const typename V::Type scale = V::Broadcast(first_scale);
    for (i = head; i <= count - V::kWidth; i += V::kWidth) {  // no overflow
      const typename V::Type g = V::Mul(scale, V::Sub(V::Load(a + i), V::Load(b + i)));
      V::Stream(first + i, g);
      if (second) V::Stream(second + i, V::Neg(g));
    }
    StreamingFence();
  }
#endif
  PlainGradients(i, count, a, b, first_scale, first, second);
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
  const Dtype scale = top[0]->cpu_diff()[0] / num_;
  const Dtype* a = bottom[0]->cpu_data();
  const Dtype* b = bottom[1]->cpu_data();
  if (propagate_down[0]) {
    EuclideanGradients(bottom[0]->count(), a, b, scale,
        bottom[0]->mutable_cpu_diff(),
        propagate_down[1] ? bottom[1]->mutable_cpu_diff() : NULL,
        allow_streaming_);
  } else {
    EuclideanGradients(bottom[0]->count(), a, b, -scale,
        bottom[1]->mutable_cpu_diff(), static_cast<Dtype*>(NULL),
        allow_streaming_);
  }
}

template <typename Dtype>
EuclideanLossLayer<Dtype>::~EuclideanLossLayer() {
#ifndef CPU_ONLY
  if (host_loss_) {
    // A forward kernel may still be writing it (Loss_gpu waits only where
    // the loss is weighted). Unchecked: at exit the runtime may be gone.
    cudaDeviceSynchronize();
    cudaFreeHost(host_loss_);
  }
#endif
}

template <typename Dtype>
Dtype EuclideanLossLayer<Dtype>::Loss_gpu(const vector<Blob<Dtype>*>& top) {
#ifndef CPU_ONLY
  if (!this->loss(0)) return Dtype(0);  // loss_weight 0: not a loss top
  // Forward returns the loss by value: wait once for the forward kernel
  // (Caffe launches on the default stream), then read what it wrote.
  CUDA_CHECK(cudaStreamSynchronize(0));
  return *static_cast<volatile Dtype*>(host_loss_);
#else
  NO_GPU;
  return Dtype(0);
#endif
}

#ifdef CPU_ONLY
STUB_GPU(EuclideanLossLayer);
#endif

INSTANTIATE_CLASS(EuclideanLossLayer);
REGISTER_LAYER_CLASS(EuclideanLoss);

}  // namespace caffe
