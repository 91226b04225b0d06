// Training speed against PyTorch, measured side by side in one run: SGD
// iterations (forward, backward, update) of the occlusion study's LeNet and
// of a ResNet-style net on synthetic input, in Caffe and, when an
// interpreter with torch is at hand, the same nets in PyTorch
// (benchmarks/training_benchmark_torch.py), with the same warm-up, rounds
// and iterations. Then Caffe's per-layer device times, and for each
// convolution the engine (and, with cuDNN, the algorithms) it runs.
//
// Usage: training_benchmark [--gpu] [--min-time SECONDS] [--net lenet|resnet]
// CAFFE_TORCH_PYTHON names the interpreter for the PyTorch side (default
// python3), which runs without LD_LIBRARY_PATH and PYTHONPATH. GPU: CUDA
// events around each round, the median round kept. CPU: a steady clock, the
// fastest round kept (other processes only ever add time); PyTorch gets as
// many threads as OPENBLAS_NUM_THREADS gives BLAS.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "google/protobuf/text_format.h"

#include "benchmark_util.hpp"
#include "caffe/caffe.hpp"
#include "caffe/util/math_functions.hpp"
#include "caffe/util/upgrade_proto.hpp"
#ifdef USE_CUDNN
#include "caffe/layers/cudnn_conv_layer.hpp"
#include "caffe/util/cudnn_algorithm.hpp"
#endif

