// Builds a net from a prototxt string with an installed Caffe, runs it
// forward and checks the values: InnerProduct with constant weights, then
// the fork's EuclideanLoss against a target.
#include <google/protobuf/text_format.h>

#include <cmath>
#include <cstdio>

#include "caffe/caffe.hpp"

namespace {

const char kNet[] = R"(
name: "consumer"
layer { name: "x" type: "Input" top: "x" top: "target"
  input_param { shape { dim: 2 dim: 3 } shape { dim: 2 dim: 2 } } }
layer { name: "ip" type: "InnerProduct" bottom: "x" top: "ip"
  inner_product_param { num_output: 2
    weight_filler { type: "constant" value: 1 }
    bias_filler { type: "constant" value: 0.5 } } }
layer { name: "loss" type: "EuclideanLoss" bottom: "ip" bottom: "target"
  top: "loss" }
)";

}  // namespace

int main() {
  caffe::Caffe::set_mode(caffe::Caffe::CPU);
  caffe::NetParameter param;
  if (!google::protobuf::TextFormat::ParseFromString(kNet, &param)) {
    std::fprintf(stderr, "consumer: the prototxt does not parse\n");
    return 1;
  }
  param.mutable_state()->set_phase(caffe::TEST);
  caffe::Net<float> net(param);

  // x = [[1 2 3] [4 5 6]]: ip = row sums + 0.5 = 6.5 and 15.5 in each
  // column; target 0, so loss = (2 * 6.5^2 + 2 * 15.5^2) / (2 * 2).
  float* x = net.blob_by_name("x")->mutable_cpu_data();
  for (int i = 0; i < 6; ++i) x[i] = i + 1;
  float* target = net.blob_by_name("target")->mutable_cpu_data();
  for (int i = 0; i < 4; ++i) target[i] = 0;
  net.Forward();

  const float* ip = net.blob_by_name("ip")->cpu_data();
  const float expected_ip[4] = {6.5f, 6.5f, 15.5f, 15.5f};
  for (int i = 0; i < 4; ++i) {
    if (ip[i] != expected_ip[i]) {  // sums of small integers: exact in float
      std::fprintf(stderr, "consumer: ip[%d] = %g, expected %g\n", i, ip[i],
                   expected_ip[i]);
      return 1;
    }
  }
  const double expected_loss = (2 * 6.5 * 6.5 + 2 * 15.5 * 15.5) / 4;
  const float loss = net.blob_by_name("loss")->cpu_data()[0];
  if (std::fabs(loss - expected_loss) > 1e-6 * expected_loss) {
    std::fprintf(stderr, "consumer: loss %g, expected %g\n", loss,
                 expected_loss);
    return 1;
  }
  std::printf("consumer: net forward ok, loss %g\n", loss);
  return 0;
}
