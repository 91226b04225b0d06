// Forward time of BlankSquare (the occlusion itself): our native layer and
// the Python prototype, out of place and in place, against one blob copy
// measured in the same run (the least an out-of-place layer must do).
//
// Usage: blank_square_benchmark [--gpu] [--min-time SECONDS]
// The Python prototype needs `caffe` importable (PYTHONPATH, see env.sh).
#include <cstdio>
#include <string>
#include <vector>

#include "benchmark_util.hpp"
#include "caffe/caffe.hpp"

using caffe::Blob;
using caffe::Layer;
using caffe::LayerParameter;
using caffe::shared_ptr;
using std::vector;

namespace {

typedef float Dtype;

shared_ptr<Layer<Dtype> > MakeLayer(bool native) {
  LayerParameter param = bench::PrototypeParameter("occlude",
      "caffe.prototypes.blank_square", "BlankSquareLayer");
  if (native) param.set_type("BlankSquare");
  return caffe::LayerRegistry<Dtype>::CreateLayer(param);
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Options options = bench::Init(argc, argv);
  std::printf("BlankSquare forward, float, ratio 0.5, %s; median times\n",
              bench::DeviceName(options).c_str());
  std::printf("%18s %10s %10s %10s %10s %10s | %8s %8s %9s %9s\n", "shape",
              "copy us", "native", "nat inpl", "proto", "proto inpl",
              "nat/copy", "inpl/cp", "proto/nat", "pinpl/inpl");
  const vector<vector<int> > shapes = {
      {64, 1, 28, 28}, {64, 3, 128, 128}, {64, 3, 224, 224}};
  for (const vector<int>& shape : shapes) {
    Blob<Dtype> input(shape), output(shape), scratch(shape);
    bench::FillUniform(&input);
    const double copy_seconds = bench::MedianSeconds(options, [&]() {
      bench::CopyBlob(options, input, &scratch);
    });
    double seconds[4];  // native, native in place, prototype, prototype in place
    for (int i = 0; i < 4; ++i) {
      const bool native = i < 2, in_place = i % 2 == 1;
      Blob<Dtype> data;
      data.CopyFrom(input, false, true);
      vector<Blob<Dtype>*> bottom{&data};
      vector<Blob<Dtype>*> top{in_place ? &data : &output};
      shared_ptr<Layer<Dtype> > layer = MakeLayer(native);
      layer->SetUp(bottom, top);
      seconds[i] = bench::MedianSeconds(options, [&]() {
        bench::MarkProducedOnDevice(options, bottom);
        layer->Forward(bottom, top);
        bench::MarkConsumedOnDevice(options, top);
      });
    }
    std::string name = std::to_string(shape[0]);
    for (size_t a = 1; a < shape.size(); ++a) name += "x" + std::to_string(shape[a]);
    std::printf("%18s %10.1f %10.1f %10.1f %10.1f %10.1f | %8.2f %8.3f %9.1f %9.1f\n",
                name.c_str(), 1e6 * copy_seconds, 1e6 * seconds[0],
                1e6 * seconds[1], 1e6 * seconds[2], 1e6 * seconds[3],
                seconds[0] / copy_seconds, seconds[1] / copy_seconds,
                seconds[2] / seconds[0], seconds[3] / seconds[1]);
  }
  return 0;
}
