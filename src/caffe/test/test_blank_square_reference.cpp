// BlankSquare against its reference, where the squares do not depend on a
// draw: fixed offsets (corners, the middle, odd places; per batch and per
// sample; in place and not; over two passes), probability 0 and the TEST
// phase (the identity), apply_in_test, and shapes of 3 to 5 axes with odd
// widths, so that rows of the squares start at every alignment. It only
// copies and fills: results are exact, and bit for bit alike on both
// devices. The rows with random squares (per sample, probability 0.7) have
// no reference; their placement and CPU == GPU checks still run.
#include <cmath>
#include <string>
#include <vector>

#include "caffe/test/layer_reference.hpp"

namespace caffe {
namespace reference {

void BlankSquareReference(const std::vector<int>& shape, int square_h,
    int square_w, const std::vector<PixelYX>& corners, double fill,
    const std::vector<double>& in, std::vector<double>* out) {
  const int height = shape[shape.size() - 2], width = shape.back();
  const int plane = height * width;
  const int per_image = static_cast<int>(in.size()) / shape[0];
  *out = in;
  for (int i = 0; i < static_cast<int>(in.size()); ++i) {
    const PixelYX corner = corners[i / per_image];
    const int y = i % plane / width, x = i % width;
    if (corner.x >= 0 && y >= corner.y && y < corner.y + square_h &&
        x >= corner.x && x < corner.x + square_w) {
      (*out)[i] = fill;
    }
  }
}

namespace {

// The squares of a pass with fixed offsets: floor(ratio x side) (the float
// ratio: 0.7f x 10 is 7), at (offset_h, offset_w) in every image, or none.
void BlankSquareOf(const Pass& p, int* square_h, int* square_w,
                   std::vector<PixelYX>* corners) {
  const BlankSquareParameter& bp = p.param->blank_square_param();
  const std::vector<int>& shape = p.bottom[0].shape;
  *square_h = static_cast<int>(std::floor(
      double(bp.ratio()) * shape[shape.size() - 2] + 1e-4));
  *square_w = static_cast<int>(std::floor(
      double(bp.ratio()) * shape.back() + 1e-4));
  const bool occludes = (p.param->phase() == TRAIN || bp.apply_in_test()) &&
                        bp.probability() == 1;
  CHECK(!occludes || (bp.has_offset_h() && bp.has_offset_w()))
      << "BlankSquare's reference needs fixed offsets";
  corners->assign(shape[0], occludes ? PixelYX{static_cast<int>(
      bp.offset_h()), static_cast<int>(bp.offset_w())} : PixelYX{-1, -1});
}

void BlankSquareForward(Pass* p) {
  int h, w;
  std::vector<PixelYX> corners;
  BlankSquareOf(*p, &h, &w, &corners);
  p->top.resize(1);
  p->top[0].shape = p->bottom[0].shape;
  BlankSquareReference(p->bottom[0].shape, h, w, corners,
      p->param->blank_square_param().fill_value(), p->bottom[0].v,
      &p->top[0].v);
}

// The top diff outside the squares, 0 inside.
void BlankSquareBackward(Pass* p) {
  int h, w;
  std::vector<PixelYX> corners;
  BlankSquareOf(*p, &h, &w, &corners);
  p->bottom_diff[0].shape = p->bottom[0].shape;
  BlankSquareReference(p->bottom[0].shape, h, w, corners, 0,
                       p->top_diff[0].v, &p->bottom_diff[0].v);
}

const Op& BlankSquareOp() {
  static const Op op = [] {
    Op op("BlankSquare", "BlankSquare", BlankSquareForward,
          BlankSquareBackward);
    std::vector<Case>& cases = op.cases;
    // 28 x 28 at ratio 0.5 (14 x 14): the corners, the middle, an odd place.
    const int offsets[][2] = {{0, 0}, {14, 14}, {0, 14}, {14, 0}, {7, 3}};
    for (const auto& o : offsets)
    for (int per_sample = 0; per_sample < 2; ++per_sample)
    for (int in_place = 0; in_place < 2; ++in_place) {
      cases.push_back(Case("offset_" + std::to_string(o[0]) + "_" +
          std::to_string(o[1]) + (per_sample ? "/per_sample" : "") +
          (in_place ? "/in_place" : ""),
          "name: 'occlude' blank_square_param { offset_h: " +
          std::to_string(o[0]) + " offset_w: " + std::to_string(o[1]) +
          (per_sample ? " per_sample: true" : "") + " }", {{2, 3, 28, 28}})
          .Ranges({{1, 2}}).InPlace(in_place).Passes(2).Tol(0, 0));
    }
    // Odd shapes, fill values and ratios: rows at every alignment.
    const struct { const char* name; std::vector<int> shape; const char* p; }
        odd[] = {
      {"3_axes", {3, 10, 7}, "ratio: 0.7 offset_h: 2 offset_w: 1"},
      {"5_axes", {1, 2, 3, 11, 9}, "ratio: 0.3 offset_h: 5 offset_w: 6"},
      {"27x31", {2, 3, 27, 31}, "ratio: 0.4 offset_h: 9 offset_w: 15 "
                                "fill_value: -3"},
      {"11x203", {2, 1, 11, 203}, "ratio: 0.4 offset_h: 3 offset_w: 101"},
      {"square_2x1", {3, 2, 5, 3}, "ratio: 0.4 offset_h: 3 offset_w: 2"},
      {"whole_image", {2, 2, 6, 13}, "ratio: 1 offset_h: 0 offset_w: 0"},
    };
    for (const auto& c : odd) {
      for (int in_place = 0; in_place < 2; ++in_place) {
        cases.push_back(Case(std::string(c.name) +
            (in_place ? "/in_place" : ""), std::string("name: 'occlude' "
            "blank_square_param { ") + c.p + " }", {c.shape})
            .Ranges({{-2, 2}}).InPlace(in_place).Tol(0, 0));
      }
    }
    cases.push_back(Case("probability_0_is_the_identity",
        "name: 'occlude' blank_square_param { probability: 0 }",
        {{4, 3, 28, 28}}).Ranges({{1, 2}}).Tol(0, 0));
    cases.push_back(Case("test_phase_is_the_identity",
        "name: 'occlude' phase: TEST", {{4, 3, 28, 28}}).Ranges({{1, 2}})
        .Tol(0, 0));
    cases.push_back(Case("apply_in_test", "name: 'occlude' phase: TEST "
        "blank_square_param { apply_in_test: true offset_h: 2 offset_w: 5 }",
        {{4, 3, 28, 28}}).Ranges({{1, 2}}).Tol(0, 0));
    cases.push_back(Case("gradient", "name: 'occlude' blank_square_param { "
        "offset_h: 1 offset_w: 2 }", {{2, 2, 5, 7}}).Tol(0, 0).Gradient());
    // Random squares, per sample and per batch, some images left alone.
    for (int per_sample = 0; per_sample < 2; ++per_sample)
    for (int in_place = 0; in_place < 2; ++in_place) {
      cases.push_back(Case(std::string("random") +
          (per_sample ? "/per_sample" : "") + (in_place ? "/in_place" : ""),
          std::string("name: 'occlude' blank_square_param { ratio: 0.4 "
          "probability: 0.7 fill_value: -3") +
          (per_sample ? " per_sample: true" : "") + " }", {{6, 3, 13, 37}})
          .InPlace(in_place).Passes(3).Tol(0, 0)
          .NoReference("the squares are drawn"));
    }
    return op;
  }();
  return op;
}

}  // namespace
}  // namespace reference

REFERENCE_TESTS(BlankSquare, reference::BlankSquareOp)

}  // namespace caffe
