// Forward+backward time of EuclideanLoss: our native layer, upstream's native
// layer (compiled from the pristine upstream tree) and the Python prototype,
// against a memory-copy roofline measured in the same run: three blob copies
// move as many bytes as one forward (read a, b) plus one backward (read a, b,
// write both gradients) must.
//
// Usage: euclidean_loss_benchmark [--gpu] [--min-time SECONDS]
// The Python prototype needs `caffe` importable (PYTHONPATH, see env.sh).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "benchmark_util.hpp"
#include "caffe/caffe.hpp"
#include "upstream_layers.hpp"

using caffe::Blob;
using caffe::Caffe;
using caffe::Layer;
using caffe::LayerParameter;
using caffe::shared_ptr;
using std::vector;

namespace {

typedef float Dtype;

shared_ptr<Layer<Dtype> > MakeLayer(const std::string& which) {
  LayerParameter param = bench::PrototypeParameter("loss",
      "caffe.prototypes.euclidean_loss", "EuclideanLossLayer");
  if (which == "upstream") return caffe::MakeUpstreamEuclideanLoss<Dtype>(param);
  if (which == "native") param.set_type("EuclideanLoss");
  return caffe::LayerRegistry<Dtype>::CreateLayer(param);
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Options options = bench::Init(argc, argv);
  const char* names[] = {"native", "upstream", "prototype"};
  std::printf("EuclideanLoss forward+backward, float, %s; median times\n",
              bench::DeviceName(options).c_str());
  std::printf("%10s %12s %12s %12s %12s | %9s %9s %9s %10s\n", "elements",
              "3 copies us", "native us", "upstream us", "proto us",
              "nat/copy", "up/copy", "up/nat", "proto/nat");
  for (int count = 1000; count <= 10000000; count *= 10) {
    const int num = count >= 100000 ? 100 : 10;
    Blob<Dtype> a(vector<int>{num, count / num});
    Blob<Dtype> b(vector<int>{num, count / num});
    Blob<Dtype> loss;
    bench::FillUniform(&a);
    bench::FillUniform(&b);
    vector<Blob<Dtype>*> bottom{&a, &b}, top{&loss};
    const vector<bool> down(2, true);

    Blob<Dtype> scratch(a.shape());
    const double copy_seconds = bench::MedianSeconds(options, [&]() {
      for (int k = 0; k < 3; ++k) bench::CopyBlob(options, a, &scratch);
    });
    double seconds[3];
    for (int i = 0; i < 3; ++i) {
      shared_ptr<Layer<Dtype> > layer = MakeLayer(names[i]);
      layer->SetUp(bottom, top);
      seconds[i] = bench::MedianSeconds(options, [&]() {
        bench::MarkProducedOnDevice(options, bottom);
        layer->Forward(bottom, top);
        layer->Backward(top, down, bottom);
        bench::ConsumeGradientsOnDevice(options, bottom);
      });
    }
    std::printf("%10d %12.1f %12.1f %12.1f %12.1f | %9.2f %9.2f %9.2f %10.1f\n",
                count, 1e6 * copy_seconds, 1e6 * seconds[0], 1e6 * seconds[1],
                1e6 * seconds[2], seconds[0] / copy_seconds,
                seconds[1] / copy_seconds, seconds[1] / seconds[0],
                seconds[2] / seconds[0]);
  }
  return 0;
}
