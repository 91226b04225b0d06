// Scale (the fork's src/caffe/layers/scale_layer.cpp on the CPU; upstream's
// GPU code with patches/0039-scale-gpu-parameter-gradient-accumulates.patch)
// against its reference: with and without bias, in place and not, the scale
// a parameter or bottom[1], over axes with several values per row and with
// one (inner_dim 1), a scale over the first axis (outer_dim 1), an
// elementwise one and a scalar one, and with each gradient asked for or not.
// Tolerances: the layer sums at most a few hundred products of values below
// 4 in Dtype, so float sums carry ~1e-5 relative error; 1e-4 for float,
// 1e-10 for double.
#include <string>
#include <vector>

#include "caffe/test/layer_reference.hpp"

namespace caffe {
namespace reference {
namespace {

// outer x dim x inner: the scale's axes are dim, those before outer.
struct ScaleDims {
  int outer, dim, inner;
};

ScaleDims ScaleDimsOf(const Pass& p) {
  const ScaleParameter& sp = p.param->scale_param();
  const std::vector<int>& shape = p.bottom[0].shape;
  const int axes = shape.size();
  const int axis = sp.axis() < 0 ? sp.axis() + axes : sp.axis();
  int dim = 1;
  if (p.bottom.size() > 1) {
    dim = p.bottom[1].count();
  } else {
    for (int a = axis; a < axis + sp.num_axes(); ++a) dim *= shape[a];
  }
  int outer = 1;
  for (int a = 0; a < axis; ++a) outer *= shape[a];
  return {outer, dim, p.bottom[0].count() / (outer * dim)};
}

const std::vector<double>& ScaleOf(const Pass& p) {
  return p.bottom.size() > 1 ? p.bottom[1].v : p.blobs[0].v;
}

// y = x * s[d] + b[d]
void ScaleForward(Pass* p) {
  const ScaleDims d = ScaleDimsOf(*p);
  const std::vector<double>& s = ScaleOf(*p);
  const bool bias = p->param->scale_param().bias_term();
  p->top.resize(1);
  p->top[0].Resize(p->bottom[0].shape);
  for (int o = 0; o < d.outer; ++o)
    for (int c = 0; c < d.dim; ++c)
      for (int i = 0; i < d.inner; ++i) {
        const int k = (o * d.dim + c) * d.inner + i;
        p->top[0].v[k] = p->bottom[0].v[k] * s[c] +
                         (bias ? p->blobs.back().v[c] : 0);
      }
}

// dx = dy * s; ds = sum dy * x; db = sum dy.
void ScaleBackward(Pass* p) {
  const ScaleDims d = ScaleDimsOf(*p);
  const std::vector<double>& s = ScaleOf(*p);
  const std::vector<double>& x = p->bottom[0].v;
  const std::vector<double>& dy = p->top_diff[0].v;
  std::vector<double> ds(d.dim, 0), db(d.dim, 0);
  p->bottom_diff[0].Resize(p->bottom[0].shape);
  for (int o = 0; o < d.outer; ++o)
    for (int c = 0; c < d.dim; ++c)
      for (int i = 0; i < d.inner; ++i) {
        const int k = (o * d.dim + c) * d.inner + i;
        p->bottom_diff[0].v[k] = dy[k] * s[c];
        ds[c] += dy[k] * x[k];
        db[c] += dy[k];
      }
  if (p->bottom.size() > 1) {
    p->bottom_diff[1].shape = p->bottom[1].shape;
    p->bottom_diff[1].v = ds;
  } else {
    p->blob_diff[0].v = ds;
  }
  if (p->param->scale_param().bias_term()) p->blob_diff.back().v = db;
}

std::string ScaleParam(int axis, int num_axes, bool bias) {
  return "scale_param { axis: " + std::to_string(axis) + " num_axes: " +
         std::to_string(num_axes) + " bias_term: " +
         (bias ? "true" : "false") + " }";
}

// Every combination of a scale bottom or parameter, bias, in place.
void AddScaleCases(const std::string& name, const std::vector<int>& shape, int axis,
            int num_axes, std::vector<Case>* cases) {
  const std::vector<int> scale_shape(shape.begin() + axis,
                                     shape.begin() + axis + num_axes);
  for (int scale_bottom = 0; scale_bottom < 2; ++scale_bottom)
  for (int bias = 0; bias < 2; ++bias)
  for (int in_place = 0; in_place < 2; ++in_place) {
    std::vector<std::vector<int> > shapes{shape};
    if (scale_bottom) shapes.push_back(scale_shape);
    Case c(name + (scale_bottom ? "/scale_bottom" : "/scale_param") +
           (bias ? "/bias" : "") + (in_place ? "/in_place" : ""),
           ScaleParam(axis, num_axes, bias), shapes);
    c.Ranges({{-2, 2}}).BlobRanges({{-2, 2}, {-1, 1}}).TopDiffRange({-2, 2})
        .InPlace(in_place).Tol(1e-4, 1e-10);
    cases->push_back(c);
  }
}

const Op& ScaleOp() {
  static const Op op = [] {
    Op op("Scale", "Scale", ScaleForward, ScaleBackward);
    // Out of place and not asked for, bottom 0's diff is upstream's GPU
    // scratch; a scale bottom's stays.
    op.keeps_unpropagated_diff = {false, true};
    std::vector<Case>& cases = op.cases;
    // Rows of 35 (four partial-sum blocks and a tail of 3).
    AddScaleCases("per_channel", {4, 6, 5, 7}, 1, 1, &cases);
    AddScaleCases("one_value_per_row", {3, 5}, 1, 1, &cases);  // inner_dim 1
    AddScaleCases("two_axes", {2, 3, 4, 5}, 1, 2, &cases);
    AddScaleCases("first_axis", {6, 4, 3}, 0, 1, &cases);      // outer_dim 1
    // An InnerProduct layer's output at batch 1: as many scales as values.
    AddScaleCases("elementwise", {1, 7}, 0, 2, &cases);
    AddScaleCases("scalar", {3, 4, 5}, 1, 0, &cases);          // one scale for all
    // Only the gradients asked for: bottom's, scale's, bias's.
    for (int scale_bottom = 0; scale_bottom < 2; ++scale_bottom)
    for (int in_place = 0; in_place < 2; ++in_place)
    for (int asked = 0; asked < 8; ++asked) {
      std::vector<std::vector<int> > shapes{{4, 6, 5, 7}};
      if (scale_bottom) shapes.push_back({6});
      Case c("asked_" + std::to_string(asked) +
             (scale_bottom ? "/scale_bottom" : "/scale_param") +
             (in_place ? "/in_place" : ""), ScaleParam(1, 1, true), shapes);
      const bool bottom = asked & 1, scale = asked & 2, bias = asked & 4;
      if (scale_bottom) {
        c.PropagateDown({bottom, scale}).ParamPropagateDown({bias});
      } else {
        c.PropagateDown({bottom}).ParamPropagateDown({scale, bias});
      }
      c.Ranges({{-2, 2}}).BlobRanges({{-2, 2}, {-1, 1}})
          .TopDiffRange({-2, 2}).InPlace(in_place).Tol(1e-4, 1e-10);
      cases.push_back(c);
    }
    // Gradients, on small shapes.
    cases.push_back(Case("gradient/scale_param/bias", ScaleParam(1, 1, true),
        {{2, 3, 4}}).BlobRanges({{-2, 2}, {-1, 1}}).Tol(1e-4, 1e-10)
        .Gradient());
    cases.push_back(Case("gradient/scale_bottom", ScaleParam(1, 2, false),
        {{2, 3, 2, 2}, {3, 2}}).Tol(1e-4, 1e-10).Gradient());
    return op;
  }();
  return op;
}

}  // namespace
}  // namespace reference

REFERENCE_TESTS(Scale, reference::ScaleOp)

}  // namespace caffe
