// The index math of BlankSquare's CUDA kernels: which thread handles which
// elements, as single elements or as aligned 16-byte vectors. The kernels
// (blank_square_layer.cu) run these functions with a policy that loads and
// stores device memory; a host test (test_blank_square_kernels.cpp) runs
// them for every thread of emulated launches with a policy that records
// each access, so the mapping is checked on machines without a GPU.
//
// Layout: a blob is num x channels planes of height x width. A block is
// `lanes` threads along a row by `rows` rows; grid x tiles the rows of a
// plane (of the image, or of the square in place), grid y the channels and
// grid z the images, looping where a count exceeds the grid's limit. No
// integer division per element: a thread derives its row from its block and
// thread index, and offsets are 64-bit (blobs of up to INT_MAX elements).
#ifndef CAFFE_BLANK_SQUARE_KERNELS_HPP_
#define CAFFE_BLANK_SQUARE_KERNELS_HPP_

#include <stddef.h>
#include <stdint.h>

#include "caffe/util/counter_rng.hpp"  // CAFFE_HOST_DEVICE
#include "caffe/util/pixel_yx.hpp"
#include "caffe/util/vector_alignment.hpp"

namespace caffe {
namespace blank_square {

const int kThreadsPerBlock = 256;
const int kMaxGridYZ = 65535;  // CUDA's limit on grid y and z

struct Geometry {
  int num, channels, height, width;  // of the blob
  int square_height, square_width;
};

/// A thread's place in a launch (blockIdx, threadIdx, blockDim, gridDim).
struct Thread {
  int block_x, block_y, block_z;
  int lane, row;     // threadIdx.x, threadIdx.y
  int lanes, rows;   // blockDim.x, blockDim.y
  int grid_y, grid_z;
};

/// Block and grid of a launch over `rows` rows per plane of runs of
/// `length` elements, `per_thread` elements per access (the vector width,
/// or 1 for single elements): enough lanes for a run's accesses, up to a
/// warp, and the block's other threads on further rows. max_grid_yz is
/// CUDA's limit; the host test lowers it to exercise the kernels' loops.
struct Shape {
  int lanes, rows;              // block
  int grid_x, grid_y, grid_z;   // grid
};

inline Shape LaunchShape(const Geometry& g, int rows, int length,
                         int per_thread, int max_grid_yz = kMaxGridYZ) {
  // 64-bit: a plane may be up to INT_MAX rows tall.
  const int64_t accesses = (static_cast<int64_t>(length) + per_thread - 1) /
                           per_thread;
  Shape s;
  s.lanes = 1;
  while (s.lanes < accesses && s.lanes < 32) s.lanes *= 2;
  s.rows = kThreadsPerBlock / s.lanes;
  s.grid_x = static_cast<int>((static_cast<int64_t>(rows) + s.rows - 1) /
                              s.rows);
  s.grid_y = g.channels < max_grid_yz ? g.channels : max_grid_yz;
  s.grid_z = g.num < max_grid_yz ? g.num : max_grid_yz;
  return s;
}

/// Elements before the first 16-byte boundary at or after `address`
/// (a multiple of element_size), at most `length`.
CAFFE_HOST_DEVICE inline int HeadLength(uintptr_t address, int element_size,
                                        int length) {
  const int head = VectorMisalignment(0 - address) / element_size;
  return head < length ? head : length;
}

/// Visits [0, length) of one run for one lane: single elements first up to
/// the 16-byte boundary (the head), then aligned vectors of kWidth elements,
/// then the single elements left (the tail); all single elements when not
/// kVector. visit.Scalar(j), visit.Vector(j): element j, or [j, j + kWidth).
#ifdef __CUDACC__
#pragma nv_exec_check_disable
#endif
template <int kWidth, bool kVector, typename Visit>
CAFFE_HOST_DEVICE inline void VisitRun(int head, int length, int lane,
                                       int lanes, Visit& visit) {
  const int scalars = kVector ? head : length;
  for (int j = lane; j < scalars; j += lanes) visit.Scalar(j);
  if (!kVector) return;
  const int vectors = (length - head) / kWidth;
  for (int k = lane; k < vectors; k += lanes) visit.Vector(head + k * kWidth);
  for (int j = head + vectors * kWidth + lane; j < length; j += lanes) {
    visit.Scalar(j);
  }
}

/// One row of the out-of-place pass: dst = value in [blank_begin,
/// blank_end), src elsewhere. A vector wholly inside the blank is stored
/// without reading src; one across its edge goes element by element.
/// Memory: Copy(i), Fill(i), CopyVector(i), FillVector(i) at blob offset i.
template <int kWidth, typename Memory>
struct CopyBlankingRow {
  Memory& memory;
  size_t offset;  // of the row
  int blank_begin, blank_end;

