// upstream's Im2col layer, whose forward is im2col and backward col2im
// (im2col_cpu and col2im_cpu as
// patches/0030-im2col-cpu-rows-without-per-element-branches.patch has them;
// upstream's GPU kernels), against a reference that computes every element
// from its definition, over shapes that include strides, dilations, padding
// wider than the kernel, kernels wider than the image, and a sweep of random
// small shapes. im2col copies elements, which 1e-6 cannot confuse with one
// another. col2im adds up to kernel_h x kernel_w values per image element,
// which float rounds: 1e-6 for float, 1e-14 for double.
#include <random>
#include <string>
#include <vector>

#include "caffe/test/layer_reference.hpp"

namespace caffe {
namespace reference {
namespace {

struct Im2colGeometry {
  int channels, height, width, kernel_h, kernel_w, pad_h, pad_w, stride_h,
      stride_w, dilation_h, dilation_w;
  int output_h() const {
    return (height + 2 * pad_h - (dilation_h * (kernel_h - 1) + 1)) /
        stride_h + 1;
  }
  int output_w() const {
    return (width + 2 * pad_w - (dilation_w * (kernel_w - 1) + 1)) /
        stride_w + 1;
  }
};

Im2colGeometry Im2colGeometryOf(const Pass& p) {
  const ConvolutionParameter& cp = p.param->convolution_param();
  const std::vector<int>& s = p.bottom[0].shape;
  auto either = [](bool has, int value, int size, int repeated) {
    return has ? value : size ? repeated : -1;
  };
  Im2colGeometry g;
  g.channels = s[1];
  g.height = s[2];
  g.width = s[3];
  g.kernel_h = either(cp.has_kernel_h(), cp.kernel_h(), cp.kernel_size_size(),
                      cp.kernel_size_size() ? cp.kernel_size(0) : 0);
  g.kernel_w = either(cp.has_kernel_w(), cp.kernel_w(), cp.kernel_size_size(),
      cp.kernel_size_size() ? cp.kernel_size(cp.kernel_size_size() - 1) : 0);
  g.pad_h = cp.has_pad_h() ? cp.pad_h() : cp.pad_size() ? cp.pad(0) : 0;
  g.pad_w = cp.has_pad_w() ? cp.pad_w() :
            cp.pad_size() ? cp.pad(cp.pad_size() - 1) : 0;
  g.stride_h = cp.has_stride_h() ? cp.stride_h() :
               cp.stride_size() ? cp.stride(0) : 1;
  g.stride_w = cp.has_stride_w() ? cp.stride_w() :
               cp.stride_size() ? cp.stride(cp.stride_size() - 1) : 1;
  g.dilation_h = cp.dilation_size() ? cp.dilation(0) : 1;
  g.dilation_w = cp.dilation_size() ? cp.dilation(cp.dilation_size() - 1) : 1;
  return g;
}

// Calls f(col_index, im_index) for every column element of one image,
// im_index -1 where it reads padding, in the column buffer's order.
template <typename F>
void ForEachIm2colElement(const Im2colGeometry& g, F f) {
  int col = 0;
  for (int c = 0; c < g.channels; ++c)
    for (int kh = 0; kh < g.kernel_h; ++kh)
      for (int kw = 0; kw < g.kernel_w; ++kw)
        for (int oh = 0; oh < g.output_h(); ++oh)
          for (int ow = 0; ow < g.output_w(); ++ow, ++col) {
            const int ih = oh * g.stride_h - g.pad_h + kh * g.dilation_h;
            const int iw = ow * g.stride_w - g.pad_w + kw * g.dilation_w;
            const bool inside = ih >= 0 && ih < g.height && iw >= 0 &&
                iw < g.width;
            f(col, inside ? (c * g.height + ih) * g.width + iw : -1);
          }
}

// The column of image n: its element, or 0 in the padding.
void Im2colForward(Pass* p) {
  const Im2colGeometry g = Im2colGeometryOf(*p);
  const int num = p->bottom[0].shape[0];
  const int im = g.channels * g.height * g.width;
  const int col = g.channels * g.kernel_h * g.kernel_w * g.output_h() *
                  g.output_w();
  p->top.resize(1);
  p->top[0].Resize({num, g.channels * g.kernel_h * g.kernel_w, g.output_h(),
                    g.output_w()});
  for (int n = 0; n < num; ++n) {
    ForEachIm2colElement(g, [&](int c, int i) {
      p->top[0].v[n * col + c] = i < 0 ? 0 : p->bottom[0].v[n * im + i];
    });
  }
}

// col2im: each image element, the sum of the column elements that read it.
void Im2colBackward(Pass* p) {
  const Im2colGeometry g = Im2colGeometryOf(*p);
  const int num = p->bottom[0].shape[0];
  const int im = g.channels * g.height * g.width;
  const int col = p->top_diff[0].count() / num;
  p->bottom_diff[0].Resize(p->bottom[0].shape);
  for (int n = 0; n < num; ++n) {
    ForEachIm2colElement(g, [&](int c, int i) {
      if (i >= 0) p->bottom_diff[0].v[n * im + i] += p->top_diff[0].v[n * col + c];
    });
  }
}

std::string Im2colParam(const Im2colGeometry& g) {
  std::string s = "convolution_param {";
  auto add = [&s](const char* name, int value) {
    s += std::string(" ") + name + ": " + std::to_string(value);
  };
  add("kernel_h", g.kernel_h);
  add("kernel_w", g.kernel_w);
  add("pad_h", g.pad_h);
  add("pad_w", g.pad_w);
  add("stride_h", g.stride_h);
  add("stride_w", g.stride_w);
  add("dilation", g.dilation_h);
  add("dilation", g.dilation_w);
  return s + " }";
}

Case Im2colCase(const std::string& name, int num, const Im2colGeometry& g) {
  return Case(name, Im2colParam(g), {{num, g.channels, g.height, g.width}})
      .Tol(1e-6, 1e-14);
}

const Op& Im2colOp() {
  static const Op op = [] {
    Op op("Im2col", "Im2col", Im2colForward, Im2colBackward);
    std::vector<Case>& cases = op.cases;
    cases.push_back(Im2colCase("3x3_pad_1", 2,
        {4, 9, 11, 3, 3, 1, 1, 1, 1, 1, 1}));
    cases.push_back(Im2colCase("3x3_stride_2", 2,
        {4, 9, 11, 3, 3, 1, 1, 2, 2, 1, 1}));
    cases.push_back(Im2colCase("lenet_conv2", 1,
        {20, 12, 12, 5, 5, 0, 0, 1, 1, 1, 1}));
    cases.push_back(Im2colCase("kernel_wider_than_the_image", 2,
        {2, 3, 4, 5, 7, 3, 4, 1, 1, 1, 1}));
    cases.push_back(Im2colCase("padding_wider_than_the_kernel", 2,
        {2, 5, 6, 2, 3, 6, 5, 3, 2, 1, 1}));
    cases.push_back(Im2colCase("dilation", 1,
        {1, 9, 9, 3, 3, 2, 2, 1, 1, 3, 3}));
    cases.push_back(Im2colCase("dilation_2x1", 2,
        {2, 7, 8, 2, 3, 1, 0, 2, 1, 2, 1}));
    cases.push_back(Im2colCase("one_pixel", 1,
        {1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1}));
    // Gradients, on small shapes (float's sum of squares of many tops
    // would swamp the finite differences).
    cases.push_back(Im2colCase("gradient/3x3_pad_1", 1,
        {2, 4, 5, 3, 3, 1, 1, 1, 1, 1, 1}).Gradient());
    cases.push_back(Im2colCase("gradient/dilation_stride_pad", 2,
        {1, 5, 6, 2, 3, 2, 1, 2, 1, 2, 1}).Gradient());
    // Random shapes, each with at least one output pixel.
    std::mt19937 rng(1701);
    auto draw = [&rng](int lo, int hi) {
      return std::uniform_int_distribution<int>(lo, hi)(rng);
    };
    for (int k = 0; k < 300;) {
      const Im2colGeometry g = {draw(1, 3), draw(1, 9), draw(1, 9), draw(1, 5),
                                draw(1, 5), draw(0, 4), draw(0, 4), draw(1, 3),
                                draw(1, 3), draw(1, 3), draw(1, 3)};
      if (g.height + 2 * g.pad_h >= g.dilation_h * (g.kernel_h - 1) + 1 &&
          g.width + 2 * g.pad_w >= g.dilation_w * (g.kernel_w - 1) + 1) {
        cases.push_back(Im2colCase("random_" + std::to_string(k++), 1, g));
      }
    }
    return op;
  }();
  return op;
}

}  // namespace
}  // namespace reference

REFERENCE_TESTS(Im2col, reference::Im2colOp)

}  // namespace caffe
