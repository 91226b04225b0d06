// Helpers shared by the layer benchmarks: options, timing, allocation
// patterns, roofline copies, result tables, and the host/device traffic a
// layer sees inside a GPU net.
#ifndef BENCHMARKS_BENCHMARK_UTIL_HPP_
#define BENCHMARKS_BENCHMARK_UTIL_HPP_

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <cblas.h>  // openblas_get_corename

#include "caffe/blob.hpp"
#include "caffe/common.hpp"
#include "caffe/filler.hpp"
#include "caffe/layer_factory.hpp"
#include "caffe/syncedmem.hpp"
#include "caffe/util/host_memory.hpp"
#include "caffe/util/math_functions.hpp"

namespace bench {

struct Options {
  bool gpu = false;
  double min_time = 0.3;  // seconds of samples per measurement (GPU)
  // CPU: each case's placements are measured in turn, this many times over,
  // keeping each one's fastest; a burst of load from other processes then
  // spoils one round of one placement, not the comparison.
  int Rounds() const { return gpu ? 1 : 3; }
};

// An option of one benchmark's own, with a value: {"--net", &net, "NAME"}.
struct ExtraOption {
  const char* flag;
  std::string* value;
  const char* placeholder;
};

// Parses the benchmark's options (--gpu, --min-time and its own), starts
// Caffe (logging; gflags sees only the program name) and selects the device.
inline Options Init(int argc, char** argv,
                    const std::vector<ExtraOption>& extra = {}) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const ExtraOption* own = NULL;
    for (const ExtraOption& option : extra) {
      if (!std::strcmp(argv[i], option.flag)) own = &option;
    }
    if (!std::strcmp(argv[i], "--gpu")) {
      options.gpu = true;
    } else if (!std::strcmp(argv[i], "--min-time") && i + 1 < argc) {
      options.min_time = std::atof(argv[++i]);
    } else if (own && i + 1 < argc) {
      *own->value = argv[++i];
    } else {
      std::string usage = std::string("usage: ") + argv[0] +
                          " [--gpu] [--min-time SECONDS]";
      for (const ExtraOption& option : extra) {
        usage += std::string(" [") + option.flag + " " + option.placeholder + "]";
      }
      std::fprintf(stderr, "%s\n", usage.c_str());
      std::exit(2);
    }
  }
  int program_only = 1;
  caffe::GlobalInit(&program_only, &argv);
  // Like any NumPy session, free a large block first: glibc then serves
  // blocks up to its size from the heap (the prototypes' temporaries too).
  const size_t kLargeBlock = 24 << 20;
  char* volatile large = static_cast<char*>(std::malloc(kLargeBlock));
  std::memset(large, 1, kLargeBlock);
  std::free(large);
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
  // The kernels OpenBLAS runs, and whether the environment chose them: an
  // inherited OPENBLAS_CORETYPE=Haswell made GEMMs 1.4x slower on an
  // AVX-512 machine (docs/benchmarks.md, "Training against PyTorch").
  const char* threads = std::getenv("OPENBLAS_NUM_THREADS");
  const char* forced = std::getenv("OPENBLAS_CORETYPE");
  return std::string("CPU (OPENBLAS_NUM_THREADS=") + (threads ? threads : "unset") +
         ", OpenBLAS core " + openblas_get_corename() +
         (forced && *forced ? " set by OPENBLAS_CORETYPE" : "") + ")";
}

#ifndef CPU_ONLY
// gpu_timing.cu: an empty kernel (the launch floor) and a copy of `bytes`
// with 16-byte vectors (16-byte aligned buffers).
void LaunchEmptyKernel();
void LaunchCopyKernel(const void* src, void* dst, size_t bytes);

