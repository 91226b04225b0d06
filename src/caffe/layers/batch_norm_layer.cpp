// Derived from BVLC Caffe 99bd997 src/caffe/layers/batch_norm_layer.cpp;
// this fork's changes: the CPU passes work on each image's row of a channel
// with that channel's statistics instead of expanding the statistics to
// the blob's size with rank-1 GEMMs: four passes over the data forward
// instead of seven or eight, four backward instead of eight or nine, with
// the same forward output (test_batch_norm_reference.cpp). The GPU code is
// upstream's.
#include <algorithm>
#include <vector>

#include "caffe/layers/batch_norm_layer.hpp"
#include "caffe/util/math_functions.hpp"

namespace caffe {

template <typename Dtype>
void BatchNormLayer<Dtype>::LayerSetUp(const vector<Blob<Dtype>*>& bottom,
      const vector<Blob<Dtype>*>& top) {
  BatchNormParameter param = this->layer_param_.batch_norm_param();
  moving_average_fraction_ = param.moving_average_fraction();
  use_global_stats_ = this->phase_ == TEST;
  if (param.has_use_global_stats())
    use_global_stats_ = param.use_global_stats();
  if (bottom[0]->num_axes() == 1)
    channels_ = 1;
  else
    channels_ = bottom[0]->shape(1);
  eps_ = param.eps();
  if (this->blobs_.size() > 0) {
    LOG(INFO) << "Skipping parameter initialization";
  } else {
    this->blobs_.resize(3);
    vector<int> sz;
    sz.push_back(channels_);
    this->blobs_[0].reset(new Blob<Dtype>(sz));
    this->blobs_[1].reset(new Blob<Dtype>(sz));
    sz[0] = 1;
    this->blobs_[2].reset(new Blob<Dtype>(sz));
    for (int i = 0; i < 3; ++i) {
      caffe_set(this->blobs_[i]->count(), Dtype(0),
                this->blobs_[i]->mutable_cpu_data());
    }
  }
  // Mask statistics from optimization by setting local learning rates
  // for mean, variance, and the bias correction to zero.
  for (int i = 0; i < this->blobs_.size(); ++i) {
    if (this->layer_param_.param_size() == i) {
      ParamSpec* fixed_param_spec = this->layer_param_.add_param();
      fixed_param_spec->set_lr_mult(0.f);
    } else {
      CHECK_EQ(this->layer_param_.param(i).lr_mult(), 0.f)
          << "Cannot configure batch normalization statistics as layer "
          << "parameters.";
    }
  }
}

template <typename Dtype>
void BatchNormLayer<Dtype>::Reshape(const vector<Blob<Dtype>*>& bottom,
      const vector<Blob<Dtype>*>& top) {
  if (bottom[0]->num_axes() >= 1)
    CHECK_EQ(bottom[0]->shape(1), channels_);
  top[0]->ReshapeLike(*bottom[0]);

  vector<int> sz;
  sz.push_back(channels_);
  mean_.Reshape(sz);
  variance_.Reshape(sz);
  temp_.ReshapeLike(*bottom[0]);
  x_norm_.ReshapeLike(*bottom[0]);
  sz[0] = bottom[0]->shape(0);
  batch_sum_multiplier_.Reshape(sz);

  int spatial_dim = bottom[0]->count()/(channels_*bottom[0]->shape(0));
  if (spatial_sum_multiplier_.num_axes() == 0 ||
      spatial_sum_multiplier_.shape(0) != spatial_dim) {
    sz[0] = spatial_dim;
    spatial_sum_multiplier_.Reshape(sz);
    Dtype* multiplier_data = spatial_sum_multiplier_.mutable_cpu_data();
    caffe_set(spatial_sum_multiplier_.count(), Dtype(1), multiplier_data);
  }

  int numbychans = channels_*bottom[0]->shape(0);
  if (num_by_chans_.num_axes() == 0 ||
      num_by_chans_.shape(0) != numbychans) {
    sz[0] = numbychans;
    num_by_chans_.Reshape(sz);
    caffe_set(batch_sum_multiplier_.count(), Dtype(1),
        batch_sum_multiplier_.mutable_cpu_data());
  }
}

// out[c] = alpha * the sum of channel c of a num x channels x spatial_dim
// blob over images and positions: upstream's two GEMVs, one over each row
// (into per_row), one over the images.
template <typename Dtype>
static void SumPerChannel(int num, int channels, int spatial_dim, Dtype alpha,
    const Dtype* data, const Blob<Dtype>& spatial_ones,
    const Blob<Dtype>& batch_ones, Blob<Dtype>* per_row, Dtype* out) {
  caffe_cpu_gemv<Dtype>(CblasNoTrans, channels * num, spatial_dim, alpha,
      data, spatial_ones.cpu_data(), 0., per_row->mutable_cpu_data());
  caffe_cpu_gemv<Dtype>(CblasTrans, num, channels, 1., per_row->cpu_data(),
      batch_ones.cpu_data(), 0., out);
}

// The CPU passes work on each image's row of each channel (spatial_dim
// contiguous values) with that channel's statistics, instead of expanding
// the statistics to the blob's size with rank-1 GEMMs and then combining
// whole blobs: four passes over the data forward instead of seven or
// eight, four backward instead of eight or nine. The sums are upstream's
// GEMVs and the forward values upstream's operations in upstream's order,
// so the forward output is the same; backward combines the same terms in
// one expression.
template <typename Dtype>
void BatchNormLayer<Dtype>::Forward_cpu(const vector<Blob<Dtype>*>& bottom,
    const vector<Blob<Dtype>*>& top) {
  const Dtype* bottom_data = bottom[0]->cpu_data();
  Dtype* top_data = top[0]->mutable_cpu_data();
  int num = bottom[0]->shape(0);
  int spatial_dim = bottom[0]->count()/(bottom[0]->shape(0)*channels_);

  if (use_global_stats_) {
    // use the stored mean/variance estimates.
    const Dtype scale_factor = this->blobs_[2]->cpu_data()[0] == 0 ?
        0 : 1 / this->blobs_[2]->cpu_data()[0];
    caffe_cpu_scale(variance_.count(), scale_factor,
        this->blobs_[0]->cpu_data(), mean_.mutable_cpu_data());
    caffe_cpu_scale(variance_.count(), scale_factor,
        this->blobs_[1]->cpu_data(), variance_.mutable_cpu_data());
  } else {
    // compute mean
    SumPerChannel(num, channels_, spatial_dim, Dtype(1. / (num * spatial_dim)),
        bottom_data, spatial_sum_multiplier_, batch_sum_multiplier_,
        &num_by_chans_, mean_.mutable_cpu_data());
  }

  // subtract mean, and when training keep (X-EX)^2 for the variance
  const Dtype* mean = mean_.cpu_data();
  Dtype* squares = temp_.mutable_cpu_data();
  for (int row = 0, n = 0; n < num; ++n)
  for (int c = 0; c < channels_; ++c, ++row) {
    const Dtype m = mean[c];
    const Dtype* x = bottom_data + row * spatial_dim;
    Dtype* y = top_data + row * spatial_dim;
    if (use_global_stats_) {
      for (int i = 0; i < spatial_dim; ++i) y[i] = x[i] - m;
    } else {
      Dtype* sq = squares + row * spatial_dim;
      for (int i = 0; i < spatial_dim; ++i) {
        const Dtype centered = x[i] - m;
        y[i] = centered;
        sq[i] = centered * centered;
      }
    }
  }

  if (!use_global_stats_) {
    // compute variance using var(X) = E((X-EX)^2)
    SumPerChannel(num, channels_, spatial_dim, Dtype(1. / (num * spatial_dim)),
        temp_.cpu_data(), spatial_sum_multiplier_, batch_sum_multiplier_,
        &num_by_chans_, variance_.mutable_cpu_data());  // E((X_EX)^2)

    // compute and save moving average
    this->blobs_[2]->mutable_cpu_data()[0] *= moving_average_fraction_;
    this->blobs_[2]->mutable_cpu_data()[0] += 1;
    caffe_cpu_axpby(mean_.count(), Dtype(1), mean_.cpu_data(),
        moving_average_fraction_, this->blobs_[0]->mutable_cpu_data());
    int m = bottom[0]->count()/channels_;
    Dtype bias_correction_factor = m > 1 ? Dtype(m)/(m-1) : 1;
    caffe_cpu_axpby(variance_.count(), bias_correction_factor,
        variance_.cpu_data(), moving_average_fraction_,
        this->blobs_[1]->mutable_cpu_data());
  }

  // normalize variance: variance_ holds sqrt(var(X) + eps) from here on,
  // which Backward_cpu divides by
  caffe_add_scalar(variance_.count(), eps_, variance_.mutable_cpu_data());
  caffe_sqrt(variance_.count(), variance_.cpu_data(),
             variance_.mutable_cpu_data());

  // divide by it; keep a copy of the result, which later in-place layers
  // might clobber, for the backward pass
  const Dtype* stddev = variance_.cpu_data();
  Dtype* x_norm = x_norm_.mutable_cpu_data();
  for (int row = 0, n = 0; n < num; ++n)
  for (int c = 0; c < channels_; ++c, ++row) {
    const Dtype sd = stddev[c];
    Dtype* y = top_data + row * spatial_dim;
    Dtype* saved = x_norm + row * spatial_dim;
    for (int i = 0; i < spatial_dim; ++i) {
      const Dtype normalized = y[i] / sd;
      y[i] = normalized;
      saved[i] = normalized;
    }
  }
}

template <typename Dtype>
void BatchNormLayer<Dtype>::Backward_cpu(const vector<Blob<Dtype>*>& top,
    const vector<bool>& propagate_down,
    const vector<Blob<Dtype>*>& bottom) {
  // In place, bottom_diff is top_diff: each pass below reads an element
  // before it writes the same element, so no copy is needed.
  const Dtype* top_diff = top[0]->cpu_diff();
  Dtype* bottom_diff = bottom[0]->mutable_cpu_diff();
  const Dtype* stddev = variance_.cpu_data();
  int num = bottom[0]->shape()[0];
  int spatial_dim = bottom[0]->count()/(bottom[0]->shape(0)*channels_);
  if (use_global_stats_) {
    for (int row = 0, n = 0; n < num; ++n)
    for (int c = 0; c < channels_; ++c, ++row) {
      const Dtype sd = stddev[c];
      const Dtype* dy = top_diff + row * spatial_dim;
      Dtype* dx = bottom_diff + row * spatial_dim;
      for (int i = 0; i < spatial_dim; ++i) dx[i] = dy[i] / sd;
    }
    return;
  }
  const Dtype* top_data = x_norm_.cpu_data();
  // if Y = (X-mean(X))/(sqrt(var(X)+eps)), then
  //
  // dE(Y)/dX =
  //   (dE/dY - mean(dE/dY) - mean(dE/dY \cdot Y) \cdot Y)
  //     ./ sqrt(var(X) + eps)
  //
  // where \cdot and ./ are hadamard product and elementwise division,
  // respectively, dE/dY is the top diff, and mean/var/sum are all computed
  // along all dimensions except the channels dimension.  In the above
  // equation, the operations allow for expansion (i.e. broadcast) along all
  // dimensions except the channels dimension where required.

  // sum(dE/dY \cdot Y) and sum(dE/dY); temp_ is free after the forward pass
  vector<Dtype> sum_dy_y(channels_), sum_dy(channels_);
  caffe_mul(temp_.count(), top_data, top_diff, temp_.mutable_cpu_data());
  SumPerChannel(num, channels_, spatial_dim, Dtype(1), temp_.cpu_data(),
      spatial_sum_multiplier_, batch_sum_multiplier_, &num_by_chans_,
      sum_dy_y.data());
  SumPerChannel(num, channels_, spatial_dim, Dtype(1), top_diff,
      spatial_sum_multiplier_, batch_sum_multiplier_, &num_by_chans_,
      sum_dy.data());

  // (dE/dY - (sum(dE/dY) + sum(dE/dY \cdot Y) \cdot Y) / m) ./ sqrt(var + eps)
  const Dtype inv_m = Dtype(1. / (num * spatial_dim));
  for (int row = 0, n = 0; n < num; ++n)
  for (int c = 0; c < channels_; ++c, ++row) {
    const Dtype a = sum_dy[c], b = sum_dy_y[c], sd = stddev[c];
    const Dtype* y = top_data + row * spatial_dim;
    const Dtype* dy = top_diff + row * spatial_dim;
    Dtype* dx = bottom_diff + row * spatial_dim;
    for (int i = 0; i < spatial_dim; ++i) {
      dx[i] = (dy[i] - (a + b * y[i]) * inv_m) / sd;
    }
  }
}

#ifdef CPU_ONLY
STUB_GPU(BatchNormLayer);
#endif

INSTANTIATE_CLASS(BatchNormLayer);
REGISTER_LAYER_CLASS(BatchNorm);
}  // namespace caffe
