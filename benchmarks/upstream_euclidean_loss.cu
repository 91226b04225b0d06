// GPU half of upstream's pristine EuclideanLoss (see upstream_euclidean_loss.cpp).
#include "caffe/layers/loss_layer.hpp"

#define CAFFE_LAYERS_EUCLIDEAN_LOSS_LAYER_HPP_  // ours stays out
#define EuclideanLossLayer UpstreamEuclideanLossLayer
#include CAFFE_UPSTREAM_EUCLIDEAN_HPP
#include CAFFE_UPSTREAM_EUCLIDEAN_CU
