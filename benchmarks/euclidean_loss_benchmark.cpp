// Forward+backward time of EuclideanLoss: our native layer (and the same
// layer with ordinary stores only), upstream's native layer (compiled from
// the pristine upstream tree) and the Python prototype, against a
// memory-copy roofline measured in the same run: three blob copies move as
// many bytes as one forward (read a, b) plus one backward (read a, b, write
// both gradients) must. On the CPU every case runs under each allocation
// pattern (benchmark_util.hpp), best and worst side by side. On the GPU the
// three copies are one vectorised copy kernel of three blobs' bytes between
// distinct buffers beyond the L2 cache (the HBM roofline; each layer call
// takes the next of several sets of inputs likewise), with the
// empty-kernel launch floor beside them and the targets checked: <= 1.1x
// the roofline at 10^7 elements, <= 15 us per forward+backward at 10^3.
// A layer's Forward returns the loss, so on the GPU it waits for its
// kernel; the native layer is also timed as its kernels alone (Forward_gpu
// and Backward_gpu, no wait), which is what the roofline compares with.
// The 10^7 target is judged on both lines, the 10^3 one per call.
//
// Usage: euclidean_loss_benchmark [--gpu] [--min-time SECONDS]
// The Python prototype needs `caffe` importable (PYTHONPATH, see env.sh).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "benchmark_util.hpp"
#include "caffe/caffe.hpp"
#include "caffe/layers/euclidean_loss_layer.hpp"
#include "caffe/util/streaming_store.hpp"
#include "upstream_layers.hpp"

using caffe::Blob;
using caffe::Caffe;
using caffe::Layer;
using caffe::LayerParameter;
using caffe::shared_ptr;
using std::string;
using std::vector;

