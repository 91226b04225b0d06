#ifndef BENCHMARKS_UPSTREAM_LAYERS_HPP_
#define BENCHMARKS_UPSTREAM_LAYERS_HPP_

#include "caffe/layer.hpp"

namespace caffe {

// Upstream's own EuclideanLoss, compiled from the pristine upstream tree in
// this same build (upstream_euclidean_loss.cpp), for side-by-side timing.
template <typename Dtype>
shared_ptr<Layer<Dtype> > MakeUpstreamEuclideanLoss(const LayerParameter& param);

// Our EuclideanLoss with ordinary stores only (plain_store_euclidean_loss.cpp).
template <typename Dtype>
shared_ptr<Layer<Dtype> > MakePlainStoreEuclideanLoss(const LayerParameter& param);

}  // namespace caffe

#endif  // BENCHMARKS_UPSTREAM_LAYERS_HPP_
