// The algorithm cache's key logic, host only: it runs in every build.
#include <functional>
#include <vector>

#include "gtest/gtest.h"

#include "caffe/util/convolution_algorithm_cache.hpp"

namespace caffe {

namespace {

ConvolutionAlgorithmKey LeNetConv2Key() {
  ConvolutionAlgorithmKey key;
  ConvolutionGeometry& g = key.geometry;
  g.num = 64;
  g.channels = 20;
  g.height = 12;
  g.width = 12;
  g.num_output = 50;
  g.kernel_h = 5;
  g.kernel_w = 5;
  key.data_type = 0;
  key.workspace_limit = 64 << 20;
  return key;
}

// A choice that tells which call made it.
ConvolutionAlgorithmChoice Numbered(int n) {
  ConvolutionAlgorithmChoice choice;
  choice.forward.algorithm = n;
  choice.backward_filter.workspace = 100 + n;
  return choice;
}

}  // namespace

TEST(ConvolutionAlgorithmCacheTest, ChoosesOncePerKey) {
  ConvolutionAlgorithmCache cache;
  int calls = 0;
  const ConvolutionAlgorithmCache::Chooser choose = [&calls]() {
    return Numbered(++calls);
  };
  const ConvolutionAlgorithmKey key = LeNetConv2Key();
  EXPECT_EQ(1, cache.Get(key, choose).forward.algorithm);
  EXPECT_EQ(1, cache.Get(key, choose).forward.algorithm);
  EXPECT_EQ(1, cache.Get(LeNetConv2Key(), choose).forward.algorithm);
  EXPECT_EQ(1, calls);
  EXPECT_EQ(1, cache.choices_made());
  EXPECT_EQ(1, cache.size());
  // After Clear the key is chosen again.
  cache.Clear();
  EXPECT_EQ(0, cache.size());
  EXPECT_EQ(2, cache.Get(key, choose).forward.algorithm);
  EXPECT_EQ(2, calls);
}

TEST(ConvolutionAlgorithmCacheTest, EveryFieldIsPartOfTheKey) {
  typedef std::function<void(ConvolutionAlgorithmKey*)> Change;
  const std::vector<Change> changes = {
    [](ConvolutionAlgorithmKey* k) { k->geometry.num = 32; },
    [](ConvolutionAlgorithmKey* k) { k->geometry.channels = 10; },
    [](ConvolutionAlgorithmKey* k) { k->geometry.height = 13; },
    [](ConvolutionAlgorithmKey* k) { k->geometry.width = 13; },
    [](ConvolutionAlgorithmKey* k) { k->geometry.num_output = 51; },
    [](ConvolutionAlgorithmKey* k) { k->geometry.kernel_h = 3; },
    [](ConvolutionAlgorithmKey* k) { k->geometry.kernel_w = 3; },
    [](ConvolutionAlgorithmKey* k) { k->geometry.pad_h = 1; },
    [](ConvolutionAlgorithmKey* k) { k->geometry.pad_w = 1; },
    [](ConvolutionAlgorithmKey* k) { k->geometry.stride_h = 2; },
    [](ConvolutionAlgorithmKey* k) { k->geometry.stride_w = 2; },
    [](ConvolutionAlgorithmKey* k) { k->geometry.dilation_h = 2; },
    [](ConvolutionAlgorithmKey* k) { k->geometry.dilation_w = 2; },
    [](ConvolutionAlgorithmKey* k) { k->geometry.groups = 2; },
    [](ConvolutionAlgorithmKey* k) { k->device = 1; },
    [](ConvolutionAlgorithmKey* k) { k->data_type = 1; },
    [](ConvolutionAlgorithmKey* k) { k->workspace_limit = 0; },
    [](ConvolutionAlgorithmKey* k) { k->benchmark = true; },
    [](ConvolutionAlgorithmKey* k) { k->tf32 = true; },
  };
  ConvolutionAlgorithmCache cache;
  int calls = 0;
  const ConvolutionAlgorithmCache::Chooser choose = [&calls]() {
    return Numbered(++calls);
  };
  cache.Get(LeNetConv2Key(), choose);
  for (int i = 0; i < changes.size(); ++i) {
    ConvolutionAlgorithmKey key = LeNetConv2Key();
    changes[i](&key);
    EXPECT_FALSE(key == LeNetConv2Key()) << "change " << i;
    EXPECT_EQ(i + 2, cache.Get(key, choose).forward.algorithm)
        << "change " << i << " found another key's choice";
    // The changed key has its own entry now; the original kept its own.
    EXPECT_EQ(i + 2, cache.Get(key, choose).forward.algorithm);
    EXPECT_EQ(1, cache.Get(LeNetConv2Key(), choose).forward.algorithm);
  }
  EXPECT_EQ(changes.size() + 1, calls);
  EXPECT_EQ(changes.size() + 1, cache.size());
}

TEST(ConvolutionAlgorithmCacheTest, MaxWorkspaceIsTheLargestOperations) {
  ConvolutionAlgorithmChoice choice;
  choice.forward.workspace = 3;
  choice.backward_filter.workspace = 7;
  choice.backward_data.workspace = 5;
  EXPECT_EQ(7, choice.MaxWorkspace());
  choice.backward_data.workspace = 9;
  EXPECT_EQ(9, choice.MaxWorkspace());
}

}  // namespace caffe
