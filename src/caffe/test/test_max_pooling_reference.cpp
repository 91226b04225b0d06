// Caffe's max pooling (patches/0027-max-pooling-cpu-forward-without-branches
// .patch rewrote the CPU forward without branches; upstream's GPU kernels)
// against its reference. Max pooling of rectified activations meets many
// windows with several equal maxima (zeros most of all): Caffe, CPU and
// GPU, takes the first of them in row-major order as the window's argmax
// and routes the whole gradient there. The ties rows hold it to that rule,
// which upstream's tests, on Gaussian inputs without ties, do not check:
// rectified small integers and all-negative input (no window's maximum is
// its start value), windows tiling with a ragged edge and overlapping with
// padding, with and without the argmax as a second top. Not differentiable
// at ties: only rows of distinct random values have a gradient check.
// Outputs and argmaxes are exact; bottom diffs add up to 4 top diffs, which
// float rounds.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "caffe/test/layer_reference.hpp"

namespace caffe {
namespace reference {
namespace {

struct PoolingGeometry {
  int num, channels, height, width, kernel, stride, pad, pooled_h, pooled_w;
};

// Caffe's pooled size: ceil, then no window that starts in the padding.
int PooledSize(int size, int kernel, int stride, int pad) {
  int pooled = static_cast<int>(std::ceil(
      static_cast<float>(size + 2 * pad - kernel) / stride)) + 1;
  if (pad > 0 && (pooled - 1) * stride >= size + pad) --pooled;
  return pooled;
}

PoolingGeometry PoolingGeometryOf(const Pass& p) {
  const PoolingParameter& pp = p.param->pooling_param();
  const std::vector<int>& s = p.bottom[0].shape;
  PoolingGeometry g = {s[0], s[1], s[2], s[3], static_cast<int>(pp.kernel_size()),
                       static_cast<int>(pp.stride()), static_cast<int>(pp.pad()),
                       0, 0};
  g.pooled_h = PooledSize(g.height, g.kernel, g.stride, g.pad);
  g.pooled_w = PooledSize(g.width, g.kernel, g.stride, g.pad);
  return g;
}

// Calls f(top_index, bottom_index of the window's first maximum).
template <typename F>
void ForEachWindow(const PoolingGeometry& g, const std::vector<double>& x,
                   F f) {
  int t = 0;
  for (int n = 0; n < g.num; ++n)
    for (int c = 0; c < g.channels; ++c)
      for (int ph = 0; ph < g.pooled_h; ++ph)
        for (int pw = 0; pw < g.pooled_w; ++pw, ++t) {
          const int h0 = std::max(ph * g.stride - g.pad, 0);
          const int w0 = std::max(pw * g.stride - g.pad, 0);
          const int h1 = std::min(ph * g.stride - g.pad + g.kernel, g.height);
          const int w1 = std::min(pw * g.stride - g.pad + g.kernel, g.width);
          const int plane = (n * g.channels + c) * g.height * g.width;
          int argmax = -1;
          for (int h = h0; h < h1; ++h)
            for (int w = w0; w < w1; ++w)
              if (argmax < 0 || x[plane + h * g.width + w] > x[argmax]) {
                argmax = plane + h * g.width + w;
              }
          f(t, argmax, argmax - plane);
        }
}

// Each window's maximum; the second top, if any, its first argmax (h * W
// + w).
void MaxPoolingForward(Pass* p) {
  const PoolingGeometry g = PoolingGeometryOf(*p);
  const std::vector<int> shape{g.num, g.channels, g.pooled_h, g.pooled_w};
  const bool mask = p->param->top_size() > 1;
  p->top.resize(mask ? 2 : 1);
  for (Tensor& t : p->top) t.Resize(shape);
  ForEachWindow(g, p->bottom[0].v, [&](int t, int argmax, int in_plane) {
    p->top[0].v[t] = p->bottom[0].v[argmax];
    if (mask) p->top[1].v[t] = in_plane;
  });
}

// The whole of a window's top diff to its first maximum.
void MaxPoolingBackward(Pass* p) {
  const PoolingGeometry g = PoolingGeometryOf(*p);
  p->bottom_diff[0].Resize(p->bottom[0].shape);
  ForEachWindow(g, p->bottom[0].v, [&](int t, int argmax, int) {
    p->bottom_diff[0].v[argmax] += p->top_diff[0].v[t];
  });
}

// Rectified small integers: three in five are 0, and the rest 1 or 2.
double Rectified(const std::vector<int>& s, int i) {
  const int w = i % s[3], h = i / s[3] % s[2], c = i / (s[2] * s[3]) % s[1];
  const int n = i / (s[1] * s[2] * s[3]);
  return std::max(0, (n * 31 + c * 17 + h * 7 + w * 3) % 5 - 2);
}

// All negative, ties at -1 and -2.
double Negative(const std::vector<int>& s, int i) {
  const int w = i % s[3], h = i / s[3] % s[2], c = i / (s[2] * s[3]) % s[1];
  const int n = i / (s[1] * s[2] * s[3]);
  return -1 - (n + c + h * 5 + w) % 2;
}

std::string MaxPoolingParam(int kernel, int stride, int pad, bool mask) {
  // Caffe's engine: cuDNN's keeps no argmax.
  return std::string(mask ? "top: 'pool' top: 'mask' " : "") +
      "pooling_param { pool: MAX engine: CAFFE kernel_size: " +
      std::to_string(kernel) + " stride: " + std::to_string(stride) +
      " pad: " + std::to_string(pad) + " }";
}

const Op& MaxPoolingOp() {
  static const Op op = [] {
    Op op("MaxPooling", "Pooling", MaxPoolingForward, MaxPoolingBackward);
    // Tiling with a ragged edge; overlapping with padding; overlapping.
    const int windows[][3] = {{2, 2, 0}, {3, 2, 1}, {3, 1, 0}};
    const struct { const char* name; Pattern values; } inputs[] = {
        {"rectified", Rectified}, {"negative", Negative}};
    for (const auto& input : inputs)
    for (const auto& w : windows)
    for (int mask = 0; mask < 2; ++mask) {
      op.cases.push_back(Case(std::string("ties/") + input.name + "/kernel_" +
          std::to_string(w[0]) + "_stride_" + std::to_string(w[1]) + "_pad_" +
          std::to_string(w[2]) + (mask ? "/mask" : ""),
          MaxPoolingParam(w[0], w[1], w[2], mask), {{2, 3, 7, 9}})
          .Values(input.values).Tops(mask ? 2 : 1).Tol(1e-6, 1e-14));
    }
    // Distinct random values: differentiable.
    op.cases.push_back(Case("random/kernel_3_stride_2_pad_1",
        MaxPoolingParam(3, 2, 1, false), {{2, 2, 5, 7}}).Tol(1e-6, 1e-14)
        .Gradient(1e-4, 1e-2));
    op.cases.push_back(Case("random/kernel_2_stride_2/mask",
        MaxPoolingParam(2, 2, 0, true), {{1, 3, 6, 5}}).Tops(2)
        .Tol(1e-6, 1e-14));
    return op;
  }();
  return op;
}

}  // namespace
}  // namespace reference

REFERENCE_TESTS(MaxPooling, reference::MaxPoolingOp)

}  // namespace caffe
