// Time of BlankSquare (the occlusion itself): our native layer and the
// Python prototype, forward out of place and in place, and our in-place
// forward+backward (as in training), against one blob copy measured in the
// same run (the least an out-of-place layer must do). On the CPU every case
// runs under each allocation pattern (benchmark_util.hpp), best and worst
// side by side. On the GPU the copy is the roofline: a vectorised copy
// kernel between distinct buffers beyond the L2 cache; beside it the
// empty-kernel launch floor, the out-of-place forward+backward too, and at
// 64x3x224x224 the targets as ratios to the copy.
//
// Usage: blank_square_benchmark [--gpu] [--min-time SECONDS]
// The Python prototype needs `caffe` importable (PYTHONPATH, see env.sh).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "benchmark_util.hpp"
#include "caffe/caffe.hpp"

using caffe::Blob;
using caffe::Layer;
using caffe::LayerParameter;
using caffe::SyncedMemory;
using caffe::shared_ptr;
using std::string;
using std::vector;

namespace {

typedef float Dtype;

const char kCopy[] = "copy";
const char kFloor[] = "empty kernel";
// The square moves with every forward pass, and what it costs with it (its
// rows start at different places in a cache line): each sample averages
// this many calls, and every layer draws the same sequence of squares.
const int kCallsPerSample = 8;

struct Case {
  string name;
  bool native, in_place, backward;
};

// The blobs of one call: the input (and its gradient when the case runs
// backward) and, out of place, the output (and its gradient), with the
// SyncedMemory objects behind them for PlacedHostMemory.
struct BlobSet {
  BlobSet(const Blob<Dtype>& input, const Case& c)
      : data(input.shape()), output(input.shape()) {
    data.CopyFrom(input);
    buffers.push_back(data.data().get());
    if (c.backward) {
      caffe::caffe_set(data.count(), Dtype(1), data.mutable_cpu_diff());
      buffers.push_back(data.diff().get());
    }
    if (c.backward && !c.in_place) {
      caffe::caffe_set(output.count(), Dtype(1), output.mutable_cpu_diff());
      buffers.push_back(output.diff().get());
    }
    if (!c.in_place) buffers.push_back(output.data().get());
    bottom.push_back(&data);
    top.push_back(c.in_place ? &data : &output);
  }
  Blob<Dtype> data, output;
  vector<SyncedMemory*> buffers;
  vector<Blob<Dtype>*> bottom, top;
};

shared_ptr<Layer<Dtype> > MakeLayer(bool native) {
  LayerParameter param = bench::PrototypeParameter("occlude",
      "caffe.prototypes.blank_square", "BlankSquareLayer");
  if (native) param.set_type("BlankSquare");
  return caffe::LayerRegistry<Dtype>::CreateLayer(param);
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Options options = bench::Init(argc, argv);
  const bool prototype = bench::PythonLayersBuilt();
  vector<Case> cases{{"native", true, false, false},
                     {"native in place", true, true, false},
                     {"native in place fwd+bwd", true, true, true}};
  if (options.gpu) cases.push_back({"native fwd+bwd", true, false, true});
  if (prototype) {
    cases.push_back({"prototype", false, false, false});
    cases.push_back({"prototype in place", false, true, false});
  }
  std::printf("BlankSquare forward (and in-place forward+backward), float, "
              "ratio 0.5, %s; %s times in us\n",
              bench::DeviceName(options).c_str(),
              options.gpu ? "per call, median of CUDA-event samples of many "
                            "back-to-back calls" : "fastest");
  if (!prototype) bench::ExplainSkippedPrototype();
  const vector<vector<int> > shapes = {
      {64, 1, 28, 28}, {64, 3, 128, 128}, {64, 3, 224, 224}};
  for (const vector<int>& shape : shapes) {
    string shape_name = std::to_string(shape[0]);
    for (size_t a = 1; a < shape.size(); ++a) {
      shape_name += "x" + std::to_string(shape[a]);
    }
    Blob<Dtype> input(shape);
    bench::FillUniform(&input);
    bench::PlacementTable table(options, shape_name);
    // Every placement in turn, Rounds() times over; the table keeps the
    // fastest of each.
    for (int round = 0; round < options.Rounds(); ++round)
    for (int placement : bench::Placements(options)) {
      if (options.gpu) {
#ifndef CPU_ONLY
        bench::CopyRoofline roofline(input.count() * sizeof(Dtype));
        table.Add(kCopy, placement, bench::Seconds(options, [&]() {
          for (int call = 0; call < kCallsPerSample; ++call) roofline.Copy();
        }) / kCallsPerSample);
        table.Add(kFloor, placement, bench::Seconds(options, [&]() {
          for (int call = 0; call < kCallsPerSample; ++call) {
            bench::LaunchEmptyKernel();
          }
        }) / kCallsPerSample);
#endif
      } else {
        Blob<Dtype> source(shape), scratch(shape);
        source.CopyFrom(input);
        bench::PlacedHostMemory placed(placement,
            {source.data().get(), scratch.data().get()});
        table.Add(kCopy, placement, bench::Seconds(options, [&]() {
          for (int call = 0; call < kCallsPerSample; ++call) {
            bench::CopyBlob(options, source, &scratch);
          }
        }) / kCallsPerSample);
      }
      for (const Case& c : cases) {
        // On the GPU each call takes the next of several sets of blobs that
        // span at least 4x the L2 cache together, as the copy roofline's
        // buffers do (bench::BlobSets): a 64x3x224x224 blob (38.5 MB)
        // would otherwise stay in an H100's 50 MB L2 between calls.
        const size_t set_bytes = input.count() * sizeof(Dtype) *
            (c.in_place ? 1 : 2) * (c.backward ? 2 : 1);
        const size_t sets = bench::BlobSets(options, set_bytes);
        vector<std::unique_ptr<BlobSet> > blob_sets;
        for (size_t s = 0; s < sets; ++s) {
          blob_sets.emplace_back(new BlobSet(input, c));
        }
        bench::PlacedHostMemory placed(placement, blob_sets[0]->buffers);
        const vector<bool> down(1, true);
        caffe::Caffe::set_random_seed(1701);
        shared_ptr<Layer<Dtype> > layer = MakeLayer(c.native);
        layer->SetUp(blob_sets[0]->bottom, blob_sets[0]->top);
        size_t next = 0;
        table.Add(c.name, placement, bench::Seconds(options, [&]() {
          for (int call = 0; call < kCallsPerSample; ++call) {
            const BlobSet& set = *blob_sets[next];
            next = (next + 1) % sets;
            bench::MarkProducedOnDevice(options, set.bottom);
            layer->Forward(set.bottom, set.top);
            if (c.backward) {
              layer->Backward(set.top, down, set.bottom);
              bench::ConsumeGradientsOnDevice(options, set.bottom);
            } else {
              bench::MarkConsumedOnDevice(options, set.top);
            }
          }
        }) / kCallsPerSample);
      }
    }
    std::printf("\n");
    table.Print(kCopy);
    if (options.gpu && shape_name == "64x3x224x224") {
      // The targets (docs/benchmarks.md), in copies of the blob.
      const double copy = table.Best(kCopy);
      const double in_place = table.Best("native in place") / copy;
      const double out_of_place = table.Best("native") / copy;
      const double both = table.Best("native fwd+bwd") / copy;
      std::printf("  targets: in-place forward %.2f of a copy (target <= 0.30: "
                  "%s); forward %.2f of a copy (target <= 1.00: %s); "
                  "forward+backward %.2f copies (target <= 2.00: %s)\n",
                  in_place, bench::Verdict(in_place <= 0.3), out_of_place,
                  bench::Verdict(out_of_place <= 1.0), both,
                  bench::Verdict(both <= 2.0));
    }
    if (prototype) {
      std::printf("  worst against worst: %s; %s\n",
                  bench::Compare("native", table.Worst("native"), "prototype",
                                 table.Worst("prototype")).c_str(),
                  bench::Compare("native in place",
                                 table.Worst("native in place"),
                                 "prototype in place",
                                 table.Worst("prototype in place")).c_str());
    }
  }
  return 0;
}