// The GPU time of one run: CUDA events around many back-to-back runs (the
// harness adds no synchronisation between them; a run that waits for the
// device itself, as a loss layer's Forward does for the loss it returns,
// is timed with its wait and the idle gap after it), per run; the median
// of such samples, sampling for min_time after one warm-up run. A sample
// lasts about min_time / 10, so launch and event costs are spread over
// many runs.
template <typename Function>
double EventSeconds(const Options& options, Function run) {
  run();
  CUDA_CHECK(cudaDeviceSynchronize());
  cudaEvent_t start, stop;
  CUDA_CHECK(cudaEventCreate(&start));
  CUDA_CHECK(cudaEventCreate(&stop));
  // Seconds of `runs` back-to-back runs.
  auto sample = [&](int runs) {
    CUDA_CHECK(cudaEventRecord(start));
    for (int r = 0; r < runs; ++r) run();
    CUDA_CHECK(cudaEventRecord(stop));
    CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    return 1e-3 * ms;
  };
  const double target = options.min_time / 10;
  int runs = 1;
  for (double seconds = sample(runs); seconds < target && runs < (1 << 20);
       seconds = sample(runs)) {
    runs = static_cast<int>(std::min<double>(1 << 20,
        std::max(2.0 * runs, 1.2 * runs * target / std::max(seconds, 1e-9))));
  }
  std::vector<double> samples;
  double total = 0;
  while (samples.size() < 5 || total < options.min_time) {
    const double seconds = sample(runs);
    samples.push_back(seconds / runs);
    total += seconds;
  }
  CUDA_CHECK(cudaEventDestroy(start));
  CUDA_CHECK(cudaEventDestroy(stop));
  std::nth_element(samples.begin(), samples.begin() + samples.size() / 2,
                   samples.end());
  return samples[samples.size() / 2];
}

/// How many distinct sets of `bytes` each span at least 4x the current
/// device's L2 cache (at least 2): taking the next set on every call, no
/// call finds in L2 what the last one left there.
inline size_t SetsBeyondL2(size_t bytes) {
  int device = 0, l2_bytes = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  CUDA_CHECK(cudaDeviceGetAttribute(&l2_bytes, cudaDevAttrL2CacheSize,
                                    device));
  bytes = std::max<size_t>(bytes, 1);
  return std::max<size_t>(2, (4 * static_cast<size_t>(l2_bytes) + bytes - 1) /
                                 bytes);
}

/// The GPU memory roofline of moving `bytes` (read once, written once): a
/// vectorised copy kernel, each call between the next of several distinct
/// buffer pairs spanning at least 4x the L2 cache, so that every call
/// reads and writes device memory (HBM), not what the last call left in L2.
class CopyRoofline {
 public:
  explicit CopyRoofline(size_t bytes) : bytes_(bytes), next_(0) {
    slot_ = (std::max<size_t>(bytes, 1) + 255) / 256 * 256;
    pairs_ = SetsBeyondL2(2 * slot_);
    CUDA_CHECK(cudaMalloc(&arena_, 2 * pairs_ * slot_));
    CUDA_CHECK(cudaMemset(arena_, 0, 2 * pairs_ * slot_));
  }
  ~CopyRoofline() { cudaFree(arena_); }
  void Copy() {
    char* src = static_cast<char*>(arena_) + 2 * next_ * slot_;
    LaunchCopyKernel(src, src + slot_, bytes_);
    next_ = (next_ + 1) % pairs_;
  }

 private:
  const size_t bytes_;
  size_t slot_, pairs_, next_;
  void* arena_;
  CopyRoofline(const CopyRoofline&);
  CopyRoofline& operator=(const CopyRoofline&);
};
#endif

/// How many sets of blobs (of `bytes` each) a case takes in turn, one per
/// call: on the GPU SetsBeyondL2, but at most 64 (small blobs then stay in
/// L2, as they do between the layers of a net, and their cases are
/// launch-bound anyway); on the CPU one.
inline size_t BlobSets(const Options& options, size_t bytes) {
#ifndef CPU_ONLY
  if (options.gpu) return std::min<size_t>(64, SetsBeyondL2(bytes));
#endif
  return 1;
}

