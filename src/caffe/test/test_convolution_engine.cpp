// Which engine a default-engine convolution gets, and that the cuDNN
// convolution layers compute as Caffe's own: in CPU mode (every build, no
// GPU needed) and, in the CuDNN suites, on the GPU, where they also choose
// their algorithms once per geometry.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

#include "caffe/blob.hpp"
#include "caffe/common.hpp"
#include "caffe/filler.hpp"
#include "caffe/layer_factory.hpp"
#include "caffe/layers/conv_layer.hpp"
#include "caffe/layers/deconv_layer.hpp"
#ifdef USE_CUDNN
#include "caffe/layers/cudnn_conv_layer.hpp"
#include "caffe/layers/cudnn_deconv_layer.hpp"
#include "caffe/util/convolution_algorithm_cache.hpp"
#endif

#include "caffe/test/test_caffe_main.hpp"

namespace caffe {

namespace {

LayerParameter ConvolutionParam(const std::string& type, int num_output,
    int kernel, int stride, int pad, int group,
    ConvolutionParameter::Engine engine) {
  LayerParameter param;
  param.set_name("conv");
  param.set_type(type);
  ConvolutionParameter* conv = param.mutable_convolution_param();
  conv->set_num_output(num_output);
  conv->add_kernel_size(kernel);
  conv->add_stride(stride);
  conv->add_pad(pad);
  conv->set_group(group);
  conv->set_engine(engine);
  conv->mutable_weight_filler()->set_type("gaussian");
  conv->mutable_bias_filler()->set_type("gaussian");
  return param;
}

// What one forward and backward pass of a layer computes.
template <typename Dtype>
struct Pass {
  vector<Dtype> top, bottom_diff, weight_diff, bias_diff;
};

// Runs layer on a fixed random bottom with fixed random weights and top
// gradient (the same for every layer of the same shapes). Without set_up the
// layer must have been set up already, for a bottom of this shape. The
// parameter gradients start from zero, or from what they hold.
enum SetUpStep { kSetUp, kAlreadySetUp };
enum ParameterDiffs { kZeroParameterDiffs, kKeepParameterDiffs };
template <typename Dtype>
Pass<Dtype> RunPass(Layer<Dtype>* layer, const vector<int>& bottom_shape,
                    SetUpStep set_up = kSetUp,
                    ParameterDiffs diffs = kZeroParameterDiffs) {
  Blob<Dtype> bottom(bottom_shape), top;
  const vector<Blob<Dtype>*> bottoms(1, &bottom), tops(1, &top);
  if (set_up == kSetUp) layer->SetUp(bottoms, tops);
  // Seeded after SetUp, whose weight fillers draw too: the same numbers
  // whether or not this pass set the layer up.
  Caffe::set_random_seed(1701);
  FillerParameter filler_param;
  filler_param.set_std(1);
  GaussianFiller<Dtype> filler(filler_param);
  filler.Fill(&bottom);
  for (int i = 0; i < layer->blobs().size(); ++i) {
    filler.Fill(layer->blobs()[i].get());
    if (diffs == kKeepParameterDiffs) continue;
    caffe_set(layer->blobs()[i]->count(), Dtype(0),
              layer->blobs()[i]->mutable_cpu_diff());
  }
  layer->Forward(bottoms, tops);
  filler.Fill(&top);  // top's diff is what matters; reuse the filler
  caffe_copy(top.count(), top.cpu_data(), top.mutable_cpu_diff());
  Pass<Dtype> pass;
  layer->Forward(bottoms, tops);
  pass.top.assign(top.cpu_data(), top.cpu_data() + top.count());
  layer->Backward(tops, vector<bool>(1, true), bottoms);
  const Blob<Dtype>& weight = *layer->blobs()[0];
  const Blob<Dtype>& bias = *layer->blobs()[1];
  pass.bottom_diff.assign(bottom.cpu_diff(), bottom.cpu_diff() + bottom.count());
  pass.weight_diff.assign(weight.cpu_diff(), weight.cpu_diff() + weight.count());
  pass.bias_diff.assign(bias.cpu_diff(), bias.cpu_diff() + bias.count());
  return pass;
}

template <typename Dtype>
void ExpectNear(const vector<Dtype>& expected, const vector<Dtype>& actual,
                double relative, const char* what) {
  ASSERT_EQ(expected.size(), actual.size()) << what;
  double scale = 1;
  for (Dtype v : expected) scale = std::max(scale, std::abs(double(v)));
  for (int i = 0; i < expected.size(); ++i) {
    ASSERT_NEAR(expected[i], actual[i], relative * scale)
        << what << " differs at " << i;
  }
}

template <typename Dtype>
void ExpectSamePass(const Pass<Dtype>& expected, const Pass<Dtype>& actual,
                    double relative) {
  ExpectNear(expected.top, actual.top, relative, "top");
  ExpectNear(expected.bottom_diff, actual.bottom_diff, relative,
             "bottom diff");
  ExpectNear(expected.weight_diff, actual.weight_diff, relative,
             "weight diff");
  ExpectNear(expected.bias_diff, actual.bias_diff, relative, "bias diff");
}

}  // namespace

template <typename Dtype>
class ConvolutionEngineTest : public ::testing::Test {};

TYPED_TEST_CASE(ConvolutionEngineTest, TestDtypes);

// Net::Init creates layers in whatever mode the thread is in; the default
// engine must not depend on it (docs/cudnn-engine.md). Creating a layer
// touches no device, so this runs without a GPU.
TYPED_TEST(ConvolutionEngineTest, DefaultEngineDoesNotDependOnMode) {
  typedef TypeParam Dtype;
  for (const char* type : {"Convolution", "Deconvolution"}) {
    const LayerParameter param = ConvolutionParam(type, 4, 3, 1, 1, 1,
        ConvolutionParameter_Engine_DEFAULT);
    Caffe::set_mode(Caffe::CPU);
    shared_ptr<Layer<Dtype> > in_cpu = LayerRegistry<Dtype>::CreateLayer(param);
    Caffe::set_mode(Caffe::GPU);
    shared_ptr<Layer<Dtype> > in_gpu = LayerRegistry<Dtype>::CreateLayer(param);
    Caffe::set_mode(Caffe::CPU);
    EXPECT_EQ(typeid(*in_cpu), typeid(*in_gpu)) << type;
#ifdef USE_CUDNN
    const bool cudnn = std::string(type) == "Convolution" ?
        dynamic_cast<CuDNNConvolutionLayer<Dtype>*>(in_cpu.get()) != NULL :
        dynamic_cast<CuDNNDeconvolutionLayer<Dtype>*>(in_cpu.get()) != NULL;
    EXPECT_TRUE(cudnn) << type << ": a cuDNN build's default is cuDNN";
#else
    EXPECT_EQ(std::string(type) == "Convolution" ?
              typeid(ConvolutionLayer<Dtype>) :
              typeid(DeconvolutionLayer<Dtype>), typeid(*in_cpu)) << type;
#endif
  }
}

// cuDNN layers are not given dilated convolutions by default (as upstream).
TYPED_TEST(ConvolutionEngineTest, DilatedConvolutionGetsCaffeEngine) {
  typedef TypeParam Dtype;
  LayerParameter param = ConvolutionParam("Convolution", 4, 3, 1, 2, 1,
      ConvolutionParameter_Engine_DEFAULT);
  param.mutable_convolution_param()->add_dilation(2);
  shared_ptr<Layer<Dtype> > layer = LayerRegistry<Dtype>::CreateLayer(param);
  EXPECT_EQ(typeid(ConvolutionLayer<Dtype>), typeid(*layer));
}

// In CPU mode the default engine computes exactly what engine: CAFFE does,
// groups, bias and all, for convolution and deconvolution.
TYPED_TEST(ConvolutionEngineTest, CpuModeComputesAsCaffeEngine) {
  typedef TypeParam Dtype;
  Caffe::set_mode(Caffe::CPU);
  for (const char* type : {"Convolution", "Deconvolution"}) {
    shared_ptr<Layer<Dtype> > default_engine =
        LayerRegistry<Dtype>::CreateLayer(ConvolutionParam(type, 4, 3, 2, 1,
            2, ConvolutionParameter_Engine_DEFAULT));
    shared_ptr<Layer<Dtype> > caffe_engine =
        LayerRegistry<Dtype>::CreateLayer(ConvolutionParam(type, 4, 3, 2, 1,
            2, ConvolutionParameter_Engine_CAFFE));
    const vector<int> shape = {2, 6, 7, 5};
    ExpectSamePass(RunPass(caffe_engine.get(), shape),
                   RunPass(default_engine.get(), shape), 0);
  }
}

// cuDNN takes 2-D convolutions only; in CPU mode the default engine still
// runs N-D ones, as Caffe's own engine does.
TYPED_TEST(ConvolutionEngineTest, CpuModeRunsNdConvolution) {
  typedef TypeParam Dtype;
  Caffe::set_mode(Caffe::CPU);
  shared_ptr<Layer<Dtype> > default_engine =
      LayerRegistry<Dtype>::CreateLayer(ConvolutionParam("Convolution", 3, 3,
          1, 1, 1, ConvolutionParameter_Engine_DEFAULT));
  shared_ptr<Layer<Dtype> > caffe_engine =
      LayerRegistry<Dtype>::CreateLayer(ConvolutionParam("Convolution", 3, 3,
          1, 1, 1, ConvolutionParameter_Engine_CAFFE));
  const vector<int> shape = {2, 2, 4, 5, 3};
  ExpectSamePass(RunPass(caffe_engine.get(), shape),
                 RunPass(default_engine.get(), shape), 0);
}

#ifdef USE_CUDNN

template <typename Dtype>
class CuDNNConvolutionPlanTest : public GPUDeviceTest<Dtype> {
 protected:
  // Each case starts from cuDNN's defaults, whatever the run's environment
  // sets, and gives the environment back as it found it. Counting choices
  // needs a cache that has seen none of the geometries.
  virtual void SetUp() {
    ConvolutionAlgorithmCache::Global().Clear();
    for (const char* name : kSettings) {
      const char* value = std::getenv(name);
      saved_.emplace_back(value != NULL, value ? value : "");
      unsetenv(name);
    }
  }
  virtual void TearDown() {
    for (int i = 0; i < saved_.size(); ++i) {
      if (saved_[i].first) {
        setenv(kSettings[i], saved_[i].second.c_str(), 1);
      } else {
        unsetenv(kSettings[i]);
      }
    }
    saved_.clear();
  }
  // Loose enough for float with TF32 allowed (CAFFE_CUDNN_ALLOW_TF32=1).
  double tolerance() const { return sizeof(Dtype) == 4 ? 5e-3 : 1e-9; }

