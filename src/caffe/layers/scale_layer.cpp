// Derived from BVLC Caffe 99bd997 src/caffe/layers/scale_layer.cpp; this
// fork's changes: with a bias (every BatchNorm + Scale pair) the CPU code
// makes one pass forward and one backward, where upstream made two (three
// in place) and about five, with upstream's forward values; and a scale
// parameter's gradient always accumulates, as every parameter's does
// (upstream overwrote it where outer_dim is 1, which iter_size > 1 got
// wrong). The GPU side of that fix is
// patches/0039-scale-gpu-parameter-gradient-accumulates.patch.
#include <algorithm>
#include <vector>

#include "caffe/filler.hpp"
#include "caffe/layer_factory.hpp"
#include "caffe/layers/scale_layer.hpp"
#include "caffe/util/math_functions.hpp"

namespace caffe {

template <typename Dtype>
void ScaleLayer<Dtype>::LayerSetUp(const vector<Blob<Dtype>*>& bottom,
      const vector<Blob<Dtype>*>& top) {
  const ScaleParameter& param = this->layer_param_.scale_param();
  if (bottom.size() == 1 && this->blobs_.size() > 0) {
    LOG(INFO) << "Skipping parameter initialization";
  } else if (bottom.size() == 1) {
    // scale is a learned parameter; initialize it
    axis_ = bottom[0]->CanonicalAxisIndex(param.axis());
    const int num_axes = param.num_axes();
    CHECK_GE(num_axes, -1) << "num_axes must be non-negative, "
                           << "or -1 to extend to the end of bottom[0]";
    if (num_axes >= 0) {
      CHECK_GE(bottom[0]->num_axes(), axis_ + num_axes)
          << "scale blob's shape extends past bottom[0]'s shape when applied "
          << "starting with bottom[0] axis = " << axis_;
    }
    this->blobs_.resize(1);
    const vector<int>::const_iterator& shape_start =
        bottom[0]->shape().begin() + axis_;
    const vector<int>::const_iterator& shape_end =
        (num_axes == -1) ? bottom[0]->shape().end() : (shape_start + num_axes);
    vector<int> scale_shape(shape_start, shape_end);
    this->blobs_[0].reset(new Blob<Dtype>(scale_shape));
    FillerParameter filler_param(param.filler());
    if (!param.has_filler()) {
      // Default to unit (1) filler for identity operation.
      filler_param.set_type("constant");
      filler_param.set_value(1);
    }
    shared_ptr<Filler<Dtype> > filler(GetFiller<Dtype>(filler_param));
    filler->Fill(this->blobs_[0].get());
  }
  if (param.bias_term()) {
    LayerParameter layer_param(this->layer_param_);
    layer_param.set_type("Bias");
    BiasParameter* bias_param = layer_param.mutable_bias_param();
    bias_param->set_axis(param.axis());
    if (bottom.size() > 1) {
      bias_param->set_num_axes(bottom[1]->num_axes());
    } else {
      bias_param->set_num_axes(param.num_axes());
    }
    bias_param->mutable_filler()->CopyFrom(param.bias_filler());
    bias_layer_ = LayerRegistry<Dtype>::CreateLayer(layer_param);
    bias_bottom_vec_.resize(1);
    bias_bottom_vec_[0] = bottom[0];
    bias_layer_->SetUp(bias_bottom_vec_, top);
    if (this->blobs_.size() + bottom.size() < 3) {
      // case: blobs.size == 1 && bottom.size == 1
      // or blobs.size == 0 && bottom.size == 2
      bias_param_id_ = this->blobs_.size();
      this->blobs_.resize(bias_param_id_ + 1);
      this->blobs_[bias_param_id_] = bias_layer_->blobs()[0];
    } else {
      // bias param already initialized
      bias_param_id_ = this->blobs_.size() - 1;
      bias_layer_->blobs()[0] = this->blobs_[bias_param_id_];
    }
    bias_propagate_down_.resize(1, false);
  }
  this->param_propagate_down_.resize(this->blobs_.size(), true);
}

template <typename Dtype>
void ScaleLayer<Dtype>::Reshape(const vector<Blob<Dtype>*>& bottom,
      const vector<Blob<Dtype>*>& top) {
  const ScaleParameter& param = this->layer_param_.scale_param();
  Blob<Dtype>* scale = (bottom.size() > 1) ? bottom[1] : this->blobs_[0].get();
  // Always set axis_ == 0 in special case where scale is a scalar
  // (num_axes == 0). Mathematically equivalent for any choice of axis_, so the
  // actual setting can be safely ignored; and computation is most efficient
  // with axis_ == 0 and (therefore) outer_dim_ == 1. (Setting axis_ to
  // bottom[0]->num_axes() - 1, giving inner_dim_ == 1, would be equally
  // performant.)
  axis_ = (scale->num_axes() == 0) ?
      0 : bottom[0]->CanonicalAxisIndex(param.axis());
  CHECK_GE(bottom[0]->num_axes(), axis_ + scale->num_axes())
      << "scale blob's shape extends past bottom[0]'s shape when applied "
      << "starting with bottom[0] axis = " << axis_;
  for (int i = 0; i < scale->num_axes(); ++i) {
    CHECK_EQ(bottom[0]->shape(axis_ + i), scale->shape(i))
        << "dimension mismatch between bottom[0]->shape(" << axis_ + i
        << ") and scale->shape(" << i << ")";
  }
  outer_dim_ = bottom[0]->count(0, axis_);
  scale_dim_ = scale->count();
  inner_dim_ = bottom[0]->count(axis_ + scale->num_axes());
  if (bottom[0] == top[0]) {  // in-place computation
    temp_.ReshapeLike(*bottom[0]);
  } else {
    top[0]->ReshapeLike(*bottom[0]);
  }
  sum_result_.Reshape(vector<int>(1, outer_dim_ * scale_dim_));
  const int sum_mult_size = std::max(outer_dim_, inner_dim_);
  sum_multiplier_.Reshape(vector<int>(1, sum_mult_size));
  if (sum_multiplier_.cpu_data()[sum_mult_size - 1] != Dtype(1)) {
    caffe_set(sum_mult_size, Dtype(1), sum_multiplier_.mutable_cpu_data());
  }
  if (bias_layer_) {
    bias_bottom_vec_[0] = top[0];
    bias_layer_->Reshape(bias_bottom_vec_, top);
  }
}

namespace {

// One pass over the data where upstream made several (scale, then the Bias
// layer's rank-1 GEMM forward; backward a product blob, two GEMVs, the
// Bias layer's GEMV pass and a scaling pass). Rows are the inner_dim
// values one scale (and bias) value applies to; where inner_dim is 1 a
// "row" runs across scale_dim instead, so loops stay long and vectorise.

const int kLanes = 8;  // values per step of the row loops

// top = x * scale (+ bias), upstream's two roundings in its order; and
// saved = x if kSave (in place, for backward: saved while read, not in a
// pass of its own). Steps of kLanes load before they store, so that the
// compiler makes vectors even where top is x.
template <bool kBias, bool kSave, typename Dtype>
void ScaleRowWith(int length, const Dtype* x, Dtype scale, Dtype bias,
                  Dtype* top, Dtype* saved) {
  int i = 0;
  for (; i + kLanes <= length; i += kLanes) {
    Dtype v[kLanes];
    for (int k = 0; k < kLanes; ++k) v[k] = x[i + k];
    if (kSave) {
      for (int k = 0; k < kLanes; ++k) saved[i + k] = v[k];
    }
    for (int k = 0; k < kLanes; ++k) {
      top[i + k] = kBias ? v[k] * scale + bias : v[k] * scale;
    }
  }
  for (; i < length; ++i) {
    const Dtype v = x[i];
    if (kSave) saved[i] = v;
    top[i] = kBias ? v * scale + bias : v * scale;
  }
}

template <typename Dtype>
void ScaleRow(int length, const Dtype* x, Dtype scale, const Dtype* bias,
              Dtype* top, Dtype* saved) {
  if (bias && saved) {
    ScaleRowWith<true, true>(length, x, scale, *bias, top, saved);
  } else if (bias) {
    ScaleRowWith<true, false>(length, x, scale, *bias, top, saved);
  } else if (saved) {
    ScaleRowWith<false, true>(length, x, scale, Dtype(0), top, saved);
  } else {
    ScaleRowWith<false, false>(length, x, scale, Dtype(0), top, saved);
  }
}

// Across scale_dim (inner_dim 1): top[d] = x[d] * scale[d] (+ bias[d]).
template <typename Dtype>
void ScaleAcross(int length, const Dtype* x, const Dtype* scale,
                 const Dtype* bias, Dtype* top) {
  if (bias) {
    for (int d = 0; d < length; ++d) top[d] = x[d] * scale[d] + bias[d];
  } else {
    for (int d = 0; d < length; ++d) top[d] = x[d] * scale[d];
  }
}

// Sums of one row, kLanes partial sums each so that the loop vectorises
// without reassociation flags: *dot = sum(dy * x) if kDot, *sum = sum(dy)
// if kSum; and dx = dy * scale if kDiff (dx may be dy).
template <bool kDot, bool kSum, bool kDiff, typename Dtype>
void BackwardRowWith(int length, const Dtype* dy, const Dtype* x,
                     Dtype scale, Dtype* dx, Dtype* dot, Dtype* sum) {
  Dtype dots[kLanes] = {0}, sums[kLanes] = {0};
  int i = 0;
  for (; i + kLanes <= length; i += kLanes) {
    // Every load before any store: dx may be dy, and otherwise the
    // compiler may not group the lanes into vectors.
    Dtype g[kLanes];
    for (int k = 0; k < kLanes; ++k) g[k] = dy[i + k];
    for (int k = 0; k < kLanes; ++k) {
      if (kDot) dots[k] += g[k] * x[i + k];
      if (kSum) sums[k] += g[k];
    }
    if (kDiff) {
      for (int k = 0; k < kLanes; ++k) dx[i + k] = g[k] * scale;
    }
  }
  for (int k = 0; k < kLanes && i + k < length; ++k) {  // the tail
    const Dtype g = dy[i + k];
    if (kDot) dots[k] += g * x[i + k];
    if (kSum) sums[k] += g;
    if (kDiff) dx[i + k] = g * scale;
  }
  Dtype total_dot = 0, total_sum = 0;
  for (int k = 0; k < kLanes; ++k) {
    total_dot += dots[k];
    total_sum += sums[k];
  }
  if (kDot) *dot = total_dot;
  if (kSum) *sum = total_sum;
}

// Across scale_dim (inner_dim 1): dot[d] += dy[d] * x[d], sum[d] += dy[d],
// dx[d] = dy[d] * scale[d], each where its pointer is not null.
template <typename Dtype>
void BackwardAcross(int length, const Dtype* dy, const Dtype* x,
                    const Dtype* scale, Dtype* dx, Dtype* dot, Dtype* sum) {
  if (dot) for (int d = 0; d < length; ++d) dot[d] += dy[d] * x[d];
  if (sum) for (int d = 0; d < length; ++d) sum[d] += dy[d];
  if (dx) for (int d = 0; d < length; ++d) dx[d] = dy[d] * scale[d];
}

template <typename Dtype>
void BackwardRow(int length, const Dtype* dy, const Dtype* x, Dtype scale,
                 Dtype* dx, Dtype* dot, Dtype* sum) {
  const int which = (dot ? 4 : 0) + (sum ? 2 : 0) + (dx ? 1 : 0);
  switch (which) {
    case 1: BackwardRowWith<false, false, true>(
        length, dy, x, scale, dx, dot, sum); break;
    case 2: BackwardRowWith<false, true, false>(
        length, dy, x, scale, dx, dot, sum); break;
    case 3: BackwardRowWith<false, true, true>(
        length, dy, x, scale, dx, dot, sum); break;
    case 4: BackwardRowWith<true, false, false>(
        length, dy, x, scale, dx, dot, sum); break;
    case 5: BackwardRowWith<true, false, true>(
        length, dy, x, scale, dx, dot, sum); break;
    case 6: BackwardRowWith<true, true, false>(
        length, dy, x, scale, dx, dot, sum); break;
    case 7: BackwardRowWith<true, true, true>(
        length, dy, x, scale, dx, dot, sum); break;
    default: break;
  }
}

}  // namespace

template <typename Dtype>
void ScaleLayer<Dtype>::Forward_cpu(
    const vector<Blob<Dtype>*>& bottom, const vector<Blob<Dtype>*>& top) {
  const Dtype* bottom_data = bottom[0]->cpu_data();
  // In place, backward needs the bottom data this overwrites: it is saved
  // in temp_ (whether or not a backward pass follows: Caffe cannot tell).
  Dtype* saved = bottom[0] == top[0] ? temp_.mutable_cpu_data() : NULL;
  if (saved && inner_dim_ == 1) {
    caffe_copy(bottom[0]->count(), bottom_data, saved);
    saved = NULL;
  }
  const Dtype* scale_data =
      ((bottom.size() > 1) ? bottom[1] : this->blobs_[0].get())->cpu_data();
  // The bias is the Bias layer's parameter, applied here in the same pass.
  const Dtype* bias_data = bias_layer_ ?
      this->blobs_[bias_param_id_]->cpu_data() : NULL;
  Dtype* top_data = top[0]->mutable_cpu_data();
  for (int n = 0; n < outer_dim_; ++n) {
    if (inner_dim_ == 1) {
      ScaleAcross(scale_dim_, bottom_data, scale_data, bias_data, top_data);
      bottom_data += scale_dim_;
      top_data += scale_dim_;
      continue;
    }
    for (int d = 0; d < scale_dim_; ++d) {
      ScaleRow(inner_dim_, bottom_data, scale_data[d],
               bias_data ? bias_data + d : NULL, top_data, saved);
      bottom_data += inner_dim_;
      top_data += inner_dim_;
      if (saved) saved += inner_dim_;
    }
  }
}

template <typename Dtype>
void ScaleLayer<Dtype>::Backward_cpu(const vector<Blob<Dtype>*>& top,
    const vector<bool>& propagate_down, const vector<Blob<Dtype>*>& bottom) {
  const bool scale_param = (bottom.size() == 1);
  Blob<Dtype>* scale = scale_param ? this->blobs_[0].get() : bottom[1];
  const bool scale_diff_needed = (!scale_param && propagate_down[1]) ||
                                 (scale_param && this->param_propagate_down_[0]);
  const bool bias_diff_needed = bias_layer_ &&
      this->param_propagate_down_[this->param_propagate_down_.size() - 1];
  if (!scale_diff_needed && !bias_diff_needed && !propagate_down[0]) return;
  const bool in_place = (bottom[0] == top[0]);
  const Dtype* bottom_data = (in_place ? &temp_ : bottom[0])->cpu_data();
  // Per scale value: sum(top_diff * x) and sum(top_diff) over its rows,
  // accumulated over outer_dim.
  vector<Dtype> dots(scale_dim_, Dtype(0)), sums(scale_dim_, Dtype(0));
  const Dtype* top_diff = top[0]->cpu_diff();
  const Dtype* scale_data = scale->cpu_data();
  Dtype* bottom_diff = propagate_down[0] ? bottom[0]->mutable_cpu_diff() : NULL;
  for (int n = 0; n < outer_dim_; ++n) {
    if (inner_dim_ == 1) {
      BackwardAcross(scale_dim_, top_diff, bottom_data, scale_data,
                     bottom_diff, scale_diff_needed ? dots.data() : NULL,
                     bias_diff_needed ? sums.data() : NULL);
    } else {
      for (int d = 0; d < scale_dim_; ++d) {
        Dtype dot = 0, sum = 0;
        BackwardRow(inner_dim_, top_diff + d * inner_dim_,
                    bottom_data + d * inner_dim_, scale_data[d],
                    bottom_diff ? bottom_diff + d * inner_dim_ : NULL,
                    scale_diff_needed ? &dot : NULL,
                    bias_diff_needed ? &sum : NULL);
        dots[d] += dot;
        sums[d] += sum;
      }
    }
    const int dim = scale_dim_ * inner_dim_;
    top_diff += dim;
    bottom_data += dim;
    if (bottom_diff) bottom_diff += dim;
  }
  // A parameter's gradient accumulates (iter_size, shared parameters); a
  // scale given as bottom[1] gets its gradient.
  if (scale_diff_needed) {
    if (scale_param) {
      caffe_axpy(scale_dim_, Dtype(1), dots.data(), scale->mutable_cpu_diff());
    } else {
      caffe_copy(scale_dim_, dots.data(), scale->mutable_cpu_diff());
    }
  }
  if (bias_diff_needed) {
    caffe_axpy(scale_dim_, Dtype(1), sums.data(),
               this->blobs_[bias_param_id_]->mutable_cpu_diff());
  }
}

#ifdef CPU_ONLY
STUB_GPU(ScaleLayer);
#endif

INSTANTIATE_CLASS(ScaleLayer);
REGISTER_LAYER_CLASS(Scale);

}  // namespace caffe
