// EuclideanLoss against its reference: the loss and Forward's return value
// (the loss times loss_weight), gradients for each input alone, both and
// neither (a bottom that does not propagate keeps its diff), the top diff
// (the loss weight in a net) scaling them, inputs of the same first axis
// and count but another trailing shape, and counts below, between and at
// whole SIMD vectors. The layer sums in double and rounds each gradient
// element once: 1e-6 for float, 1e-12 for double.
#include <string>
#include <vector>

#include "caffe/test/layer_reference.hpp"

namespace caffe {
namespace reference {

double EuclideanLossReference(const std::vector<int>& shape,
    const std::vector<double>& a, const std::vector<double>& b,
    std::vector<double>* grad_a) {
  const int num = shape[0];
  double sum = 0;
  if (grad_a) grad_a->resize(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = a[i] - b[i];
    sum += d * d;
    if (grad_a) (*grad_a)[i] = d / num;
  }
  return sum / (2.0 * num);
}

namespace {

void EuclideanLossForward(Pass* p) {
  p->top.resize(1);
  p->top[0].Resize({});
  p->top[0].v[0] = EuclideanLossReference(p->bottom[0].shape, p->bottom[0].v,
                                          p->bottom[1].v, NULL);
}

// grad_a = top_diff (a - b) / N; grad_b = -grad_a.
void EuclideanLossBackward(Pass* p) {
  std::vector<double> grad;
  EuclideanLossReference(p->bottom[0].shape, p->bottom[0].v, p->bottom[1].v,
                         &grad);
  for (int b = 0; b < 2; ++b) {
    p->bottom_diff[b].shape = p->bottom[b].shape;
    p->bottom_diff[b].v = grad;
    for (double& g : p->bottom_diff[b].v) {
      g *= (b == 0 ? 1 : -1) * p->top_diff[0].v[0];
    }
  }
}

const Op& EuclideanLossOp() {
  static const Op op = [] {
    Op op("EuclideanLoss", "EuclideanLoss", EuclideanLossForward,
          EuclideanLossBackward);
    op.loss = true;
    op.keeps_unpropagated_diff = {true, true};
    std::vector<Case>& cases = op.cases;
    const std::vector<std::vector<int> > shapes{{10, 5, 1, 1}, {10, 5, 1, 1}};
    cases.push_back(Case("both", "", shapes).Ranges({{-2, 2}})
        .TopDiffRange({1, 1}).Tol(1e-6, 1e-12));
    cases.push_back(Case("loss_weight_3.5", "loss_weight: 3.5", shapes)
        .Ranges({{-2, 2}}).TopDiffRange({3.5, 3.5}).Tol(1e-6, 1e-12));
    cases.push_back(Case("first_only", "", shapes).Ranges({{-2, 2}})
        .PropagateDown({true, false}).TopDiffRange({0.5, 2}).Tol(1e-6, 1e-12));
    cases.push_back(Case("second_only", "loss_weight: 2", shapes)
        .Ranges({{-2, 2}}).PropagateDown({false, true}).TopDiffRange({2, 2})
        .Tol(1e-6, 1e-12));
    cases.push_back(Case("neither", "", shapes).Ranges({{-2, 2}})
        .PropagateDown({false, false}).Tol(1e-6, 1e-12));
    // Same first axis and count, another trailing shape: accepted, as
    // upstream accepts it (10x5 predictions against 10x5x1x1 targets).
    cases.push_back(Case("non_batch_shapes", "", {{10, 5, 1, 1}, {10, 5}})
        .Ranges({{-2, 2}}).Tol(1e-6, 1e-12));
    // Below one vector, between vectors, whole vectors, several blocks.
    for (int dim : {1, 3, 5, 8, 4097}) {
      cases.push_back(Case("count_2x" + std::to_string(dim), "loss_weight: 1.5",
          {{2, dim}, {2, dim}}).Ranges({{-2, 2}}).Tol(1e-6, 1e-12));
    }
    cases.push_back(Case("gradient", "loss_weight: 3.7", shapes)
        .Ranges({{-2, 2}}).Tol(1e-6, 1e-12).Gradient());
    return op;
  }();
  return op;
}

}  // namespace
}  // namespace reference

REFERENCE_TESTS(EuclideanLoss, reference::EuclideanLossOp)

}  // namespace caffe