  static constexpr const char* kSettings[] = {"CAFFE_CUDNN_BENCHMARK",
      "CAFFE_CUDNN_WORKSPACE_LIMIT_MB", "CAFFE_CUDNN_ALLOW_TF32"};
  vector<std::pair<bool, std::string> > saved_;  // set?, value
};

TYPED_TEST_CASE(CuDNNConvolutionPlanTest, TestDtypes);

// Caffe reshapes every layer before every forward pass; the algorithms must
// be chosen once per geometry, not each time.
TYPED_TEST(CuDNNConvolutionPlanTest, ReshapeChoosesOncePerGeometry) {
  typedef TypeParam Dtype;
  const ConvolutionAlgorithmCache& cache = ConvolutionAlgorithmCache::Global();
  CuDNNConvolutionLayer<Dtype> layer(ConvolutionParam("Convolution", 7, 3, 1,
      0, 1, ConvolutionParameter_Engine_CUDNN));
  Blob<Dtype> bottom(3, 5, 17, 19), top;
  const vector<Blob<Dtype>*> bottoms(1, &bottom), tops(1, &top);
  const int64_t before = cache.choices_made();
  layer.SetUp(bottoms, tops);
  EXPECT_EQ(before + 1, cache.choices_made());
  EXPECT_EQ(1, layer.plan().updates());

  layer.Reshape(bottoms, tops);
  layer.Reshape(bottoms, tops);
  EXPECT_EQ(before + 1, cache.choices_made()) << "same shape chose again";
  EXPECT_EQ(1, layer.plan().updates()) << "same shape set descriptors again";

  bottom.Reshape(4, 5, 17, 19);
  layer.Reshape(bottoms, tops);
  EXPECT_EQ(before + 2, cache.choices_made()) << "new batch size not chosen";
  EXPECT_EQ(2, layer.plan().updates());

  bottom.Reshape(3, 5, 17, 19);
  layer.Reshape(bottoms, tops);
  EXPECT_EQ(before + 2, cache.choices_made()) << "cached geometry chosen again";
  EXPECT_EQ(3, layer.plan().updates());

  // Another layer of the same geometry finds it in the process's cache.
  CuDNNConvolutionLayer<Dtype> twin(ConvolutionParam("Convolution", 7, 3, 1,
      0, 1, ConvolutionParameter_Engine_CUDNN));
  Blob<Dtype> twin_top;
  twin.SetUp(bottoms, vector<Blob<Dtype>*>(1, &twin_top));
  EXPECT_EQ(before + 2, cache.choices_made());
}

// Grouped convolutions go to cuDNN in one call (its group count); the
// results must equal Caffe's engine's, forward and backward.
TYPED_TEST(CuDNNConvolutionPlanTest, GroupsComputeAsCaffeEngine) {
  typedef TypeParam Dtype;
  for (const char* type : {"Convolution", "Deconvolution"}) {
    for (int group : {1, 3}) {
      shared_ptr<Layer<Dtype> > cudnn = LayerRegistry<Dtype>::CreateLayer(
          ConvolutionParam(type, 6, 3, 2, 1, group,
                           ConvolutionParameter_Engine_CUDNN));
      shared_ptr<Layer<Dtype> > caffe = LayerRegistry<Dtype>::CreateLayer(
          ConvolutionParam(type, 6, 3, 2, 1, group,
                           ConvolutionParameter_Engine_CAFFE));
      const vector<int> shape = {2, 9, 8, 7};
      SCOPED_TRACE(std::string(type) + " group " + std::to_string(group));
      ExpectSamePass(RunPass(caffe.get(), shape), RunPass(cudnn.get(), shape),
                     this->tolerance());
    }
  }
}

// CAFFE_CUDNN_BENCHMARK=1 times the algorithms (a separate cache entry) and
// must compute the same.
TYPED_TEST(CuDNNConvolutionPlanTest, BenchmarkedAlgorithmsComputeTheSame) {
  typedef TypeParam Dtype;
  const ConvolutionAlgorithmCache& cache = ConvolutionAlgorithmCache::Global();
  const LayerParameter param = ConvolutionParam("Convolution", 8, 5, 1, 2, 1,
      ConvolutionParameter_Engine_CUDNN);
  const vector<int> shape = {4, 3, 23, 21};
  CuDNNConvolutionLayer<Dtype> heuristic(param);
  const Pass<Dtype> expected = RunPass(&heuristic, shape);
  const int64_t before = cache.choices_made();
  setenv("CAFFE_CUDNN_BENCHMARK", "1", 1);
  CuDNNConvolutionLayer<Dtype> benchmarked(param);
  const Pass<Dtype> actual = RunPass(&benchmarked, shape);
  EXPECT_EQ(before + 1, cache.choices_made());
  ExpectSamePass(expected, actual, this->tolerance());
}

// A workspace limit of 0 leaves only algorithms that need no workspace.
TYPED_TEST(CuDNNConvolutionPlanTest, WorkspaceLimitIsRespected) {
  typedef TypeParam Dtype;
  setenv("CAFFE_CUDNN_WORKSPACE_LIMIT_MB", "0", 1);
  for (const char* type : {"Convolution", "Deconvolution"}) {
    shared_ptr<Layer<Dtype> > cudnn = LayerRegistry<Dtype>::CreateLayer(
        ConvolutionParam(type, 5, 5, 1, 2, 1,
                         ConvolutionParameter_Engine_CUDNN));
    shared_ptr<Layer<Dtype> > caffe = LayerRegistry<Dtype>::CreateLayer(
        ConvolutionParam(type, 5, 5, 1, 2, 1,
                         ConvolutionParameter_Engine_CAFFE));
    const vector<int> shape = {2, 4, 11, 13};
    const Pass<Dtype> actual = RunPass(cudnn.get(), shape);
    const cudnn::ConvolutionPlan<Dtype>& plan = std::string(type) ==
        "Convolution" ?
        static_cast<CuDNNConvolutionLayer<Dtype>*>(cudnn.get())->plan() :
        static_cast<CuDNNDeconvolutionLayer<Dtype>*>(cudnn.get())->plan();
    EXPECT_EQ(0, plan.algorithms().MaxWorkspace()) << type;
    ExpectSamePass(RunPass(caffe.get(), shape), actual, this->tolerance());
  }
}

// A layer set up in CPU mode (a net built before set_mode_gpu) runs on the
// GPU with cuDNN once the mode changes: Forward's Reshape prepares the plan,
// with no second SetUp.
TYPED_TEST(CuDNNConvolutionPlanTest, LayerBuiltInCpuModeRunsOnGpu) {
  typedef TypeParam Dtype;
  const LayerParameter param = ConvolutionParam("Convolution", 4, 3, 1, 1, 1,
      ConvolutionParameter_Engine_DEFAULT);
  const vector<int> shape = {2, 3, 9, 8};
  Caffe::set_mode(Caffe::CPU);
  shared_ptr<Layer<Dtype> > cpu_layer = LayerRegistry<Dtype>::CreateLayer(param);
  const Pass<Dtype> expected = RunPass(cpu_layer.get(), shape);

  shared_ptr<Layer<Dtype> > layer = LayerRegistry<Dtype>::CreateLayer(param);
  Blob<Dtype> bottom(shape), top;
  layer->SetUp(vector<Blob<Dtype>*>(1, &bottom), vector<Blob<Dtype>*>(1, &top));
  CuDNNConvolutionLayer<Dtype>* cudnn =
      dynamic_cast<CuDNNConvolutionLayer<Dtype>*>(layer.get());
  ASSERT_TRUE(cudnn != NULL);
  EXPECT_FALSE(cudnn->plan().prepared()) << "CPU mode prepared cuDNN";
  Caffe::set_mode(Caffe::GPU);
  const Pass<Dtype> actual = RunPass(layer.get(), shape, kAlreadySetUp);
  EXPECT_TRUE(cudnn->plan().prepared());
  ExpectSamePass(expected, actual, this->tolerance());
}

// Float convolutions compute in FP32 unless CAFFE_CUDNN_ALLOW_TF32=1: no
// tensor-core (TF32) math is chosen, and results agree with Caffe's engine
// within 5e-5 of the largest value: FP32 rounding, Winograd's or FFT's
// included, stays well below; TF32 (inputs rounded to 10 bits, 576 terms
// per output) is off by ~1e-4 typically and ~7e-4 at worst on this shape.
TYPED_TEST(CuDNNConvolutionPlanTest, FloatIsFP32UnlessTF32Allowed) {
  typedef TypeParam Dtype;
  const LayerParameter param = ConvolutionParam("Convolution", 64, 3, 1, 1, 1,
      ConvolutionParameter_Engine_CUDNN);
  const vector<int> shape = {8, 64, 32, 32};
  Caffe::set_mode(Caffe::CPU);
  ConvolutionLayer<Dtype> caffe_engine(param);
  const Pass<Dtype> expected = RunPass(&caffe_engine, shape);
  Caffe::set_mode(Caffe::GPU);
  for (const char* allow : {"0", "1"}) {
    SCOPED_TRACE(std::string("CAFFE_CUDNN_ALLOW_TF32=") + allow);
    setenv("CAFFE_CUDNN_ALLOW_TF32", allow, 1);
    CuDNNConvolutionLayer<Dtype> layer(param);
    const Pass<Dtype> actual = RunPass(&layer, shape);
    const ConvolutionAlgorithmChoice& choice = layer.plan().algorithms();
    const bool fp32 = sizeof(Dtype) == 4 && std::string(allow) == "0";
    for (const ConvolutionAlgorithmChoice::Operation* op :
         {&choice.forward, &choice.backward_filter, &choice.backward_data}) {
      EXPECT_NE(CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION, op->math_type);
      if (fp32) EXPECT_EQ(CUDNN_FMA_MATH, op->math_type);
    }
    ExpectSamePass(expected, actual, fp32 ? 5e-5 : this->tolerance());
  }
}

// Weight and bias gradients accumulate across backward passes (iter_size,
// and layers that share parameters); the bottom gradient is overwritten.
TYPED_TEST(CuDNNConvolutionPlanTest, ParameterGradientsAccumulate) {
  typedef TypeParam Dtype;
  for (const char* type : {"Convolution", "Deconvolution"}) {
    SCOPED_TRACE(type);
    shared_ptr<Layer<Dtype> > layer = LayerRegistry<Dtype>::CreateLayer(
        ConvolutionParam(type, 6, 3, 1, 1, 2,
                         ConvolutionParameter_Engine_CUDNN));
    const vector<int> shape = {2, 4, 9, 7};
    const Pass<Dtype> once = RunPass(layer.get(), shape);
    // The same pass again, keeping the parameter gradients: each doubles.
    const Pass<Dtype> again = RunPass(layer.get(), shape, kAlreadySetUp,
                                      kKeepParameterDiffs);
    Pass<Dtype> expected = once;
    for (Dtype& v : expected.weight_diff) v *= 2;
    for (Dtype& v : expected.bias_diff) v *= 2;
    ExpectSamePass(expected, again, this->tolerance());
  }
}

#endif  // USE_CUDNN

}  // namespace caffe
