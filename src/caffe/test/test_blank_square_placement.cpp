// BlankSquare gives the same bits wherever its buffers lie: it only copies
// and fills, so any difference would be a kernel reading or writing the
// wrong elements at some alignment (a head or tail of a vectorised or
// streamed loop, say).
#include <vector>

#include "gtest/gtest.h"

#include "caffe/blob.hpp"
#include "caffe/common.hpp"
#include "caffe/filler.hpp"
#include "caffe/layers/blank_square_layer.hpp"

#include "caffe/test/test_caffe_main.hpp"
#include "caffe/test/test_placed_buffers.hpp"

namespace caffe {

template <typename TypeParam>
class BlankSquarePlacementTest : public MultiDeviceTest<TypeParam> {
  typedef typename TypeParam::Dtype Dtype;

 protected:
  // Odd widths: rows of the squares start at every alignment. 32x3x77x91
  // is below the CPU's threshold for streaming stores (16 MiB), which
  // BlankSquareLayerTest.TestLargeBatchOutOfPlace covers.
  BlankSquarePlacementTest() : shape_{32, 3, 77, 91} {
    Caffe::set_random_seed(1701);
    Blob<Dtype> input(shape_), top_diff(shape_);
    FillerParameter filler_param;
    filler_param.set_min(1);
    filler_param.set_max(2);
    UniformFiller<Dtype> filler(filler_param);
    filler.Fill(&input);
    filler.Fill(&top_diff);
    input_.assign(input.cpu_data(), input.cpu_data() + input.count());
    top_diff_.assign(top_diff.cpu_data(), top_diff.cpu_data() + top_diff.count());
    param_.set_name("occlude");
    param_.mutable_blank_square_param()->set_per_sample(true);
  }

  // Forward and backward, out of place or in place, with buffers at the
  // given byte offsets from a page (offsets null: SyncedMemory's own);
  // returns the output followed by the bottom gradient.
  vector<Dtype> Run(bool in_place, const size_t* offsets) {
    const int count = static_cast<int>(input_.size());
    Blob<Dtype> bottom_blob(shape_), top_blob(shape_);
    Blob<Dtype>* top_ptr = in_place ? &bottom_blob : &top_blob;
    shared_ptr<PlacedBuffers<Dtype> > buffers;
    if (offsets) {
      buffers.reset(new PlacedBuffers<Dtype>(count, offsets));
      buffers->Place(0, input_.data(), bottom_blob.data().get());
      buffers->Place(1, NULL, bottom_blob.diff().get());
      if (!in_place) {
        buffers->Place(2, NULL, top_blob.data().get());
        buffers->Place(3, NULL, top_blob.diff().get());
      }
    } else {
      caffe_copy(count, input_.data(), bottom_blob.mutable_cpu_data());
    }
    vector<Blob<Dtype>*> bottom{&bottom_blob}, top{top_ptr};
    Caffe::set_random_seed(7);  // the squares depend on the seed only
    BlankSquareLayer<Dtype> layer(param_);
    layer.SetUp(bottom, top);
    layer.Forward(bottom, top);
    vector<Dtype> result(top_ptr->cpu_data(), top_ptr->cpu_data() + count);
    caffe_copy(count, top_diff_.data(), top_ptr->mutable_cpu_diff());
    layer.Backward(top, vector<bool>(1, true), bottom);
    result.insert(result.end(), bottom_blob.cpu_diff(),
                  bottom_blob.cpu_diff() + count);
    return result;
  }

  void CheckPlacementsAgree(bool in_place) {
    const vector<Dtype> expected = Run(in_place, NULL);
    const size_t e = sizeof(Dtype);
    // Byte offsets of bottom data, bottom diff, top data, top diff:
    // 4K-aliased, glibc's mmap chunks, misaligned by elements, staggered.
    // The GPU copies bottom data to top data forward and top diff to bottom
    // diff backward. Where both ends of a copy are misaligned alike mod 16
    // ({e, e, e, e}, and {e, 3e, 5e, 7e}: 4 and 20, 28 and 12 bytes for
    // float) its vector kernels start each row with a head of single
    // elements; where they are not ({e, 2e, 0, 3e}: e to 0 forward, 3e to
    // 2e backward, for float and double) it copies single elements only.
    const size_t placements[][4] = {
        {0, 0, 0, 0}, {16, 16, 16, 16}, {e, 3 * e, 5 * e, 7 * e},
        {e, 2 * e, 0, 3 * e}, {e, e, e, e}, {0, 1088, 2176, 3264}};
    for (const size_t* offsets : placements) {
      const vector<Dtype> result = Run(in_place, offsets);
      ASSERT_EQ(expected.size(), result.size());
      for (size_t i = 0; i < expected.size(); ++i) {
        ASSERT_EQ(expected[i], result[i])
            << (i < expected.size() / 2 ? "output" : "gradient")
            << " element " << i % (expected.size() / 2) << ", offsets "
            << offsets[0] << " " << offsets[1] << " " << offsets[2] << " "
            << offsets[3];
      }
    }
  }

  const vector<int> shape_;
  vector<Dtype> input_, top_diff_;
  LayerParameter param_;
};

TYPED_TEST_CASE(BlankSquarePlacementTest, TestDtypesAndDevices);

TYPED_TEST(BlankSquarePlacementTest, TestOutOfPlaceIndependentOfPlacement) {
  this->CheckPlacementsAgree(false);
}

TYPED_TEST(BlankSquarePlacementTest, TestInPlaceIndependentOfPlacement) {
  this->CheckPlacementsAgree(true);
}

}  // namespace caffe
