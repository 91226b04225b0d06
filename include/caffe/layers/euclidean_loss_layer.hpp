#ifndef CAFFE_LAYERS_EUCLIDEAN_LOSS_LAYER_HPP_
#define CAFFE_LAYERS_EUCLIDEAN_LOSS_LAYER_HPP_

#include <vector>

#include "caffe/blob.hpp"
#include "caffe/layer.hpp"
#include "caffe/layers/loss_layer.hpp"
#include "caffe/proto/caffe.pb.h"

namespace caffe {

/**
 * @brief Euclidean loss of two inputs a and b of the same count:
 *        loss = sum((a - b)^2) / (2 N), N being the size of the first axis.
 *
 * Gradients: +(a - b) / N for a, -(a - b) / N for b, times the top's diff
 * (so loss_weight is honoured), each only where propagate_down asks.
 *
 * Forward is one pass over both inputs accumulating in double (no
 * intermediate blob); Backward is one pass writing both gradients. The GPU
 * reduction has a fixed order, so the loss is the same from run to run.
 * On the GPU each is one kernel with 16-byte loads and stores where the
 * buffers allow; the forward kernel finishes the sum in its last block and
 * also writes the weighted loss into pinned host memory, which Loss_gpu
 * returns after one stream synchronisation (no cuBLAS dot, no copy).
 */
template <typename Dtype>
class EuclideanLossLayer : public LossLayer<Dtype> {
 public:
  explicit EuclideanLossLayer(const LayerParameter& param)
      : LossLayer<Dtype>(param) {}
  virtual ~EuclideanLossLayer();
  virtual void Reshape(const vector<Blob<Dtype>*>& bottom,
      const vector<Blob<Dtype>*>& top);

  virtual inline const char* type() const { return "EuclideanLoss"; }
  /// Either input may receive a gradient (e.g. two learned embeddings).
  virtual inline bool AllowForceBackward(const int bottom_index) const {
    return true;
  }

 protected:
  virtual void Forward_cpu(const vector<Blob<Dtype>*>& bottom,
      const vector<Blob<Dtype>*>& top);
  virtual void Forward_gpu(const vector<Blob<Dtype>*>& bottom,
      const vector<Blob<Dtype>*>& top);
  virtual void Backward_cpu(const vector<Blob<Dtype>*>& top,
      const vector<bool>& propagate_down, const vector<Blob<Dtype>*>& bottom);
  virtual void Backward_gpu(const vector<Blob<Dtype>*>& top,
      const vector<bool>& propagate_down, const vector<Blob<Dtype>*>& bottom);
  /// The weighted loss Forward_gpu's kernel left in host_loss_.
  virtual Dtype Loss_gpu(const vector<Blob<Dtype>*>& top);

  /// Backward_cpu writes gradients too large for the caches with streaming
  /// stores (where both outputs can be). Off only to measure what that buys
  /// (benchmarks/euclidean_loss_benchmark.cpp).
  bool allow_streaming_ = true;

 private:
  int num_ = 0;  // N: the size of the inputs' first axis
  /// GPU reduction scratch: one partial sum per thread block, and the
  /// count of blocks done (0 between launches: the last block resets it).
  Blob<double> block_sums_;
  Blob<unsigned int> blocks_done_;
  /// Pinned, mapped host memory: loss x loss weight of the last Forward_gpu
  /// (host_loss_on_device_ is its device address). Allocated on first use.
  Dtype* host_loss_ = NULL;
  Dtype* host_loss_on_device_ = NULL;
};

}  // namespace caffe

#endif  // CAFFE_LAYERS_EUCLIDEAN_LOSS_LAYER_HPP_