/// A target check, printed beside the measured ratio.
inline const char* Verdict(bool met) { return met ? "met" : "NOT met"; }

// The time of one run of `run`. On the CPU the fastest of the samples: the
// benchmarks run on shared machines, where other processes only ever add
// time (memory bandwidth most of all), and the fastest run is what the
// code costs. On the GPU the median per run of back-to-back runs timed
// with CUDA events (EventSeconds).
template <typename Function>
double Seconds(const Options& options, Function run) {
#ifndef CPU_ONLY
  if (options.gpu) return EventSeconds(options, run);
#endif
  typedef std::chrono::steady_clock Clock;
  run();
  double fastest = 1e300, total = 0;
  // Each round samples two thirds of min_time: a cell gets 2 min_time in
  // all, enough to see through the load of a shared 2-core machine.
  const double min_time = options.min_time * 2 / 3;
  for (int samples = 0; samples < 5 || total < min_time; ++samples) {
    const Clock::time_point start = Clock::now();
    run();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    fastest = std::min(fastest, seconds);
    total += seconds;
  }
  return fastest;
}

// Where a case's host buffers lie. A layer's speed must not depend on it
// (docs/memory.md), so every CPU case runs under each pattern:
enum Placement {
  kSynced,     // SyncedMemory's own (64 B aligned; large: 2 MiB aligned)
  kHeap,       // one after another, 16-byte headers between: malloc's heap
               // after a large free (NumPy sessions), blocks 4K-aliased
               // within a few cache lines of each other
  kMmap,       // each in its own mapping, 16 bytes past a page: glibc's
               // mmap'd blocks below its threshold
  kAliased,    // each on a page boundary: the same low 12 address bits
  kStaggered,  // each on a page boundary plus k * 1088 bytes
  kUnaligned,  // staggered plus 4 bytes: float- but not SIMD-aligned
  kPlacements
};

inline const char* PlacementName(int placement) {
  static const char* const names[] = {"synced", "heap", "mmap", "4K-alias",
                                      "stagger", "unalign"};
  return names[placement];
}

/// All patterns on the CPU; on the GPU only SyncedMemory's (the host
/// buffers there are staging copies, pinned by cudaMallocHost).
inline std::vector<int> Placements(const Options& options) {
  std::vector<int> placements;
  for (int p = 0; p < (options.gpu ? 1 : static_cast<int>(kPlacements)); ++p) {
    placements.push_back(p);
  }
  return placements;
}

// Lays host buffers out by a placement and lends them to SyncedMemory
// objects, contents kept; they must not be used after this is destroyed.
class PlacedHostMemory {
 public:
  PlacedHostMemory(int placement,
                   const std::vector<caffe::SyncedMemory*>& memories)
      : region_(NULL), length_(0) {
    if (placement == kSynced) return;
    const size_t kPage = 4096;
    std::vector<size_t> starts;
    size_t cursor = kPage - 352;  // heap: an arbitrary place in a page
    for (size_t k = 0; k < memories.size(); ++k) {
      const size_t page = (cursor + kPage - 1) / kPage * kPage;
      size_t start = 0;
      switch (placement) {
        case kHeap: start = cursor + 16; break;
        case kMmap: start = page + kPage + 16; break;  // a guard page between
        case kAliased: start = page; break;
        case kStaggered: start = page + k * 1088 % kPage; break;
        case kUnaligned: start = page + k * 1088 % kPage + 4; break;
      }
      starts.push_back(start);
      cursor = (start + memories[k]->size() + 15) / 16 * 16;
    }
    // The region is mapped as SyncedMemory maps large blocks (2 MiB
    // aligned, huge pages asked for), so that only the offsets differ:
    // what page sizes cost is host_memory_benchmark's subject.
    length_ = cursor + kPage;
    region_ = static_cast<char*>(caffe::AllocateHostMemory(length_));
    for (size_t k = 0; k < memories.size(); ++k) {
      char* ptr = region_ + starts[k];
      std::memcpy(ptr, memories[k]->cpu_data(), memories[k]->size());
      memories[k]->set_cpu_data(ptr);
    }
  }
  ~PlacedHostMemory() {
    if (region_) caffe::FreeHostMemory(region_, length_);
  }