  CAFFE_HOST_DEVICE bool Blank(int j) const {
    return j >= blank_begin && j < blank_end;
  }
#ifdef __CUDACC__
#pragma nv_exec_check_disable
#endif
  CAFFE_HOST_DEVICE void Scalar(int j) {
    if (Blank(j)) {
      memory.Fill(offset + j);
    } else {
      memory.Copy(offset + j);
    }
  }
#ifdef __CUDACC__
#pragma nv_exec_check_disable
#endif
  CAFFE_HOST_DEVICE void Vector(int j) {
    if (j >= blank_end || j + kWidth <= blank_begin) {
      memory.CopyVector(offset + j);
    } else if (j >= blank_begin && j + kWidth <= blank_end) {
      memory.FillVector(offset + j);
    } else {
      for (int e = 0; e < kWidth; ++e) Scalar(j + e);
    }
  }
};

/// One row of a square in place: value in [0, length) from offset.
template <typename Memory>
struct FillRow {
  Memory& memory;
  size_t offset;
#ifdef __CUDACC__
#pragma nv_exec_check_disable
#endif
  CAFFE_HOST_DEVICE void Scalar(int j) { memory.Fill(offset + j); }
#ifdef __CUDACC__
#pragma nv_exec_check_disable
#endif
  CAFFE_HOST_DEVICE void Vector(int j) { memory.FillVector(offset + j); }
};

/// Out of place, one thread: its row of every plane its block covers, each
/// element once (launch: LaunchShape(g, g.height, g.width, ...)).
/// memory.Corner(n, &corner): whether image n is occluded, and where;
/// memory.Head(offset, length): HeadLength of the destination at offset
/// (the source is aligned alike, or kVector is false).
#ifdef __CUDACC__
#pragma nv_exec_check_disable
#endif
template <int kWidth, bool kVector, typename Memory>
CAFFE_HOST_DEVICE inline void CopyBlankingThread(const Geometry& g,
    const Thread& t, Memory& memory) {
  const int64_t y = static_cast<int64_t>(t.block_x) * t.rows + t.row;
  if (y >= g.height) return;
  for (int64_t n = t.block_z; n < g.num; n += t.grid_z) {
    PixelYX corner = {0, 0};
    const bool blank_row = memory.Corner(n, &corner) && y >= corner.y &&
                           y < corner.y + g.square_height;
    CopyBlankingRow<kWidth, Memory> row = {memory, 0,
        blank_row ? corner.x : 0, blank_row ? corner.x + g.square_width : 0};
    for (int64_t c = t.block_y; c < g.channels; c += t.grid_y) {
      row.offset = static_cast<size_t>((n * g.channels + c) * g.height + y) *
                   g.width;
      const int head = kVector ? memory.Head(row.offset, g.width) : 0;
      VisitRun<kWidth, kVector>(head, g.width, t.lane, t.lanes, row);
    }
  }
}

/// In place, one thread: its row of the square in every plane its block
/// covers (launch: LaunchShape(g, g.square_height, g.square_width, ...)).
#ifdef __CUDACC__
#pragma nv_exec_check_disable
#endif
template <int kWidth, typename Memory>
CAFFE_HOST_DEVICE inline void FillSquareThread(const Geometry& g,
    const Thread& t, Memory& memory) {
  const int64_t dy = static_cast<int64_t>(t.block_x) * t.rows + t.row;
  if (dy >= g.square_height) return;
  for (int64_t n = t.block_z; n < g.num; n += t.grid_z) {
    PixelYX corner = {0, 0};
    if (!memory.Corner(n, &corner)) continue;
    FillRow<Memory> row = {memory, 0};
    for (int64_t c = t.block_y; c < g.channels; c += t.grid_y) {
      row.offset = static_cast<size_t>((n * g.channels + c) * g.height +
                                       corner.y + dy) * g.width + corner.x;
      const int head = memory.Head(row.offset, g.square_width);
      VisitRun<kWidth, true>(head, g.square_width, t.lane, t.lanes, row);
    }
  }
}

}  // namespace blank_square
}  // namespace caffe

#endif  // CAFFE_BLANK_SQUARE_KERNELS_HPP_
