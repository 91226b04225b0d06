#ifdef USE_OPENCV
// ImageData in a run of several solvers (GPUs or MPI ranks,
// patches/0029-image-data-shards-across-solvers.patch): in training, solver r
// of n reads lines r, r + n, r + 2n, ... of the list, disjoint from the other
// solvers' and together the whole list; the test phase and a single solver
// read every line. Each image's label is its line number, so the labels a
// solver reads say which lines it read.
#include <algorithm>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "gtest/gtest.h"

#include "caffe/blob.hpp"
#include "caffe/common.hpp"
#include "caffe/layers/image_data_layer.hpp"
#include "caffe/util/io.hpp"

#include "caffe/test/test_caffe_main.hpp"

namespace caffe {

class ImageDataShardingTest : public ::testing::Test {
 protected:
  // Not a multiple of kSolvers, so the shards differ in size (3, 2, 2).
  static constexpr int kImages = 7;
  static constexpr int kSolvers = 3;

  void SetUp() override {
    MakeTempFilename(&list_);
    std::ofstream out(list_.c_str());
    for (int line = 0; line < kImages; ++line) {
      out << EXAMPLES_SOURCE_DIR "images/cat.jpg " << line << "\n";
    }
  }

  static std::vector<int> Shard(int rank) {
    std::vector<int> lines;
    for (int line = rank; line < kImages; line += kSolvers) {
      lines.push_back(line);
    }
    return lines;
  }

  static std::vector<int> AllLines() {
    std::vector<int> lines(kImages);
    std::iota(lines.begin(), lines.end(), 0);
    return lines;
  }

  LayerParameter Param(Phase phase, int batch_size, bool shuffle) const {
    LayerParameter param;
    param.set_name("images");
    param.set_phase(phase);
    ImageDataParameter* images = param.mutable_image_data_param();
    images->set_source(list_);
    images->set_batch_size(batch_size);
    images->set_new_height(4);  // small: the test reads labels
    images->set_new_width(4);
    images->set_shuffle(shuffle);
    return param;
  }

  // The labels of `batches` batches that solver `rank` of `count` reads.
  std::vector<int> Read(Phase phase, int rank, int count, int batch_size,
                        int batches, bool shuffle = false) {
    Caffe::set_solver_count(count);
    Caffe::set_solver_rank(rank);
    ImageDataLayer<float> layer(Param(phase, batch_size, shuffle));
    Blob<float> data, label;
    std::vector<Blob<float>*> bottom, top{&data, &label};
    layer.SetUp(bottom, top);
    std::vector<int> labels;
    for (int batch = 0; batch < batches; ++batch) {
      layer.Forward(bottom, top);
      for (int i = 0; i < batch_size; ++i) {
        labels.push_back(static_cast<int>(label.cpu_data()[i]));
      }
    }
    return labels;
  }

  std::string list_;
};

TEST_F(ImageDataShardingTest, TrainingSolversReadDisjointShardsOfTheList) {
  std::vector<int> all;
  for (int rank = 0; rank < kSolvers; ++rank) {
    const std::vector<int> shard = Shard(rank);
    const std::vector<int> read = Read(TRAIN, rank, kSolvers, shard.size(), 1);
    EXPECT_EQ(read, shard) << "solver " << rank;
    all.insert(all.end(), read.begin(), read.end());
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, AllLines());
}

TEST_F(ImageDataShardingTest, ASolverWrapsAroundItsOwnShard) {
  // Solver 1 reads lines 1 and 4; five images in a batch go round it.
  EXPECT_EQ(Read(TRAIN, 1, kSolvers, 5, 1),
            (std::vector<int>{1, 4, 1, 4, 1}));
}

TEST_F(ImageDataShardingTest, ShuffledSolversShuffleTheirOwnShard) {
  for (int rank = 0; rank < kSolvers; ++rank) {
    const std::vector<int> shard = Shard(rank);
    // Two passes over the shard (its epochs), each a permutation of it.
    std::vector<int> read = Read(TRAIN, rank, kSolvers, shard.size(), 2, true);
    for (int epoch = 0; epoch < 2; ++epoch) {
      std::vector<int> pass(read.begin() + epoch * shard.size(),
                            read.begin() + (epoch + 1) * shard.size());
      std::sort(pass.begin(), pass.end());
      EXPECT_EQ(pass, shard) << "solver " << rank << ", epoch " << epoch;
    }
  }
}

TEST_F(ImageDataShardingTest, TestingAndSingleSolversReadEveryLine) {
  EXPECT_EQ(Read(TEST, 1, kSolvers, kImages, 1), AllLines());
  EXPECT_EQ(Read(TRAIN, 0, 1, kImages, 1), AllLines());
}

TEST_F(ImageDataShardingTest, FewerImagesThanSolversFailAtSetup) {
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
  Caffe::set_solver_count(kImages + 1);
  Caffe::set_solver_rank(0);
  ImageDataLayer<float> layer(Param(TRAIN, 1, false));
  Blob<float> data, label;
  std::vector<Blob<float>*> bottom, top{&data, &label};
  EXPECT_DEATH(layer.SetUp(bottom, top),
               "ImageData layer 'images': source .* lists 7 images, fewer "
               "than the 8 solvers that share it");
}

}  // namespace caffe
#endif  // USE_OPENCV
