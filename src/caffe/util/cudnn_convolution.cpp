#ifdef USE_CUDNN
#include "caffe/util/cudnn_convolution.hpp"

#include <map>

#include "caffe/common.hpp"
#include "caffe/util/cudnn.hpp"
#include "caffe/util/cudnn_algorithm.hpp"

namespace caffe {
namespace cudnn {

namespace {

struct DeviceResources {
  cudnnHandle_t handle = NULL;
  void* workspace = NULL;
  size_t workspace_size = 0;
};

// Per thread, as Caffe's cuBLAS handle is (Caffe::Get()).
class ThreadResources {
 public:
  ~ThreadResources() {
    // Unchecked: at process exit the CUDA runtime may already be gone, and
    // nothing can be done about a failure here anyway. Each device's
    // resources are freed with that device current.
    int current = 0;
    const bool runtime = cudaGetDevice(&current) == cudaSuccess;
    for (auto& entry : devices_) {
      if (runtime) cudaSetDevice(entry.first);
      if (entry.second.workspace) cudaFree(entry.second.workspace);
      if (entry.second.handle) cudnnDestroy(entry.second.handle);
    }
    if (runtime) cudaSetDevice(current);
  }
  DeviceResources& Current() {
    int device = 0;
    CUDA_CHECK(cudaGetDevice(&device));
    return devices_[device];
  }

 private:
  std::map<int, DeviceResources> devices_;
};

DeviceResources& Current() {
  thread_local ThreadResources resources;
  return resources.Current();
}

// cudaMalloc that may fail. A failed cudaMalloc's error is not sticky, but
// it stays the last error: cleared, so that the next
// CUDA_CHECK(cudaGetLastError()) does not blame someone else.
bool TryMalloc(void** pointer, size_t bytes) {
  if (cudaMalloc(pointer, bytes) == cudaSuccess) return true;
  cudaGetLastError();
  *pointer = NULL;
  return false;
}

}  // namespace

cudnnHandle_t ThreadHandle() {
  DeviceResources& device = Current();
  if (device.handle == NULL) CUDNN_CHECK(cudnnCreate(&device.handle));
  return device.handle;
}

bool ReserveWorkspace(size_t bytes) {
  DeviceResources& device = Current();
  if (bytes <= device.workspace_size) return true;
  // Work queued earlier on the default stream may still use the old buffer.
  CUDA_CHECK(cudaDeviceSynchronize());
  const size_t old_size = device.workspace_size;
  CUDA_CHECK(cudaFree(device.workspace));
  device.workspace = NULL;
  device.workspace_size = 0;
  if (TryMalloc(&device.workspace, bytes)) {
    device.workspace_size = bytes;
    return true;
  }
  // Layers prepared earlier still need the old size, just freed: take it
  // back if the device still has it (if not, they stop with WorkspaceFor's
  // message when they run).
  if (old_size > 0 && TryMalloc(&device.workspace, old_size)) {
    device.workspace_size = old_size;
  }
  return false;
}

void* Workspace() { return Current().workspace; }

size_t WorkspaceSize() { return Current().workspace_size; }

namespace {

// The workspace for an operation that needs bytes of it. Normally Prepare
// reserved it; it grows here when a net prepared in one thread runs in
// another, whose workspace is its own.
void* WorkspaceFor(size_t bytes) {
  CHECK(ReserveWorkspace(bytes)) << "cuDNN convolution: no device memory "
      << "for its " << bytes << "-byte workspace";
  return Workspace();
}

}  // namespace

ConvolutionGeometry MakeGeometry(int num, int channels, int height,
    int width, int num_output, int groups, const Blob<int>& kernel,
    const Blob<int>& pad, const Blob<int>& stride, const Blob<int>& dilation) {
  ConvolutionGeometry g;
  g.num = num;
  g.channels = channels;
  g.height = height;
  g.width = width;
  g.num_output = num_output;
  g.groups = groups;
  g.kernel_h = kernel.cpu_data()[0];
  g.kernel_w = kernel.cpu_data()[1];
  g.pad_h = pad.cpu_data()[0];
  g.pad_w = pad.cpu_data()[1];
  g.stride_h = stride.cpu_data()[0];
  g.stride_w = stride.cpu_data()[1];
  g.dilation_h = dilation.cpu_data()[0];
  g.dilation_w = dilation.cpu_data()[1];
  return g;
}

template <typename Dtype>
ConvolutionPlan<Dtype>::~ConvolutionPlan() {
  if (!created_) return;
  cudnnDestroyTensorDescriptor(x_desc_);
  cudnnDestroyTensorDescriptor(y_desc_);
  cudnnDestroyTensorDescriptor(x_bias_desc_);
  cudnnDestroyTensorDescriptor(y_bias_desc_);
  cudnnDestroyFilterDescriptor(w_desc_);
  cudnnDestroyConvolutionDescriptor(forward_desc_);
  cudnnDestroyConvolutionDescriptor(backward_filter_desc_);
  cudnnDestroyConvolutionDescriptor(backward_data_desc_);
}

template <typename Dtype>
void ConvolutionPlan<Dtype>::CreateDescriptors() {
  if (created_) return;
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&x_desc_));
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&y_desc_));
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&x_bias_desc_));
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&y_bias_desc_));
  CUDNN_CHECK(cudnnCreateFilterDescriptor(&w_desc_));
  CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&forward_desc_));
  CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&backward_filter_desc_));
  CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&backward_data_desc_));
  created_ = true;
}

