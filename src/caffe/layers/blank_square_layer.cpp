#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <stdint.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "caffe/layers/blank_square_layer.hpp"
#include "caffe/util/fnv1a.hpp"
#include "caffe/util/math_functions.hpp"
#include "caffe/util/rng.hpp"
#include "caffe/util/simd_clones.hpp"

namespace caffe {

template <typename Dtype>
void BlankSquareLayer<Dtype>::LayerSetUp(const vector<Blob<Dtype>*>& bottom,
    const vector<Blob<Dtype>*>& top) {
  const string who = Describe();
  CHECK_EQ(bottom.size(), 1) << who << " takes exactly 1 bottom blob";
  CHECK_EQ(top.size(), 1) << who << " produces exactly 1 top blob";
  const BlankSquareParameter& param = this->layer_param_.blank_square_param();
  CHECK(param.ratio() > 0 && param.ratio() <= 1)
      << who << ": blank_square_param.ratio must be in (0, 1], got "
      << param.ratio();
  CHECK(param.probability() >= 0 && param.probability() <= 1)
      << who << ": blank_square_param.probability must be in [0, 1], got "
      << param.probability();
  CHECK_EQ(param.has_offset_h(), param.has_offset_w()) << who
      << ": set both blank_square_param.offset_h and offset_w, or neither";
  // The key follows random_seed through a copy of Caffe's generator: drawing
  // from the generator itself would change the initial weights of every layer
  // set up after this one, and a comparison of a net with and without the
  // layer would then compare different starting points too. The name keeps
  // two such layers of one net apart, the solver rank replicas.
  rng_t generator = *caffe_rng();
  const uint64_t state = (static_cast<uint64_t>(generator()) << 32) |
      static_cast<uint32_t>(generator());
  const string& name = this->layer_param_.name();
  const uint64_t named = CounterRandom(state, Fnv1a(name.data(), name.size()));
  layer_key_ = CounterRandom(named,
      static_cast<uint64_t>(Caffe::solver_rank()));
  forward_count_ = 0;
}

template <typename Dtype>
void BlankSquareLayer<Dtype>::Reshape(const vector<Blob<Dtype>*>& bottom,
    const vector<Blob<Dtype>*>& top) {
  // Caffe reshapes every layer before each Forward. With the shapes as they
  // were there is nothing to redo, nor, after NumPy ran between two calls,
  // anything to bring back into the caches: in a pycaffe session at MNIST's
  // batch the layer's own overhead fell from 0.5 to 0.2 us of a 3 us
  // in-place forward (docs/benchmarks.md, pycaffe session).
  if (!sized_for_.empty() && bottom[0]->shape() == sized_for_ &&
      top[0]->shape() == sized_for_) {
    return;
  }
  CHECK_GE(bottom[0]->num_axes(), 3) << Describe() << ": bottom '"
      << this->layer_param_.bottom(0) << "' (" << bottom[0]->shape_string()
      << ") needs at least 3 axes, the last two being height and width";
  NeuronLayer<Dtype>::Reshape(bottom, top);
  num_ = bottom[0]->shape(0);
  height_ = bottom[0]->shape(-2);
  width_ = bottom[0]->shape(-1);
  channels_ = bottom[0]->count(1) / std::max(1, height_ * width_);
  // floor(ratio * side), where ratio is a float: 0.7f is 0.69999999, and
  // the small tolerance keeps 0.7f * 10 at 7 rather than 6.
  const BlankSquareParameter& param = this->layer_param_.blank_square_param();
  const double ratio = param.ratio();
  sampler_.height = static_cast<int>(std::floor(ratio * height_ + 1e-4));
  sampler_.width = static_cast<int>(std::floor(ratio * width_ + 1e-4));
  CHECK(sampler_.height > 0 && sampler_.width > 0) << Describe() << ": ratio "
      << ratio << " of " << height_ << "x" << width_
      << " images is a square of zero pixels";
  sampler_.y_positions = height_ - sampler_.height + 1;
  sampler_.x_positions = width_ - sampler_.width + 1;
  sampler_.per_sample = param.per_sample();
  sampler_.fixed = param.has_offset_h();
  if (sampler_.fixed) {
    CHECK(param.offset_h() < static_cast<uint32_t>(sampler_.y_positions) &&
          param.offset_w() < static_cast<uint32_t>(sampler_.x_positions))
        << Describe() << ": a " << sampler_.height << "x" << sampler_.width
        << " square at offset_h " << param.offset_h() << ", offset_w "
        << param.offset_w() << " does not fit in " << height_ << "x" << width_
        << " images (offsets up to " << sampler_.y_positions - 1 << ", "
        << sampler_.x_positions - 1 << ")";
    sampler_.fixed_y = static_cast<int>(param.offset_h());
    sampler_.fixed_x = static_cast<int>(param.offset_w());
  }
  sized_for_ = bottom[0]->shape();
}

template <typename Dtype>
void BlankSquareLayer<Dtype>::BeginForward() {
  const BlankSquareParameter& param = this->layer_param_.blank_square_param();
  occluded_ = this->phase_ == TRAIN || param.apply_in_test();
  if (!occluded_) return;
  sampler_.key = CounterRandom(layer_key_, forward_count_++);
  // probability 1 gives 2^32, above every 32-bit draw.
  sampler_.threshold = static_cast<uint64_t>(
      std::ldexp(static_cast<double>(param.probability()), 32));
}

#ifdef __SSE2__
// Fills a short run with unaligned vector stores, the last one overlapping
// the one before, and runs shorter than a vector with single stores. Square
// rows are short (14 floats at MNIST's size) and so are the ends of a
// streamed row: a loop there costs more in peeling and scalar tails than in
// stores. The empty asm hides the value from the optimizer: inlined into the
// backward pass, where it is a constant 0, GCC turned these loops into a
// memset call per run, which doubled the in-place backward at 64x3x224x224.
inline void FillRun(float* run, int length, float value) {
  if (length >= 4) {
    __m128 v = _mm_set1_ps(value);
    __asm__("" : "+x"(v));
    for (int x = 0; x < length - 4; x += 4) _mm_storeu_ps(run + x, v);
    _mm_storeu_ps(run + length - 4, v);
    return;
  }
  switch (length) {
    case 3: run[2] = value;  // fall through
    case 2: run[1] = value;  // fall through
    case 1: run[0] = value;
  }
}
inline void FillRun(double* run, int length, double value) {
  if (length >= 2) {
    __m128d v = _mm_set1_pd(value);
    __asm__("" : "+x"(v));
    for (int x = 0; x < length - 2; x += 2) _mm_storeu_pd(run + x, v);
    _mm_storeu_pd(run + length - 2, v);
    return;
  }
  if (length == 1) run[0] = value;
}

// The same for rows that stay in the caches, in 32-byte vectors where the
// run is that long: one AVX store in the x86-64-v3 clone of FillSquares,
// two SSE stores in the default one. (At the ends of streamed rows they
// made the in-place forward at 64x3x224x224 1.5x slower than FillRun.)
template <typename Dtype>
__attribute__((always_inline)) inline void FillRunWide(Dtype* run, int length,
                                                       Dtype value) {
  typedef Dtype Vector32 __attribute__((vector_size(32)));
  typedef Dtype Vector16 __attribute__((vector_size(16)));
  const int wide = 32 / sizeof(Dtype), narrow = 16 / sizeof(Dtype);
  __asm__("" : "+x"(value));
  if (length >= wide) {
    const Vector32 v = value - Vector32{};
    for (int x = 0; x < length - wide; x += wide) __builtin_memcpy(run + x, &v, 32);
    __builtin_memcpy(run + length - wide, &v, 32);
  } else if (length >= narrow) {
    const Vector16 v = value - Vector16{};
    if (length > narrow) __builtin_memcpy(run, &v, 16);
    __builtin_memcpy(run + length - narrow, &v, 16);
  } else {
    for (int x = 0; x < length; ++x) run[x] = value;
  }
}

// Fills [begin, end) bypassing the caches for the whole 64-byte lines inside
// it: no line is read first, and the lines at the ends, which hold pixels
// outside the square too, get ordinary stores.
inline void StreamStore(float* p, float value) {
  const __m128 v = _mm_set1_ps(value);
  _mm_stream_ps(p, v); _mm_stream_ps(p + 4, v);
  _mm_stream_ps(p + 8, v); _mm_stream_ps(p + 12, v);
}
inline void StreamStore(double* p, double value) {
  const __m128d v = _mm_set1_pd(value);
  _mm_stream_pd(p, v); _mm_stream_pd(p + 2, v);
  _mm_stream_pd(p + 4, v); _mm_stream_pd(p + 6, v);
}

template <typename Dtype>
void StreamFill(Dtype* begin, Dtype* end, Dtype value) {
  const uintptr_t line = 64;
  Dtype* first = reinterpret_cast<Dtype*>(
      (reinterpret_cast<uintptr_t>(begin) + line - 1) & ~(line - 1));
  Dtype* last = reinterpret_cast<Dtype*>(
      reinterpret_cast<uintptr_t>(end) & ~(line - 1));
  if (first >= last) {
    FillRun(begin, static_cast<int>(end - begin), value);
    return;
  }
  FillRun(begin, static_cast<int>(first - begin), value);
  for (Dtype* p = first; p < last; p += line / sizeof(Dtype)) {
    StreamStore(p, value);
  }
  FillRun(last, static_cast<int>(end - last), value);
}
#else
template <typename Dtype>
inline void FillRun(Dtype* run, int length, Dtype value) {
  std::fill(run, run + length, value);
}
template <typename Dtype>
inline void FillRunWide(Dtype* run, int length, Dtype value) {
  std::fill(run, run + length, value);
}
#endif

// Writes value into each occluded image's square of data, nothing else.
// Square rows are short runs with the rest of the image between them:
// ordinary stores make the core read every line it writes, and its
// prefetchers read the lines between, so a quarter-image square cost about
// as much as copying the whole blob (64x3x224x224). Streaming stores write
// only the square; they are kept for blobs that do not stay in the caches
// anyway (above 16 MiB), since they send the square out of the caches that
// the next layer reads it from.
template <typename Dtype>
__attribute__((always_inline)) inline void FillSquaresIn(
    const BlankSquareSampler& sampler, int num, int channels, int height,
    int width, Dtype value, Dtype* data) {
#ifdef __SSE2__
  const bool stream = sizeof(Dtype) * num * channels * height * width >
      (size_t(16) << 20);
#endif
  for (int n = 0; n < num; ++n) {
    PixelYX corner;
    if (!sampler.Square(n, &corner)) continue;
    for (int c = 0; c < channels; ++c) {
      Dtype* row = data + ((n * channels + c) * height + corner.y) * width +
                   corner.x;
      for (int y = 0; y < sampler.height; ++y, row += width) {
#ifdef __SSE2__
        if (stream) {
          StreamFill(row, row + sampler.width, value);
          continue;
        }
#endif
        FillRunWide(row, sampler.width, value);
      }
    }
  }
#ifdef __SSE2__
  if (stream) _mm_sfence();  // before another thread or a copy reads data
#endif
}

namespace {
CAFFE_SIMD_CLONES void FillSquares(const BlankSquareSampler& sampler, int num,
    int channels, int height, int width, float value, float* data) {
  FillSquaresIn(sampler, num, channels, height, width, value, data);
}
CAFFE_SIMD_CLONES void FillSquares(const BlankSquareSampler& sampler, int num,
    int channels, int height, int width, double value, double* data) {
  FillSquaresIn(sampler, num, channels, height, width, value, data);
}
}  // namespace

template <typename Dtype>
void BlankSquareLayer<Dtype>::Forward_cpu(const vector<Blob<Dtype>*>& bottom,
    const vector<Blob<Dtype>*>& top) {
  BeginForward();
  const Dtype* src = bottom[0]->cpu_data();
  Dtype* dst = top[0]->mutable_cpu_data();
  if (!occluded_) {
    if (src != dst) caffe_copy(bottom[0]->count(), src, dst);
    return;
  }
  // Out of place: one copy of the whole batch (memcpy streams large ones),
  // then the squares. Measured against copying around the squares in one
  // pass, this was as fast or faster at every size benchmarked.
  if (src != dst) caffe_copy(bottom[0]->count(), src, dst);
  FillSquares(sampler_, num_, channels_, height_, width_,
      static_cast<Dtype>(this->layer_param_.blank_square_param().fill_value()),
      dst);
}

template <typename Dtype>
void BlankSquareLayer<Dtype>::Backward_cpu(const vector<Blob<Dtype>*>& top,
    const vector<bool>& propagate_down, const vector<Blob<Dtype>*>& bottom) {
  if (!propagate_down[0]) return;
  const Dtype* src = top[0]->cpu_diff();
  Dtype* dst = bottom[0]->mutable_cpu_diff();
  if (!occluded_) {
    if (src != dst) caffe_copy(top[0]->count(), src, dst);
    return;
  }
  if (src != dst) caffe_copy(top[0]->count(), src, dst);
  FillSquares(sampler_, num_, channels_, height_, width_, Dtype(0), dst);
}

#ifdef CPU_ONLY
STUB_GPU(BlankSquareLayer);
#endif

INSTANTIATE_CLASS(BlankSquareLayer);
REGISTER_LAYER_CLASS(BlankSquare);

}  // namespace caffe
