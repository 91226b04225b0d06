// Helpers shared by the layer benchmarks: options, timing, roofline copies,
// and the host/device traffic a layer sees inside a GPU net.
#ifndef BENCHMARKS_BENCHMARK_UTIL_HPP_
#define BENCHMARKS_BENCHMARK_UTIL_HPP_

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "caffe/blob.hpp"
#include "caffe/common.hpp"
#include "caffe/filler.hpp"
#include "caffe/util/math_functions.hpp"

namespace bench {

struct Options {
  bool gpu = false;
  double min_time = 0.3;  // seconds of samples per measurement
};

// Parses the benchmark's options, starts Caffe (logging; gflags sees only
// the program name) and selects the device.
inline Options Init(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--gpu")) {
      options.gpu = true;
    } else if (!std::strcmp(argv[i], "--min-time") && i + 1 < argc) {
      options.min_time = std::atof(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--gpu] [--min-time SECONDS]\n", argv[0]);
      std::exit(2);
    }
  }
  int program_only = 1;
  caffe::GlobalInit(&program_only, &argv);
#ifdef CPU_ONLY
  CHECK(!options.gpu) << "--gpu: this build is CPU-only";
#endif
  caffe::Caffe::set_mode(options.gpu ? caffe::Caffe::GPU : caffe::Caffe::CPU);
  caffe::Caffe::set_random_seed(1701);
  return options;
}

inline std::string DeviceName(const Options& options) {
#ifndef CPU_ONLY
  if (options.gpu) {
    int device = 0;
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDevice(&device));
    CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    return std::string("GPU ") + prop.name;
  }
#endif
  const char* threads = std::getenv("OPENBLAS_NUM_THREADS");
  return std::string("CPU (OPENBLAS_NUM_THREADS=") + (threads ? threads : "unset") + ")";
}

inline void Synchronize(const Options& options) {
#ifndef CPU_ONLY
  if (options.gpu) CUDA_CHECK(cudaDeviceSynchronize());
#endif
}

// Median of repeated runs after one warm-up run, sampling for min_time.
template <typename Function>
double MedianSeconds(const Options& options, Function run) {
  typedef std::chrono::steady_clock Clock;
  run();
  Synchronize(options);
  std::vector<double> samples;
  double total = 0;
  while (samples.size() < 5 || total < options.min_time) {
    const Clock::time_point start = Clock::now();
    run();
    Synchronize(options);
    samples.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    total += samples.back();
  }
  std::nth_element(samples.begin(), samples.begin() + samples.size() / 2,
                   samples.end());
  return samples[samples.size() / 2];
}

// A Python layer (module.layer), made through the layer factory as in a net.
inline caffe::LayerParameter PrototypeParameter(const char* name,
    const char* module, const char* layer) {
  caffe::LayerParameter param;
  param.set_name(name);
  param.set_type("Python");
  param.mutable_python_param()->set_module(module);
  param.mutable_python_param()->set_layer(layer);
  return param;
}

template <typename Dtype>
void FillUniform(caffe::Blob<Dtype>* blob) {
  caffe::FillerParameter param;
  param.set_min(-1);
  param.set_max(1);
  caffe::UniformFiller<Dtype> filler(param);
  filler.Fill(blob);
}

// One blob-sized copy (read + write), on the device the layers run on.
template <typename Dtype>
void CopyBlob(const Options& options, const caffe::Blob<Dtype>& from,
              caffe::Blob<Dtype>* to) {
  if (options.gpu) {
    caffe::caffe_copy(from.count(), from.gpu_data(), to->mutable_gpu_data());
  } else {
    caffe::caffe_copy(from.count(), from.cpu_data(), to->mutable_cpu_data());
  }
}

// In a GPU net the layer before produced the inputs on the device...
template <typename Dtype>
void MarkProducedOnDevice(const Options& options,
                          const std::vector<caffe::Blob<Dtype>*>& blobs) {
  if (!options.gpu) return;
  for (caffe::Blob<Dtype>* blob : blobs) blob->mutable_gpu_data();
}

// ... the layer after reads the outputs there ...
template <typename Dtype>
void MarkConsumedOnDevice(const Options& options,
                          const std::vector<caffe::Blob<Dtype>*>& blobs) {
  if (!options.gpu) return;
  for (caffe::Blob<Dtype>* blob : blobs) blob->gpu_data();
}

// ... and the layer before reads the gradients there.
template <typename Dtype>
void ConsumeGradientsOnDevice(const Options& options,
                              const std::vector<caffe::Blob<Dtype>*>& blobs) {
  if (!options.gpu) return;
  for (caffe::Blob<Dtype>* blob : blobs) blob->gpu_diff();
}

}  // namespace bench

#endif  // BENCHMARKS_BENCHMARK_UTIL_HPP_
