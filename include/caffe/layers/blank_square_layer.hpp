#ifndef CAFFE_BLANK_SQUARE_LAYER_HPP_
#define CAFFE_BLANK_SQUARE_LAYER_HPP_

#include <stdint.h>

#include <vector>

#include "caffe/blob.hpp"
#include "caffe/layer.hpp"
#include "caffe/layers/neuron_layer.hpp"
#include "caffe/proto/caffe.pb.h"
#include "caffe/util/counter_rng.hpp"
#include "caffe/util/pixel_yx.hpp"

namespace caffe {

/// Where the squares of one forward pass are: a pure function of the
/// layer's key and the forward count, evaluated alike on CPU and GPU.
struct BlankSquareSampler {
  uint64_t key;        // of this forward pass
  uint64_t threshold;  // occlude when the draw's high 32 bits are below it
  int height, width;   // of the square
  int y_positions, x_positions;  // places the square fits
  bool per_sample;
  bool fixed;          // every square at (fixed_y, fixed_x)
  int fixed_y, fixed_x;

  /// Whether image n is occluded, and where (top-left corner).
  CAFFE_HOST_DEVICE bool Square(int n, PixelYX* corner) const {
    const uint64_t draw = per_sample ? static_cast<uint64_t>(n) : 0;
    if ((CounterRandom(key, 3 * draw) >> 32) >= threshold) return false;
    if (fixed) {
      corner->y = fixed_y;
      corner->x = fixed_x;
    } else {
      corner->y = UniformBelow(CounterRandom(key, 3 * draw + 1), y_positions);
      corner->x = UniformBelow(CounterRandom(key, 3 * draw + 2), x_positions);
    }
    return true;
  }
};

/**
 * @brief Occludes a rectangle of each image: DIGITS' BlankSquare prototype
 *        as a native layer (blank_square_param).
 *
 * The last two axes are height and width; the rectangle is
 * floor(ratio H) x floor(ratio W), at a position uniform over every place it
 * fits, shared by all channels of an image and, unless per_sample, by the
 * whole batch, or at the fixed corner (offset_h, offset_w) when both are
 * set. Positions come from a counter-based generator keyed by Caffe's seed,
 * the layer's name and the solver rank: CPU and GPU give identical output,
 * replicas in multi-GPU training draw different squares, and setting up the
 * layer does not advance Caffe's random stream, so a net's other layers get
 * the same initial weights with or without it. In place, only the rectangle
 * is written. Backward passes the gradient outside the rectangle and zeroes
 * it inside. In TEST the layer is the identity unless apply_in_test is set.
 *
 * On the GPU each pass is one kernel (blank_square_kernels.hpp), whose
 * threads draw the square of each image they work on once, with the CPU's
 * generator (the batch's one square is drawn on the host): in place it
 * writes only the squares; out of place it copies everything but the
 * squares and writes the fill value into them without reading what they
 * cover; with 16-byte vector accesses wherever the buffers' alignment
 * allows.
 */
template <typename Dtype>
class BlankSquareLayer : public NeuronLayer<Dtype> {
 public:
  explicit BlankSquareLayer(const LayerParameter& param)
      : NeuronLayer<Dtype>(param) {}
  virtual void LayerSetUp(const vector<Blob<Dtype>*>& bottom,
      const vector<Blob<Dtype>*>& top);
  virtual void Reshape(const vector<Blob<Dtype>*>& bottom,
      const vector<Blob<Dtype>*>& top);

  virtual inline const char* type() const { return "BlankSquare"; }
  // Counts are checked in LayerSetUp, with the layer's name in the message.
  virtual inline int ExactNumBottomBlobs() const { return -1; }
  virtual inline int ExactNumTopBlobs() const { return -1; }

 protected:
  virtual void Forward_cpu(const vector<Blob<Dtype>*>& bottom,
      const vector<Blob<Dtype>*>& top);
  virtual void Forward_gpu(const vector<Blob<Dtype>*>& bottom,
      const vector<Blob<Dtype>*>& top);
  virtual void Backward_cpu(const vector<Blob<Dtype>*>& top,
      const vector<bool>& propagate_down, const vector<Blob<Dtype>*>& bottom);
  virtual void Backward_gpu(const vector<Blob<Dtype>*>& top,
      const vector<bool>& propagate_down, const vector<Blob<Dtype>*>& bottom);

 private:
  /// Decides whether this forward pass occludes and keys its squares.
  void BeginForward();
  /// dst = src with value in the squares (only the squares where in place).
  void BlankSquaresGpu(const Dtype* src, Dtype value, Dtype* dst);
  /// "BlankSquare layer '<name>'", for error messages.
  string Describe() const {
    return string(type()) + " layer '" + this->layer_param_.name() + "'";
  }

  uint64_t layer_key_ = 0;
  uint64_t forward_count_ = 0;
  BlankSquareSampler sampler_ = BlankSquareSampler();
  bool occluded_ = false;
  int num_ = 0, channels_ = 0, height_ = 0, width_ = 0;
  vector<int> sized_for_;  // the bottom shape the members above describe
};

}  // namespace caffe

#endif  // CAFFE_BLANK_SQUARE_LAYER_HPP_
