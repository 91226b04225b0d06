#ifdef USE_CUDNN
#include <vector>

#include "caffe/layers/cudnn_deconv_layer.hpp"

namespace caffe {

template <typename Dtype>
void CuDNNDeconvolutionLayer<Dtype>::Reshape(
    const vector<Blob<Dtype>*>& bottom, const vector<Blob<Dtype>*>& top) {
  DeconvolutionLayer<Dtype>::Reshape(bottom, top);
  // As CuDNNConvolutionLayer: no GPU in CPU mode, fail early in GPU mode.
  if (Caffe::mode() == Caffe::GPU) PreparePlan(*bottom[0], *top[0]);
}

template <typename Dtype>
void CuDNNDeconvolutionLayer<Dtype>::PreparePlan(const Blob<Dtype>& bottom,
                                                 const Blob<Dtype>& top) {
  CHECK_EQ(2, this->num_spatial_axes_) << "Layer " << this->layer_param_.name()
      << ": cuDNN deconvolution on the GPU needs 2 spatial axes (height and "
      << "width), not " << this->num_spatial_axes_
      << "; use engine: CAFFE for N-D deconvolution";
  const int axis = this->channel_axis_;
  // The convolution that maps top (num_output channels) to bottom.
  const ConvolutionGeometry geometry = cudnn::MakeGeometry(this->num_,
      this->num_output_, top.shape(axis + 1), top.shape(axis + 2),
      this->channels_, this->group_, this->kernel_shape_, this->pad_,
      this->stride_, this->dilation_);
  if (!plan_.Prepare(geometry)) return;
  CHECK(plan_.output_height() == bottom.shape(axis + 1) &&
        plan_.output_width() == bottom.shape(axis + 2))
      << "Layer " << this->layer_param_.name() << ": the convolution of "
      << "cuDNN's top maps to " << plan_.output_height() << " x "
      << plan_.output_width() << ", not to the bottom's "
      << bottom.shape(axis + 1) << " x " << bottom.shape(axis + 2);
}

INSTANTIATE_CLASS(CuDNNDeconvolutionLayer);

}  // namespace caffe
#endif  // USE_CUDNN
