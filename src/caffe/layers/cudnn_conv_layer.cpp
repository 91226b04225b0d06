#ifdef USE_CUDNN
#include <vector>

#include "caffe/layers/cudnn_conv_layer.hpp"

namespace caffe {

template <typename Dtype>
void CuDNNConvolutionLayer<Dtype>::Reshape(
    const vector<Blob<Dtype>*>& bottom, const vector<Blob<Dtype>*>& top) {
  ConvolutionLayer<Dtype>::Reshape(bottom, top);
  // In CPU mode this is ConvolutionLayer and touches no GPU. In GPU mode,
  // prepare now rather than in the first Forward, so that a bad geometry
  // fails and the workspace is taken while the net is built.
  if (Caffe::mode() == Caffe::GPU) PreparePlan(*bottom[0], *top[0]);
}

template <typename Dtype>
void CuDNNConvolutionLayer<Dtype>::PreparePlan(const Blob<Dtype>& bottom,
                                               const Blob<Dtype>& top) {
  CHECK_EQ(2, this->num_spatial_axes_) << "Layer " << this->layer_param_.name()
      << ": cuDNN convolution on the GPU needs 2 spatial axes (height and "
      << "width), not " << this->num_spatial_axes_
      << "; use engine: CAFFE for N-D convolution";
  const int axis = this->channel_axis_;
  const ConvolutionGeometry geometry = cudnn::MakeGeometry(this->num_,
      this->channels_, bottom.shape(axis + 1), bottom.shape(axis + 2),
      this->num_output_, this->group_, this->kernel_shape_, this->pad_,
      this->stride_, this->dilation_);
  if (!plan_.Prepare(geometry)) return;
  CHECK(plan_.output_height() == top.shape(axis + 1) &&
        plan_.output_width() == top.shape(axis + 2))
      << "Layer " << this->layer_param_.name() << ": cuDNN's output is "
      << plan_.output_height() << " x " << plan_.output_width()
      << ", Caffe's top " << top.shape(axis + 1) << " x "
      << top.shape(axis + 2);
}

INSTANTIATE_CLASS(CuDNNConvolutionLayer);

}  // namespace caffe
#endif  // USE_CUDNN