 private:
  char* region_;
  size_t length_;
  PlacedHostMemory(const PlacedHostMemory&);
  PlacedHostMemory& operator=(const PlacedHostMemory&);
};

// A table of times (us) per row and placement, with each row's best, worst
// and worst/best, and each row's best against a reference row's best.
class PlacementTable {
 public:
  PlacementTable(const Options& options, const std::string& title)
      : placements_(Placements(options)), title_(title) {}

  /// Records a time, keeping the fastest of the rounds; rows appear in the
  /// order first recorded.
  void Add(const std::string& row, int placement, double seconds) {
    size_t r = 0;
    while (r < rows_.size() && rows_[r] != row) ++r;
    if (r == rows_.size()) {
      rows_.push_back(row);
      times_.push_back(std::vector<double>(kPlacements, 1e300));
    }
    times_[r][placement] = std::min(times_[r][placement], seconds);
  }

  double Best(const std::string& row) const { return Extreme(row, false); }
  double Worst(const std::string& row) const { return Extreme(row, true); }
  double At(const std::string& row, int placement) const {
    return times_[Index(row)][placement];
  }

  /// Prints the table; "/ ref" is each row's best over the reference's.
  void Print(const std::string& reference) const {
    std::printf("%-28s", title_.c_str());
    for (int p : placements_) std::printf(" %9s", PlacementName(p));
    std::printf(" | %9s %9s %6s %7s\n", "best us", "worst us", "w/b",
                "/ ref");
    for (size_t r = 0; r < rows_.size(); ++r) {
      std::printf("  %-26s", rows_[r].c_str());
      for (int p : placements_) std::printf(" %9.1f", 1e6 * times_[r][p]);
      const double best = Best(rows_[r]), worst = Worst(rows_[r]);
      std::printf(" | %9.1f %9.1f %6.2f %7.2f\n", 1e6 * best, 1e6 * worst,
                  worst / best, best / Best(reference));
    }
  }

 private:
  size_t Index(const std::string& row) const {
    for (size_t r = 0; r < rows_.size(); ++r) {
      if (rows_[r] == row) return r;
    }
    LOG(FATAL) << "no row " << row;
    return 0;
  }
  double Extreme(const std::string& row, bool worst) const {
    const std::vector<double>& times = times_[Index(row)];
    double extreme = times[placements_[0]];
    for (int p : placements_) {
      extreme = worst ? std::max(extreme, times[p]) : std::min(extreme, times[p]);
    }
    return extreme;
  }

  const std::vector<int> placements_;
  const std::string title_;
  std::vector<std::string> rows_;
  std::vector<std::vector<double> > times_;
};

/// "a is 3.2x faster than b" or "a is 1.3x slower than b", never a ratio
/// below 1 called faster.
inline std::string Compare(const std::string& a, double a_seconds,
                           const std::string& b, double b_seconds) {
  char text[64];
  if (a_seconds <= b_seconds) {
    std::snprintf(text, sizeof(text), " is %.2fx faster than ", b_seconds / a_seconds);
  } else {
    std::snprintf(text, sizeof(text), " is %.2fx slower than ", a_seconds / b_seconds);
  }
  return a + text + b;
}

/// Whether type: "Python" layers exist in this build (BUILD_python_layer).
inline bool PythonLayersBuilt() {
  const std::vector<std::string> types =
      caffe::LayerRegistry<float>::LayerTypeList();
  return std::find(types.begin(), types.end(), "Python") != types.end();
}

inline void ExplainSkippedPrototype() {
  std::printf("prototype: skipped, this Caffe was built without Python layers "
              "(BUILD_python_layer=OFF / WITH_PYTHON_LAYER unset)\n");
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
