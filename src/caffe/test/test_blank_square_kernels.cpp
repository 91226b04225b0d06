// The index math of BlankSquare's CUDA kernels (blank_square_kernels.hpp),
// run on the host for every thread of emulated launches: each element is
// written exactly once, with the right value; vector accesses are 16-byte
// aligned; the out-of-place pass reads no blanked element. Runs without a
// GPU, in every build.
#include <stdint.h>

#include <limits>
#include <vector>

#include "gtest/gtest.h"

#include "caffe/layers/blank_square_kernels.hpp"
#include "caffe/test/layer_reference.hpp"

namespace caffe {
namespace {

using blank_square::Geometry;
using blank_square::LaunchShape;
using blank_square::Shape;
using blank_square::Thread;

// Host memory for the kernel bodies: the device policy's operations, each
// access counted. Addresses are those the buffers would have on the device
// (element 0 at src_address, dst_address), to exercise the alignment logic.
template <typename Dtype>
struct RecordingMemory {
  static const int kWidth = 16 / sizeof(Dtype);
  const Dtype* src;
  Dtype* dst;
  Dtype value;
  uintptr_t src_address, dst_address;
  const std::vector<PixelYX>* corners;  // per image; x = -1: not occluded
  std::vector<int> reads, writes;
  int misaligned_vectors = 0;