template <typename Dtype>
bool ConvolutionPlan<Dtype>::Prepare(const ConvolutionGeometry& g) {
  if (prepared_ && g == geometry_) return false;
  CHECK(g.groups > 0 && g.channels % g.groups == 0 &&
        g.num_output % g.groups == 0)
      << "cuDNN convolution: " << g.groups << " groups do not divide "
      << g.channels << " input and " << g.num_output << " output channels";
  CreateDescriptors();
  const cudnnDataType_t type = dataType<Dtype>::type;
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(x_desc_, CUDNN_TENSOR_NCHW, type,
      g.num, g.channels, g.height, g.width));
  // Groups are cuDNN's (cudnnSetConvolutionGroupCount): one call covers all,
  // where Caffe once looped over groups on streams of their own.
  CUDNN_CHECK(cudnnSetFilter4dDescriptor(w_desc_, type, CUDNN_TENSOR_NCHW,
      g.num_output, g.channels / g.groups, g.kernel_h, g.kernel_w));
  for (cudnnConvolutionDescriptor_t conv :
       {forward_desc_, backward_filter_desc_, backward_data_desc_}) {
    CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv, g.pad_h, g.pad_w,
        g.stride_h, g.stride_w, g.dilation_h, g.dilation_w,
        CUDNN_CROSS_CORRELATION, type));
    CUDNN_CHECK(cudnnSetConvolutionGroupCount(conv, g.groups));
  }
  int n = 0, c = 0;
  CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(forward_desc_, x_desc_,
      w_desc_, &n, &c, &output_height_, &output_width_));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(y_desc_, CUDNN_TENSOR_NCHW, type,
      n, c, output_height_, output_width_));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(x_bias_desc_, CUDNN_TENSOR_NCHW,
      type, 1, g.channels, 1, 1));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(y_bias_desc_, CUDNN_TENSOR_NCHW,
      type, 1, g.num_output, 1, 1));

  ConvolutionAlgorithmKey key;
  key.geometry = g;
  CUDA_CHECK(cudaGetDevice(&key.device));
  key.data_type = type;
  key.workspace_limit = WorkspaceLimitBytes();
  key.benchmark = BenchmarkAlgorithms();
  key.tf32 = type == CUDNN_DATA_FLOAT && AllowTF32();
  const cudnnMathType_t allowed = type == CUDNN_DATA_FLOAT && !key.tf32 ?
      CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH;
  const cudnnHandle_t handle = ThreadHandle();
  const ConvolutionAlgorithmCache::Chooser choose = [&]() {
    const ConvolutionAlgorithmChoice choice = ChooseAlgorithms(handle,
        x_desc_, w_desc_, y_desc_, forward_desc_, backward_filter_desc_,
        backward_data_desc_, key.workspace_limit, key.benchmark, allowed);
    // Once per geometry and process: what runs, for whoever profiles it.
    LOG(INFO) << "cuDNN convolution " << g.num << "x" << g.channels << "x"
        << g.height << "x" << g.width << " * " << g.num_output << "x"
        << g.channels / g.groups << "x" << g.kernel_h << "x" << g.kernel_w
        << " (groups " << g.groups << ", stride " << g.stride_h << "x"
        << g.stride_w << ", pad " << g.pad_h << "x" << g.pad_w << "), "
        << (key.benchmark ? "benchmarked" : "heuristics")
        << (key.tf32 ? ", TF32 allowed" : "") << ": forward "
        << choice.forward.algorithm << " (math " << choice.forward.math_type
        << "), backward filter " << choice.backward_filter.algorithm
        << " (math " << choice.backward_filter.math_type
        << "), backward data " << choice.backward_data.algorithm << " (math "
        << choice.backward_data.math_type << "), workspace "
        << choice.MaxWorkspace() << " bytes";
    return choice;
  };
  ConvolutionAlgorithmCache& cache = ConvolutionAlgorithmCache::Global();
  choice_ = cache.Get(key, choose);
  if (!ReserveWorkspace(choice_.MaxWorkspace())) {
    LOG(WARNING) << "cuDNN convolution: no device memory for a "
        << choice_.MaxWorkspace() << "-byte workspace; using algorithms "
        << "that need none";
    key.workspace_limit = 0;
    // Heuristics, not cudnnFind*: benchmarking allocates buffers of its own,
    // which memory this short may not hold.
    key.benchmark = false;
    choice_ = cache.Get(key, choose);
    CHECK(ReserveWorkspace(choice_.MaxWorkspace()))
        << "cuDNN convolution: no device memory even for "
        << choice_.MaxWorkspace() << " bytes of workspace";
  }
  // A cached choice was made on other descriptors.
  SetMathTypes(choice_, forward_desc_, backward_filter_desc_,
               backward_data_desc_);
  geometry_ = g;
  prepared_ = true;
  ++updates_;
  return true;
}