namespace {

using caffe::Caffe;
using caffe::Layer;
using caffe::Net;
using caffe::NetParameter;
using caffe::Solver;
using caffe::SolverParameter;

// Times what fn does to the device (GPU: CUDA events on the default stream,
// where Caffe works) or the host (CPU: steady clock), in milliseconds.
template <typename Fn>
double TimeMs(bool gpu, Fn fn) {
#ifndef CPU_ONLY
  if (gpu) {
    cudaEvent_t start, stop;
    CUDA_CHECK(cudaEventCreate(&start));
    CUDA_CHECK(cudaEventCreate(&stop));
    CUDA_CHECK(cudaEventRecord(start, 0));
    fn();
    CUDA_CHECK(cudaEventRecord(stop, 0));
    CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    CUDA_CHECK(cudaEventDestroy(start));
    CUDA_CHECK(cudaEventDestroy(stop));
    return ms;
  }
#endif
  const auto start = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double, std::milli>(
      std::chrono::steady_clock::now() - start).count();
}

// One benchmark net: the Caffe definition and how to fill its input.
struct NetCase {
  std::string name;  // for --net and the PyTorch side
  std::string title;
  NetParameter param;
  int batch;
  std::vector<int> input_shape;  // of "data"
  double input_scale;  // data uniform in [0, input_scale)
};

void AddInput(NetParameter* net, const std::vector<int>& data_shape) {
  caffe::LayerParameter input;
  input.set_name("input");
  input.set_type("Input");
  input.add_top("data");
  input.add_top("label");
  caffe::BlobShape* shape = input.mutable_input_param()->add_shape();
  for (int d : data_shape) shape->add_dim(d);
  input.mutable_input_param()->add_shape()->add_dim(data_shape[0]);
  net->add_layer()->CopyFrom(input);
}

// The occlusion study's LeNet with its data layers replaced by an Input
// layer of MNIST's shape: the same layers, no dataset needed.
NetCase LeNet() {
  NetCase c;
  c.name = "lenet";
  c.title = "LeNet (examples/occlusion/lenet_baseline.prototxt), batch 64, "
            "1x28x28";
  c.batch = 64;
  c.input_shape = {c.batch, 1, 28, 28};
  c.input_scale = 256;
  NetParameter file;
  caffe::ReadNetParamsFromTextFileOrDie(
      CAFFE_SOURCE_DIR "/examples/occlusion/lenet_baseline.prototxt", &file);
  c.param.set_name(file.name());
  AddInput(&c.param, c.input_shape);
  for (const caffe::LayerParameter& layer : file.layer()) {
    if (layer.type() == "Data" || layer.type() == "Accuracy") continue;
    c.param.add_layer()->CopyFrom(layer);
  }
  return c;
}

// Convolution, BatchNorm, Scale and, unless it ends a residual branch,
// ReLU, all but the convolution in place (as ResNet's Caffe models are).
std::string ConvBnScale(const std::string& name, const std::string& bottom,
    int num_output, int kernel, int stride, bool relu) {
  std::ostringstream s;
  s << "layer { name: '" << name << "' type: 'Convolution' bottom: '"
    << bottom << "' top: '" << name << "' convolution_param { num_output: "
    << num_output << " kernel_size: " << kernel << " stride: " << stride
    << " pad: " << kernel / 2 << " bias_term: false weight_filler { type: "
    << "'msra' } } }\n"
    << "layer { name: '" << name << "_bn' type: 'BatchNorm' bottom: '"
    << name << "' top: '" << name << "' }\n"
    << "layer { name: '" << name << "_scale' type: 'Scale' bottom: '" << name
    << "' top: '" << name << "' scale_param { bias_term: true } }\n";
  if (relu) {
    s << "layer { name: '" << name << "_relu' type: 'ReLU' bottom: '" << name
      << "' top: '" << name << "' }\n";
  }
  return s.str();
}

// A basic residual block (two 3x3 convolutions); a 1x1 projection on the
// shortcut where the shape changes.
std::string ResidualBlock(const std::string& name, const std::string& bottom,
    int num_output, int stride, bool project) {
  std::ostringstream s;
  s << ConvBnScale(name + "_1", bottom, num_output, 3, stride, true)
    << ConvBnScale(name + "_2", name + "_1", num_output, 3, 1, false);
  std::string shortcut = bottom;
  if (project) {
    shortcut = name + "_proj";
    s << ConvBnScale(shortcut, bottom, num_output, 1, stride, false);
  }
  s << "layer { name: '" << name << "' type: 'Eltwise' bottom: '" << name
    << "_2' bottom: '" << shortcut << "' top: '" << name << "' }\n"
    << "layer { name: '" << name << "_relu' type: 'ReLU' bottom: '" << name
    << "' top: '" << name << "' }\n";
  return s.str();
}

// CIFAR-size ResNet-style net: a 64-channel stem, one block at 64 channels
// (32x32), one down to 128 channels (16x16), global average pooling, 10
// classes. training_benchmark_torch.py builds the same.
NetCase ResNet() {
  NetCase c;
  c.name = "resnet";
  c.title = "ResNet-style (stem + 2 basic blocks, BatchNorm), batch 32, "
            "3x32x32";
  c.batch = 32;
  c.input_shape = {c.batch, 3, 32, 32};
  c.input_scale = 1;
  c.param.set_name("ResNetStyle");
  AddInput(&c.param, c.input_shape);
  const std::string layers = ConvBnScale("conv1", "data", 64, 3, 1, true) +
      ResidualBlock("res2", "conv1", 64, 1, false) +
      ResidualBlock("res3", "res2", 128, 2, true) +
      "layer { name: 'pool' type: 'Pooling' bottom: 'res3' top: 'pool' "
      "pooling_param { pool: AVE global_pooling: true } }\n"
      "layer { name: 'fc' type: 'InnerProduct' bottom: 'pool' top: 'fc' "
      "inner_product_param { num_output: 10 weight_filler { type: 'xavier' "
      "} } }\n"
      "layer { name: 'loss' type: 'SoftmaxWithLoss' bottom: 'fc' "
      "bottom: 'label' top: 'loss' }\n";
  NetParameter rest;
  CHECK(google::protobuf::TextFormat::ParseFromString(layers, &rest))
      << "the ResNet-style net does not parse";
  for (const caffe::LayerParameter& layer : rest.layer()) {
    c.param.add_layer()->CopyFrom(layer);
  }
  return c;
}

// LeNet's solver (examples/occlusion/solver_baseline.prototxt).
caffe::shared_ptr<Solver<float> > MakeSolver(const NetCase& c, bool gpu) {
  SolverParameter param;
  param.mutable_net_param()->CopyFrom(c.param);
  param.set_type("SGD");
  param.set_base_lr(0.01);
  param.set_momentum(0.9);
  param.set_weight_decay(0.0005);
  param.set_lr_policy("inv");
  param.set_gamma(0.0001);
  param.set_power(0.75);
  param.set_max_iter(1 << 30);
  param.set_display(0);
  param.set_snapshot(0);
  param.set_random_seed(1701);
  param.set_solver_mode(gpu ? caffe::SolverParameter_SolverMode_GPU
                            : caffe::SolverParameter_SolverMode_CPU);
  caffe::shared_ptr<Solver<float> > solver(
      caffe::SolverRegistry<float>::CreateSolver(param));
  Net<float>& net = *solver->net();
  caffe::Blob<float>& data = *net.blob_by_name("data");
  caffe::Blob<float>& label = *net.blob_by_name("label");
  caffe::caffe_rng_uniform<float>(data.count(), 0, c.input_scale,
                                  data.mutable_cpu_data());
  for (int i = 0; i < label.count(); ++i) {
    label.mutable_cpu_data()[i] = i % 10;
  }
  return solver;
}

struct Schedule {
  int warmup, iters, rounds;
};

double Summarize(std::vector<double> per_iter, bool gpu) {
  std::sort(per_iter.begin(), per_iter.end());
  return gpu ? per_iter[per_iter.size() / 2] : per_iter.front();
}

std::string Join(const std::vector<double>& values) {
  std::ostringstream s;
  for (size_t i = 0; i < values.size(); ++i) {
    char buffer[32];
    std::snprintf(buffer, sizeof(buffer), "%.3f", values[i]);
    s << (i ? " " : "") << buffer;
  }
  return s.str();
}

// ms per iteration of each round of Solver::Step (forward, backward, SGD
// update, as `caffe train` runs them).
std::vector<double> TimeCaffe(Solver<float>* solver, const Schedule& s,
                              bool gpu) {
  solver->Step(s.warmup);
  std::vector<double> rounds;
  for (int r = 0; r < s.rounds; ++r) {
    rounds.push_back(TimeMs(gpu, [&]() { solver->Step(s.iters); }) / s.iters);
  }
  return rounds;
}

// How long a round takes: iterations enough for min_time, measured after
// a warm-up (cuDNN chose its algorithms before, when the net was built).
Schedule Plan(Solver<float>* solver, const bench::Options& options) {
  Schedule s;
  s.warmup = options.gpu ? 20 : 2;
  solver->Step(s.warmup);
  const int probe = options.gpu ? 20 : 1;
  const double ms = TimeMs(options.gpu, [&]() { solver->Step(probe); }) /
                    probe;
  s.iters = std::max(options.gpu ? 20 : 3,
                     static_cast<int>(std::ceil(options.min_time * 1e3 / ms)));
  s.rounds = options.gpu ? 5 : 3;
  return s;
}

std::string Quote(const std::string& s) { return "'" + s + "'"; }

struct TorchResult {
  bool measured = false;
  std::string why_not;  // when not measured
  std::string description;
  std::vector<double> rounds;
};

// Runs the PyTorch side with the same schedule; it prints DEVICE, TORCH and
// ROUNDS lines, or SKIP with the reason.
TorchResult TimeTorch(const NetCase& c, const Schedule& s, bool gpu) {
  TorchResult result;
  const char* env = std::getenv("CAFFE_TORCH_PYTHON");
  const std::string python = env && *env ? env : "python3";
  std::ostringstream command;
  // PyTorch brings its own libraries and packages: the library and module
  // paths Caffe runs with (on the GPU machines, Debian's libraries and
  // Python 3.11's wheels) would replace them.
  command << "env -u LD_LIBRARY_PATH -u PYTHONPATH " << Quote(python) << " "
          << Quote(CAFFE_SOURCE_DIR "/benchmarks/training_benchmark_torch.py")
          << " --net " << c.name << " --device " << (gpu ? "cuda" : "cpu")
          << " --warmup " << s.warmup << " --iters " << s.iters
          << " --rounds " << s.rounds;
  const char* threads = std::getenv("OPENBLAS_NUM_THREADS");
  if (!gpu && threads && *threads) command << " --threads " << threads;
  std::fflush(stdout);
  FILE* pipe = popen(command.str().c_str(), "r");
  if (!pipe) {
    result.why_not = "cannot start " + python;
    return result;
  }
  char line[4096];
  std::string device, version;
  while (std::fgets(line, sizeof(line), pipe)) {
    std::string text(line);
    if (!text.empty() && text.back() == '\n') text.pop_back();
    const size_t space = text.find(' ');
    const std::string tag = text.substr(0, space);
    const std::string rest = space == std::string::npos ? "" :
                             text.substr(space + 1);
    if (tag == "SKIP") {
      result.why_not = rest;
    } else if (tag == "DEVICE") {
      device = rest;
    } else if (tag == "TORCH") {
      version = rest;
    } else if (tag == "ROUNDS") {
      std::istringstream values(rest);
      double v;
      while (values >> v) result.rounds.push_back(v);
    }
  }
  const int status = pclose(pipe);
  result.measured = status == 0 && result.rounds.size() == s.rounds;
  if (!result.measured && result.why_not.empty()) {
    result.why_not = python + " " + "benchmarks/training_benchmark_torch.py "
                     "failed (exit status " + std::to_string(status) + ")";
  }
  result.description = "PyTorch " + version + " on " + device;
  return result;
}

std::string EngineOf(const Layer<float>& layer, bool gpu) {
#ifdef USE_CUDNN
  const caffe::CuDNNConvolutionLayer<float>* cudnn =
      dynamic_cast<const caffe::CuDNNConvolutionLayer<float>*>(&layer);
  if (cudnn) {
    if (!gpu || !cudnn->plan().prepared()) return "cuDNN (CPU code)";
    const caffe::ConvolutionAlgorithmChoice& a = cudnn->plan().algorithms();
    std::ostringstream s;
    s << "cuDNN algos fwd " << a.forward.algorithm << "/m"
      << a.forward.math_type << " bwd-filter " << a.backward_filter.algorithm
      << "/m" << a.backward_filter.math_type << " bwd-data "
      << a.backward_data.algorithm << "/m" << a.backward_data.math_type
      << ", workspace " << a.MaxWorkspace() / 1024 << " KiB";
    return s.str();
  }
#endif
  return std::string(layer.type()) == "Convolution" ? "Caffe" : "";
}

// Per-layer forward and backward times as `caffe time` takes them: each
// layer's calls bracketed on the device (CUDA events) or host clock.
void PrintLayerTimes(Net<float>* net, int iters, bool gpu) {
  const auto& layers = net->layers();
  std::vector<double> forward(layers.size()), backward(layers.size());
  net->Forward();
  for (int it = 0; it < iters; ++it) {
    for (size_t i = 0; i < layers.size(); ++i) {
      forward[i] += TimeMs(gpu, [&]() {
        layers[i]->Forward(net->bottom_vecs()[i], net->top_vecs()[i]);
      });
    }
    for (size_t i = layers.size(); i-- > 0;) {
      backward[i] += TimeMs(gpu, [&]() {
        layers[i]->Backward(net->top_vecs()[i],
            net->bottom_need_backward()[i], net->bottom_vecs()[i]);
      });
    }
  }
  std::printf("  Caffe per layer (%s, mean of %d passes, ms):\n",
              gpu ? "device time between CUDA events" : "steady clock", iters);
  std::printf("    %-24s %-16s %9s %9s  %s\n", "layer", "type", "forward",
              "backward", "engine");
  double total_forward = 0, total_backward = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    total_forward += forward[i] / iters;
    total_backward += backward[i] / iters;
    std::printf("    %-24s %-16s %9.4f %9.4f  %s\n",
                net->layer_names()[i].c_str(), layers[i]->type(),
                forward[i] / iters, backward[i] / iters,
                EngineOf(*layers[i], gpu).c_str());
  }
  std::printf("    %-24s %-16s %9.4f %9.4f\n", "sum", "", total_forward,
              total_backward);
}

