#ifdef USE_CUDNN
#include <vector>

#include "caffe/layers/cudnn_deconv_layer.hpp"

namespace caffe {

// In the plan's terms the top is x and the bottom is y.
template <typename Dtype>
void CuDNNDeconvolutionLayer<Dtype>::Forward_gpu(
    const vector<Blob<Dtype>*>& bottom, const vector<Blob<Dtype>*>& top) {
  const Dtype* weight = this->blobs_[0]->gpu_data();
  for (int i = 0; i < bottom.size(); ++i) {
    Dtype* top_data = top[i]->mutable_gpu_data();
    plan_.BackwardData(weight, bottom[i]->gpu_data(), top_data);
    if (this->bias_term_) {
      plan_.AddBias(this->blobs_[1]->gpu_data(),
                    cudnn::ConvolutionPlan<Dtype>::kInput, top_data);
    }
  }
}

template <typename Dtype>
void CuDNNDeconvolutionLayer<Dtype>::Backward_gpu(
    const vector<Blob<Dtype>*>& top, const vector<bool>& propagate_down,
    const vector<Blob<Dtype>*>& bottom) {
  // Backward does not Reshape first: the mode may have changed since the
  // forward pass.
  PreparePlan(*bottom[0], *top[0]);
  for (int i = 0; i < top.size(); ++i) {
    const Dtype* top_diff = top[i]->gpu_diff();
    if (this->bias_term_ && this->param_propagate_down_[1]) {
      plan_.BackwardBias(top_diff, cudnn::ConvolutionPlan<Dtype>::kInput,
                         this->blobs_[1]->mutable_gpu_diff());
    }
    if (this->param_propagate_down_[0]) {
      plan_.BackwardFilter(top_diff, bottom[i]->gpu_data(),
                           this->blobs_[0]->mutable_gpu_diff());
    }
    if (propagate_down[i]) {
      plan_.Forward(top_diff, this->blobs_[0]->gpu_data(),
                    bottom[i]->mutable_gpu_diff());
    }
  }
}

INSTANTIATE_LAYER_GPU_FUNCS(CuDNNDeconvolutionLayer);

}  // namespace caffe
#endif  // USE_CUDNN