template <typename Dtype>
void ConvolutionPlan<Dtype>::Forward(const Dtype* x, const Dtype* w,
                                     Dtype* y) const {
  CHECK(prepared_) << "cuDNN convolution used before Prepare";
  const size_t bytes = choice_.forward.workspace;
  CUDNN_CHECK(cudnnConvolutionForward(ThreadHandle(), dataType<Dtype>::one,
      x_desc_, x, w_desc_, w, forward_desc_,
      static_cast<cudnnConvolutionFwdAlgo_t>(choice_.forward.algorithm),
      WorkspaceFor(bytes), bytes, dataType<Dtype>::zero, y_desc_, y));
}

template <typename Dtype>
void ConvolutionPlan<Dtype>::BackwardData(const Dtype* w, const Dtype* dy,
                                          Dtype* dx) const {
  CHECK(prepared_) << "cuDNN convolution used before Prepare";
  const size_t bytes = choice_.backward_data.workspace;
  CUDNN_CHECK(cudnnConvolutionBackwardData(ThreadHandle(),
      dataType<Dtype>::one, w_desc_, w, y_desc_, dy, backward_data_desc_,
      static_cast<cudnnConvolutionBwdDataAlgo_t>(
          choice_.backward_data.algorithm),
      WorkspaceFor(bytes), bytes, dataType<Dtype>::zero, x_desc_, dx));
}

template <typename Dtype>
void ConvolutionPlan<Dtype>::BackwardFilter(const Dtype* x, const Dtype* dy,
                                            Dtype* dw) const {
  CHECK(prepared_) << "cuDNN convolution used before Prepare";
  const size_t bytes = choice_.backward_filter.workspace;
  CUDNN_CHECK(cudnnConvolutionBackwardFilter(ThreadHandle(),
      dataType<Dtype>::one, x_desc_, x, y_desc_, dy, backward_filter_desc_,
      static_cast<cudnnConvolutionBwdFilterAlgo_t>(
          choice_.backward_filter.algorithm),
      WorkspaceFor(bytes), bytes, dataType<Dtype>::one, w_desc_, dw));
}

template <typename Dtype>
void ConvolutionPlan<Dtype>::AddBias(const Dtype* bias, Side side,
                                     Dtype* data) const {
  CHECK(prepared_) << "cuDNN convolution used before Prepare";
  CUDNN_CHECK(cudnnAddTensor(ThreadHandle(), dataType<Dtype>::one,
      bias_desc(side), bias, dataType<Dtype>::one, tensor(side), data));
}

template <typename Dtype>
void ConvolutionPlan<Dtype>::BackwardBias(const Dtype* diff, Side side,
                                          Dtype* dbias) const {
  CHECK(prepared_) << "cuDNN convolution used before Prepare";
  CUDNN_CHECK(cudnnConvolutionBackwardBias(ThreadHandle(),
      dataType<Dtype>::one, tensor(side), diff, dataType<Dtype>::one,
      bias_desc(side), dbias));
}

template class ConvolutionPlan<float>;
template class ConvolutionPlan<double>;

}  // namespace cudnn
}  // namespace caffe
#endif  // USE_CUDNN
