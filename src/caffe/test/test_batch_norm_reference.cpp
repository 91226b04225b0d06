// BatchNorm (the fork's src/caffe/layers/batch_norm_layer.cpp on the CPU,
// upstream's GPU code) against its reference: training statistics and
// stored (global) ones, in place and not, over shapes with one and several
// values per row; the moving averages it keeps (blobs 0 and 1, and the
// scale factor, blob 2) after one and two passes, from stored averages that
// are not zero.
// Tolerances: the layer sums at most a few hundred values in Dtype, so its
// statistics carry a relative error of about count * epsilon (float: ~1e-5
// at worst here); outputs are about 1 in size, hence 1e-4 for float and
// 1e-10 for double.
#include <cmath>
#include <string>
#include <vector>

#include "caffe/test/layer_reference.hpp"

namespace caffe {
namespace reference {
namespace {

struct BatchNormDims {
  int num, channels, spatial;
  int at(int n, int c, int s) const { return (n * channels + c) * spatial + s; }
};

BatchNormDims BatchNormDimsOf(const Tensor& x) {
  const int num = x.shape[0], channels = x.shape.size() > 1 ? x.shape[1] : 1;
  return {num, channels, x.count() / (num * channels)};
}

bool UsesGlobalStats(const LayerParameter& param) {
  const BatchNormParameter& bp = param.batch_norm_param();
  return bp.has_use_global_stats() ? bp.use_global_stats() :
         param.phase() == TEST;
}

// Per channel: the statistics the pass normalizes with, the batch's or the
// stored ones.
void BatchNormStatistics(const Pass& p, std::vector<double>* mean,
                         std::vector<double>* var) {
  const BatchNormDims d = BatchNormDimsOf(p.bottom[0]);
  const std::vector<double>& x = p.bottom[0].v;
  mean->assign(d.channels, 0);
  var->assign(d.channels, 0);
  if (UsesGlobalStats(*p.param)) {
    const double factor = p.blobs[2].v[0];
    const double scale = factor == 0 ? 0 : 1 / factor;
    for (int c = 0; c < d.channels; ++c) {
      (*mean)[c] = p.blobs[0].v[c] * scale;
      (*var)[c] = p.blobs[1].v[c] * scale;
    }
    return;
  }
  const int m = d.num * d.spatial;
  for (int c = 0; c < d.channels; ++c) {
    for (int n = 0; n < d.num; ++n)
      for (int s = 0; s < d.spatial; ++s) (*mean)[c] += x[d.at(n, c, s)];
    (*mean)[c] /= m;
    for (int n = 0; n < d.num; ++n)
      for (int s = 0; s < d.spatial; ++s) {
        const double dx = x[d.at(n, c, s)] - (*mean)[c];
        (*var)[c] += dx * dx;
      }
    (*var)[c] /= m;
  }
}

// y = (x - mean) / sqrt(var + eps); in training the stored averages become
// fraction * stored + (mean, var * m / (m - 1)), the factor fraction * it + 1.
void BatchNormForward(Pass* p) {
  const BatchNormDims d = BatchNormDimsOf(p->bottom[0]);
  const BatchNormParameter& bp = p->param->batch_norm_param();
  std::vector<double> mean, var;
  BatchNormStatistics(*p, &mean, &var);
  p->top.resize(1);
  p->top[0].Resize(p->bottom[0].shape);
  for (int n = 0; n < d.num; ++n)
    for (int c = 0; c < d.channels; ++c)
      for (int s = 0; s < d.spatial; ++s) {
        const int i = d.at(n, c, s);
        p->top[0].v[i] = (p->bottom[0].v[i] - mean[c]) /
                         std::sqrt(var[c] + bp.eps());
      }
  if (UsesGlobalStats(*p->param)) return;
  const double fraction = bp.moving_average_fraction();
  const int m = d.num * d.spatial;
  p->blobs[2].v[0] = p->blobs[2].v[0] * fraction + 1;
  for (int c = 0; c < d.channels; ++c) {
    p->blobs[0].v[c] = fraction * p->blobs[0].v[c] + mean[c];
    p->blobs[1].v[c] = fraction * p->blobs[1].v[c] +
                       (m > 1 ? var[c] * m / (m - 1) : var[c]);
  }
}

// Global: dx = dy / sqrt(var + eps). Training:
// dx = (dy - mean(dy) - mean(dy * y) * y) / sqrt(var + eps).
void BatchNormBackward(Pass* p) {
  const BatchNormDims d = BatchNormDimsOf(p->bottom[0]);
  const double eps = p->param->batch_norm_param().eps();
  std::vector<double> mean, var;
  BatchNormStatistics(*p, &mean, &var);
  const bool global = UsesGlobalStats(*p->param);
  const std::vector<double>& x = p->bottom[0].v;
  const std::vector<double>& dy = p->top_diff[0].v;
  Tensor& dx = p->bottom_diff[0];
  dx.Resize(p->bottom[0].shape);
  const int m = d.num * d.spatial;
  for (int c = 0; c < d.channels; ++c) {
    const double sd = std::sqrt(var[c] + eps);
    double mean_dy = 0, mean_dy_y = 0;
    for (int n = 0; n < d.num; ++n)
      for (int s = 0; s < d.spatial; ++s) {
        const int i = d.at(n, c, s);
        mean_dy += dy[i] / m;
        mean_dy_y += dy[i] * (x[i] - mean[c]) / sd / m;
      }
    for (int n = 0; n < d.num; ++n)
      for (int s = 0; s < d.spatial; ++s) {
        const int i = d.at(n, c, s);
        const double y = (x[i] - mean[c]) / sd;
        dx.v[i] = global ? dy[i] / sd : (dy[i] - mean_dy - mean_dy_y * y) / sd;
      }
  }
  // The statistics are not learned: no gradient.
  for (size_t k = 0; k < p->blobs.size(); ++k) {
    p->blob_diff[k].Resize({p->blobs[k].count()});
  }
}

const Op& BatchNormOp() {
  static const Op op = [] {
    Op op("BatchNorm", "BatchNorm", BatchNormForward, BatchNormBackward);
    const std::vector<std::vector<int> > shapes = {
        {4, 3, 5, 6}, {8, 2, 1, 1}, {6, 5}, {2, 4, 16, 16}, {3, 3, 1, 7}};
    for (const std::vector<int>& shape : shapes) {
      std::string name;
      for (int d : shape) name += (name.empty() ? "" : "x") + std::to_string(d);
      for (int global = 0; global < 2; ++global)
      for (int in_place = 0; in_place < 2; ++in_place) {
        Case c((global ? "global/" : "training/") + name +
               (in_place ? "/in_place" : ""),
               std::string("batch_norm_param { use_global_stats: ") +
               (global ? "true" : "false") + " }", {shape});
        // Stored averages (and a factor of 2 to 4) the pass reads or
        // updates.
        c.Ranges({{-1, 3}}).BlobRanges({{-1, 1}, {0.5, 2}, {2, 4}})
            .TopDiffRange({-2, 2}).InPlace(in_place).Tol(1e-4, 1e-10);
        op.cases.push_back(c);
      }
    }
    // Two passes: the averages update twice; a moving average fraction of
    // 0.9 and an eps of 1e-3; the phase deciding the statistics.
    op.cases.push_back(Case("training/two_passes",
        "batch_norm_param { use_global_stats: false "
        "moving_average_fraction: 0.9 eps: 1e-3 }", {{4, 3, 2, 3}})
        .Ranges({{-1, 3}}).BlobRanges({{-1, 1}, {0.5, 2}, {2, 4}})
        .Passes(2).Tol(1e-4, 1e-10));
    op.cases.push_back(Case("phase_test_uses_global", "phase: TEST",
        {{4, 3, 2, 3}}).Ranges({{-1, 3}})
        .BlobRanges({{-1, 1}, {0.5, 2}, {2, 4}}).Tol(1e-4, 1e-10));
    op.cases.push_back(Case("phase_train_uses_batch", "phase: TRAIN",
        {{4, 3, 2, 3}}).Ranges({{-1, 3}})
        .BlobRanges({{-1, 1}, {0.5, 2}, {2, 4}}).Tol(1e-4, 1e-10));
    // A stored factor of 0: statistics of zero.
    op.cases.push_back(Case("global/factor_zero",
        "batch_norm_param { use_global_stats: true }", {{2, 3, 2, 2}})
        .BlobRanges({{-1, 1}, {0.5, 2}, {0, 0}}).Tol(1e-4, 1e-10));
    // Gradients: in training (the stored averages do not enter the output;
    // with global statistics they do, and have no gradient, which
    // GradientChecker would check).
    op.cases.push_back(Case("gradient/training",
        "batch_norm_param { use_global_stats: false }", {{2, 3, 2, 3}})
        .Ranges({{-1, 3}}).Tol(1e-4, 1e-10).Gradient(1e-2, 1e-4));
    return op;
  }();
  return op;
}

}  // namespace
}  // namespace reference

REFERENCE_TESTS(BatchNorm, reference::BatchNormOp)

}  // namespace caffe