void RunCase(const NetCase& c, const bench::Options& options) {
  std::printf("\n%s\n", c.title.c_str());
  const bool gpu = options.gpu;
  Schedule schedule;
  std::vector<double> caffe_rounds;
  {
    caffe::shared_ptr<Solver<float> > solver = MakeSolver(c, gpu);
    schedule = Plan(solver.get(), options);
    std::printf("  schedule: %d warm-up iterations, then %d rounds of %d; "
                "%s per round, the %s round kept\n", schedule.warmup,
                schedule.rounds, schedule.iters,
                gpu ? "CUDA events" : "steady clock",
                gpu ? "median" : "fastest");
    caffe_rounds = TimeCaffe(solver.get(), schedule, gpu);
  }
  const double caffe_ms = Summarize(caffe_rounds, gpu);
  const bool benchmark_env = std::getenv("CAFFE_CUDNN_BENCHMARK") &&
      std::string(std::getenv("CAFFE_CUDNN_BENCHMARK")) == "1";
  std::printf("  %-44s %9.3f ms/iter  (rounds: %s)\n",
              gpu ? (benchmark_env ? "Caffe, cuDNN algorithms benchmarked"
                                   : "Caffe, cuDNN heuristics")
                  : "Caffe", caffe_ms, Join(caffe_rounds).c_str());
#ifdef USE_CUDNN
  if (gpu) {
    std::printf("  float convolutions: %s\n", caffe::cudnn::AllowTF32() ?
        "TF32 allowed (CAFFE_CUDNN_ALLOW_TF32=1), in PyTorch too" :
        "FP32, in PyTorch too (CAFFE_CUDNN_ALLOW_TF32=1 allows TF32 in both)");
  }
#endif
#ifdef USE_CUDNN
  // The same with the other way of choosing cuDNN's algorithms, in this
  // process (the choice is cached per way).
  if (gpu) {
    setenv("CAFFE_CUDNN_BENCHMARK", benchmark_env ? "0" : "1", 1);
    caffe::shared_ptr<Solver<float> > solver = MakeSolver(c, gpu);
    const std::vector<double> rounds =
        TimeCaffe(solver.get(), schedule, gpu);
    std::printf("  %-44s %9.3f ms/iter  (rounds: %s)\n",
                benchmark_env ? "Caffe, cuDNN heuristics"
                              : "Caffe, CAFFE_CUDNN_BENCHMARK=1",
                Summarize(rounds, gpu), Join(rounds).c_str());
    setenv("CAFFE_CUDNN_BENCHMARK", benchmark_env ? "1" : "0", 1);
  }
#endif
  const TorchResult torch = TimeTorch(c, schedule, gpu);
  if (torch.measured) {
    const double torch_ms = Summarize(torch.rounds, gpu);
    std::printf("  %-44s %9.3f ms/iter  (rounds: %s)\n",
                torch.description.c_str(), torch_ms,
                Join(torch.rounds).c_str());
    const double ratio = caffe_ms / torch_ms;
    std::printf("  Caffe / PyTorch time per iteration: %.2f (%s)\n", ratio,
                ratio > 1 ? "Caffe is slower" :
                ratio < 1 ? "Caffe is faster" : "the same");
  } else {
    std::printf("  PyTorch: skipped, %s\n", torch.why_not.c_str());
  }
  caffe::shared_ptr<Solver<float> > solver = MakeSolver(c, gpu);
  solver->Step(schedule.warmup);
  PrintLayerTimes(solver->net().get(), std::min(schedule.iters, 50), gpu);
}

}  // namespace

int main(int argc, char** argv) {
  std::string net;  // empty: all
  const bench::Options options =
      bench::Init(argc, argv, {{"--net", &net, "lenet|resnet"}});
  std::printf("Training benchmark: SGD iterations (forward, backward, "
              "update), float, synthetic input; %s\n",
              bench::DeviceName(options).c_str());
  for (const NetCase& c : {LeNet(), ResNet()}) {
    if (net.empty() || net == c.name) RunCase(c, options);
  }
  return 0;
}