  bool Corner(int64_t n, PixelYX* corner) const {
    *corner = (*corners)[n];
    return corner->x >= 0;
  }
  int Head(size_t offset, int length) const {
    return blank_square::HeadLength(dst_address + offset * sizeof(Dtype),
                                    sizeof(Dtype), length);
  }
  void Copy(size_t i) {
    dst[i] = src[i];
    ++reads[i];
    ++writes[i];
  }
  void Fill(size_t i) {
    dst[i] = value;
    ++writes[i];
  }
  void CheckAligned(uintptr_t address, size_t i) {
    misaligned_vectors += VectorMisalignment(address + i * sizeof(Dtype)) != 0;
  }
  void CopyVector(size_t i) {
    CheckAligned(src_address, i);
    CheckAligned(dst_address, i);
    for (int e = 0; e < kWidth; ++e) Copy(i + e);
  }
  void FillVector(size_t i) {
    CheckAligned(dst_address, i);
    for (int e = 0; e < kWidth; ++e) Fill(i + e);
  }
};

// Runs body(thread) for every thread of a launch of shape s.
template <typename Body>
void EmulateLaunch(const Shape& s, Body body) {
  for (int z = 0; z < s.grid_z; ++z)
  for (int y = 0; y < s.grid_y; ++y)
  for (int x = 0; x < s.grid_x; ++x)
  for (int row = 0; row < s.rows; ++row)
  for (int lane = 0; lane < s.lanes; ++lane) {
    const Thread t = {x, y, z, lane, row, s.lanes, s.rows, s.grid_y, s.grid_z};
    body(t);
  }
}

struct Case {
  Geometry g;
  int max_grid_yz;
};

// Corners that reach every edge: left/top, right/bottom, inside, and one
// image in three not occluded.
std::vector<PixelYX> Corners(const Geometry& g) {
  std::vector<PixelYX> corners;
  for (int n = 0; n < g.num; ++n) {
    const int xs = g.width - g.square_width, ys = g.height - g.square_height;
    const int x = n % 3 == 0 ? 0 : n % 3 == 1 ? xs : xs / 2;
    const int y = n % 3 == 0 ? ys : n % 3 == 1 ? 0 : (ys + 1) / 2;
    const bool occluded = n % 3 != 2 || n % 2 == 0;
    corners.push_back(occluded ? PixelYX{y, x} : PixelYX{-1, -1});
  }
  return corners;
}

// Where the squares are, from BlankSquare's reference: 1 in the squares, 0
// elsewhere.
std::vector<double> SquareMask(const Geometry& g,
                               const std::vector<PixelYX>& corners) {
  const std::vector<int> shape{g.num, g.channels, g.height, g.width};
  std::vector<double> mask;
  reference::BlankSquareReference(shape, g.square_height, g.square_width,
      corners, 1, std::vector<double>(
          static_cast<size_t>(g.num) * g.channels * g.height * g.width, 0),
      &mask);
  return mask;
}

const Case kCases[] = {
    {{3, 2, 7, 9, 3, 5}, blank_square::kMaxGridYZ},
    {{3, 2, 7, 9, 3, 5}, 2},      // loops over images and channels
    {{5, 3, 6, 13, 6, 13}, 1},    // the square is the whole image
    {{2, 1, 5, 1, 2, 1}, blank_square::kMaxGridYZ},  // one column
    {{4, 2, 9, 31, 4, 7}, 3},
    {{2, 1, 3, 70, 2, 37}, blank_square::kMaxGridYZ},
    {{3, 1, 40, 300, 17, 150}, blank_square::kMaxGridYZ},  // lanes loop
    {{2, 2, 3, 4, 1, 1}, blank_square::kMaxGridYZ},
};

template <typename Dtype>
class BlankSquareKernelsTest : public ::testing::Test {};

typedef ::testing::Types<float, double> Dtypes;
TYPED_TEST_CASE(BlankSquareKernelsTest, Dtypes);

TYPED_TEST(BlankSquareKernelsTest, TestLaunchShapes) {
  for (int length : {1, 2, 3, 4, 5, 31, 32, 33, 1000}) {
    const Geometry g = {70000, 70000, 10, length, 5, 1};
    const Shape s = LaunchShape(g, 10, length, 4);
    EXPECT_EQ(blank_square::kThreadsPerBlock, s.lanes * s.rows) << length;
    EXPECT_LE(s.lanes, 32);
    // Enough lanes for a row's vectors (up to a warp), and no more.
    const int vectors = (length + 3) / 4;
    EXPECT_GE(s.lanes, vectors < 32 ? vectors : 32) << length;
    EXPECT_TRUE(s.lanes == 1 || s.lanes / 2 < vectors) << length;
    EXPECT_EQ(blank_square::kMaxGridYZ, s.grid_y);
    EXPECT_EQ(blank_square::kMaxGridYZ, s.grid_z);
    EXPECT_GE(s.grid_x * s.rows, 10);
  }
  // No count of the launch shape wraps around for a plane INT_MAX rows
  // tall or wide.
  const int kMaxInt = std::numeric_limits<int>::max();
  const Geometry tall = {1, 1, kMaxInt, 1, 1, 1};
  const Shape s = LaunchShape(tall, kMaxInt, 1, 4);
  EXPECT_EQ(1, s.lanes);
  EXPECT_GE(static_cast<int64_t>(s.grid_x) * s.rows, kMaxInt);
  EXPECT_LT(static_cast<int64_t>(s.grid_x - 1) * s.rows, kMaxInt);
  const Geometry wide = {1, 1, 1, kMaxInt, 1, 1};
  EXPECT_EQ(32, LaunchShape(wide, 1, kMaxInt, 4).lanes);
}

TYPED_TEST(BlankSquareKernelsTest, TestOutOfPlaceWritesEachElementOnce) {
  typedef TypeParam Dtype;
  const int kWidth = RecordingMemory<Dtype>::kWidth;
  for (const Case& c : kCases) {
    const Geometry& g = c.g;
    const size_t count = static_cast<size_t>(g.num) * g.channels * g.height *
                         g.width;
    const std::vector<PixelYX> corners = Corners(g);
    const std::vector<double> mask = SquareMask(g, corners);
    std::vector<Dtype> src(count), dst(count, Dtype(-1));
    for (size_t i = 0; i < count; ++i) src[i] = Dtype(i + 1);
    // Every pair of element offsets from a 16-byte boundary: alike (the
    // vector kernel) and unalike (the single-element one).
    for (int src_offset = 0; src_offset < kWidth; ++src_offset)
    for (int dst_offset = 0; dst_offset < kWidth; ++dst_offset) {
      RecordingMemory<Dtype> m = {src.data(), dst.data(), Dtype(0),
          uintptr_t(1) << 20 | src_offset * sizeof(Dtype),
          uintptr_t(3) << 20 | dst_offset * sizeof(Dtype), &corners,
          std::vector<int>(count), std::vector<int>(count)};
      const bool vector = src_offset == dst_offset;
      const Shape s = LaunchShape(g, g.height, g.width, vector ? kWidth : 1,
                                  c.max_grid_yz);
      if (vector) {
        EmulateLaunch(s, [&](const Thread& t) {
          blank_square::CopyBlankingThread<16 / sizeof(Dtype), true>(g, t, m);
        });
      } else {
        EmulateLaunch(s, [&](const Thread& t) {
          blank_square::CopyBlankingThread<16 / sizeof(Dtype), false>(g, t, m);
        });
      }
      EXPECT_EQ(0, m.misaligned_vectors);
      for (size_t i = 0; i < count; ++i) {
        const bool blank = mask[i] != 0;
        ASSERT_EQ(1, m.writes[i]) << "element " << i << ", offsets "
                                  << src_offset << " " << dst_offset;
        ASSERT_EQ(blank ? Dtype(0) : src[i], dst[i]) << "element " << i;
        // The pass does not read what it blanks: a vector across the
        // square's edge goes element by element.
        ASSERT_EQ(blank ? 0 : 1, m.reads[i]) << "element " << i;
      }
    }
  }
}

TYPED_TEST(BlankSquareKernelsTest, TestInPlaceWritesOnlyTheSquares) {
  typedef TypeParam Dtype;
  const int kWidth = RecordingMemory<Dtype>::kWidth;
  for (const Case& c : kCases) {
    const Geometry& g = c.g;
    const size_t count = static_cast<size_t>(g.num) * g.channels * g.height *
                         g.width;
    const std::vector<PixelYX> corners = Corners(g);
    const std::vector<double> mask = SquareMask(g, corners);
    for (int offset = 0; offset < kWidth; ++offset) {
      std::vector<Dtype> data(count, Dtype(1));
      RecordingMemory<Dtype> m = {NULL, data.data(), Dtype(0), 0,
          uintptr_t(5) << 20 | offset * sizeof(Dtype), &corners,
          std::vector<int>(count), std::vector<int>(count)};
      const Shape s = LaunchShape(g, g.square_height, g.square_width, kWidth,
                                  c.max_grid_yz);
      EmulateLaunch(s, [&](const Thread& t) {
        blank_square::FillSquareThread<16 / sizeof(Dtype)>(g, t, m);
      });
      EXPECT_EQ(0, m.misaligned_vectors);
      for (size_t i = 0; i < count; ++i) {
        const bool blank = mask[i] != 0;
        ASSERT_EQ(blank ? 1 : 0, m.writes[i]) << "element " << i
                                              << ", offset " << offset;
        ASSERT_EQ(0, m.reads[i]);
        ASSERT_EQ(blank ? Dtype(0) : Dtype(1), data[i]);
      }
    }
  }
}

}  // namespace
}  // namespace caffe