namespace {

typedef float Dtype;

const char kCopies[] = "3 copies";
const char kFloor[] = "empty kernel";
const char kNative[] = "native";
const char kKernels[] = "native, kernels alone";
const char kPlain[] = "native, plain stores";
const char kUpstream[] = "upstream";
const char kPrototype[] = "prototype";

// A call's blobs: the two inputs (uniform random) and the loss.
struct Inputs {
  Inputs(int num, int dim) : a(vector<int>{num, dim}), b(vector<int>{num, dim}) {
    bench::FillUniform(&a);
    bench::FillUniform(&b);
    bottom = {&a, &b};
    top = {&loss};
  }
  Blob<Dtype> a, b, loss;
  vector<Blob<Dtype>*> bottom, top;
};

// The native layer's forward and backward kernels without Layer::Forward's
// wait for the loss it returns.
class KernelsAlone : public caffe::EuclideanLossLayer<Dtype> {
 public:
  explicit KernelsAlone(const LayerParameter& param)
      : caffe::EuclideanLossLayer<Dtype>(param) {}
  void Run(const vector<Blob<Dtype>*>& bottom,
           const vector<Blob<Dtype>*>& top, const vector<bool>& down) {
    this->Forward_gpu(bottom, top);
    this->Backward_gpu(top, down, bottom);
  }
};

shared_ptr<Layer<Dtype> > MakeLayer(const string& which) {
  LayerParameter param = bench::PrototypeParameter("loss",
      "caffe.prototypes.euclidean_loss", "EuclideanLossLayer");
  if (which == kUpstream) return caffe::MakeUpstreamEuclideanLoss<Dtype>(param);
  if (which == kPlain) return caffe::MakePlainStoreEuclideanLoss<Dtype>(param);
  if (which == kKernels) {
    return shared_ptr<Layer<Dtype> >(new KernelsAlone(param));
  }
  if (which == kNative) param.set_type("EuclideanLoss");
  return caffe::LayerRegistry<Dtype>::CreateLayer(param);
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Options options = bench::Init(argc, argv);
  const bool prototype = bench::PythonLayersBuilt();
  vector<string> layers{kNative};
  if (!options.gpu) layers.push_back(kPlain);  // no streaming on the GPU
  if (options.gpu) layers.push_back(kKernels);
  layers.push_back(kUpstream);
  if (prototype) layers.push_back(kPrototype);
  std::printf("EuclideanLoss forward+backward, float, %s; %s times in us\n",
              bench::DeviceName(options).c_str(),
              options.gpu ? "per call, median of CUDA-event samples of many "
                            "back-to-back calls" : "fastest");
  if (!prototype) bench::ExplainSkippedPrototype();
  for (int count = 1000; count <= 10000000; count *= 10) {
    const int num = count >= 100000 ? 100 : 10;
    bench::PlacementTable table(options, std::to_string(count) + " elements");
    // Every placement in turn, Rounds() times over; the table keeps the
    // fastest of each.
    for (int round = 0; round < options.Rounds(); ++round)
    for (int placement : bench::Placements(options)) {
      // On the GPU each call takes the next of several sets of inputs that
      // span at least 4x the L2 cache together (bench::BlobSets), as the
      // roofline's buffers do.
      const size_t sets = bench::BlobSets(options, 4 * sizeof(Dtype) * count);
      vector<std::unique_ptr<Inputs> > inputs;
      for (size_t s = 0; s < sets; ++s) {
        inputs.emplace_back(new Inputs(num, count / num));
      }
      Blob<Dtype> scratch(inputs[0]->a.shape());
      bench::PlacedHostMemory placed(placement, {inputs[0]->a.data().get(),
          inputs[0]->b.data().get(), inputs[0]->a.diff().get(),
          inputs[0]->b.diff().get(), scratch.data().get()});
      const vector<bool> down(2, true);
      if (options.gpu) {
#ifndef CPU_ONLY
        bench::CopyRoofline roofline(3 * sizeof(Dtype) * count);
        table.Add(kCopies, placement, bench::Seconds(options, [&]() {
          roofline.Copy();
        }));
        table.Add(kFloor, placement, bench::Seconds(options, [&]() {
          bench::LaunchEmptyKernel();
        }));
#endif
      } else {
        table.Add(kCopies, placement, bench::Seconds(options, [&]() {
          for (int k = 0; k < 3; ++k) {
            bench::CopyBlob(options, inputs[0]->a, &scratch);
          }
        }));
      }
      for (const string& name : layers) {
        shared_ptr<Layer<Dtype> > layer = MakeLayer(name);
        layer->SetUp(inputs[0]->bottom, inputs[0]->top);
        // SetUp gave set 0's loss its weight (its diff); the others take it.
        for (const std::unique_ptr<Inputs>& in : inputs) {
          in->loss.ReshapeLike(inputs[0]->loss);
          in->loss.mutable_cpu_diff()[0] = inputs[0]->loss.cpu_diff()[0];
        }
        size_t next = 0;
        table.Add(name, placement, bench::Seconds(options, [&]() {
          const Inputs& in = *inputs[next];
          next = (next + 1) % sets;
          bench::MarkProducedOnDevice(options, in.bottom);
          if (name == kKernels) {
            static_cast<KernelsAlone*>(layer.get())->Run(in.bottom, in.top,
                                                         down);
          } else {
            layer->Forward(in.bottom, in.top);
            layer->Backward(in.top, down, in.bottom);
          }
          bench::ConsumeGradientsOnDevice(options, in.bottom);
        }));
      }
    }
    std::printf("\n");
    table.Print(kCopies);
    const double native_worst = table.Worst(kNative);
    std::printf("  native worst / 3 copies worst: %.2f; %s; %s\n",
                native_worst / table.Worst(kCopies),
                bench::Compare("native", native_worst, "upstream",
                               table.Worst(kUpstream)).c_str(),
                prototype ? bench::Compare("native", native_worst, "prototype",
                    table.Worst(kPrototype)).c_str() : "prototype skipped");
    if (options.gpu && (count == 1000 || count == 10000000)) {
      const double native = table.Best(kNative);
      if (count == 1000) {
        std::printf("  target: native %.1f us per forward+backward (target "
                    "<= 15 us: %s)\n", 1e6 * native,
                    bench::Verdict(native <= 15e-6));
      } else {
        const double copies = table.Best(kCopies);
        const double kernels = table.Best(kKernels) / copies;
        std::printf("  target: native %.2fx the roofline per call, with "
                    "Forward's wait for the loss (target <= 1.10x: %s)\n",
                    native / copies, bench::Verdict(native / copies <= 1.1));
        std::printf("  target: native kernels alone %.2fx the roofline "
                    "(target <= 1.10x: %s)\n", kernels,
                    bench::Verdict(kernels <= 1.1));
      }
    }
    if (!options.gpu && !caffe::StreamingPays(2 * sizeof(Dtype) * count)) {
      std::printf("  below the streaming threshold: native and plain stores "
                  "run the same code\n");
    } else if (!options.gpu) {
      // Streaming stores stay only where they win under every pattern.
      int losses = 0;
      for (int p : bench::Placements(options)) {
        losses += table.At(kNative, p) > table.At(kPlain, p);
      }
      std::printf("  streaming stores (native) against plain stores: %s\n",
                  losses == 0 ? "faster under every pattern" :
                  (std::to_string(losses) + " pattern(s) slower").c_str());
    }
  }
  return 0;
}
