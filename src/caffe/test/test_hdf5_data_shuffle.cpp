// HDF5Data with shuffle: true
// (patches/0035-hdf5-data-shuffles-alike-on-every-solver.patch). Solvers that
// train together (several GPUs, MPI ranks) each keep every n-th row of the
// layer's stream (HDF5DataLayer::Skip); each epoch they must read disjoint
// shares whose union is every row, reshuffled from one epoch to the next.
// Upstream drew each solver's order from the process's one rand() state, so
// the shares overlapped at random and some rows were never read.
#ifdef USE_HDF5
#include <algorithm>
#include <fstream>  // NOLINT(readability/streams)
#include <string>
#include <vector>

#include "hdf5.h"

#include "gtest/gtest.h"

#include "caffe/blob.hpp"
#include "caffe/common.hpp"
#include "caffe/layers/hdf5_data_layer.hpp"
#include "caffe/util/hdf5.hpp"
#include "caffe/util/io.hpp"

#include "caffe/test/test_caffe_main.hpp"

namespace caffe {

class HDF5DataShuffleTest : public ::testing::Test {
 protected:
  // Two files of 12 and 9 rows; row r of the list holds the value r.
  static const int kRows = 21;

  virtual void SetUp() {
    Caffe::set_mode(Caffe::CPU);
    Caffe::set_solver_count(1);
    Caffe::set_solver_rank(0);
    MakeTempDir(&dir_);
    source_ = dir_ + "/list.txt";
    std::ofstream list(source_.c_str());
    list << WriteFile("a.h5", 0, 12) << "\n" << WriteFile("b.h5", 12, 9)
         << "\n";
  }
  virtual void TearDown() {
    Caffe::set_solver_count(1);
    Caffe::set_solver_rank(0);
  }

  string WriteFile(const string& name, int first, int rows) {
    Blob<float> data(rows, 1, 1, 1);
    for (int i = 0; i < rows; ++i) data.mutable_cpu_data()[i] = first + i;
    const string path = dir_ + "/" + name;
    hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT,
                           H5P_DEFAULT);
    CHECK_GE(file, 0) << "cannot create " << path;
    hdf5_save_nd_dataset(file, "data", data);
    H5Fclose(file);
    return path;
  }

  // The rows solver `rank` of `solvers` reads in `batches` batches of
  // `batch_size`, with the solver's random seed set as Solver::Init sets it
  // (the seed plus the rank).
  vector<int> Read(int rank, int solvers, int batch_size, int batches) {
    Caffe::set_solver_count(solvers);
    Caffe::set_solver_rank(rank);
    Caffe::set_random_seed(1701 + rank);
    LayerParameter param;
    param.set_name("data");
    param.add_top("data");
    param.set_phase(TRAIN);
    HDF5DataParameter* hdf5 = param.mutable_hdf5_data_param();
    hdf5->set_source(source_);
    hdf5->set_batch_size(batch_size);
    hdf5->set_shuffle(true);
    HDF5DataLayer<float> layer(param);
    Blob<float> top;
    vector<Blob<float>*> bottoms, tops(1, &top);
    layer.SetUp(bottoms, tops);
    vector<int> rows;
    for (int b = 0; b < batches; ++b) {
      layer.Forward(bottoms, tops);
      for (int i = 0; i < batch_size; ++i) {
        rows.push_back(static_cast<int>(top.cpu_data()[i]));
      }
    }
    return rows;
  }

  static vector<int> Sorted(vector<int> rows) {
    std::sort(rows.begin(), rows.end());
    return rows;
  }
  static vector<int> AllRows() {
    vector<int> rows;
    for (int r = 0; r < kRows; ++r) rows.push_back(r);
    return rows;
  }

  string dir_, source_;
};

TEST_F(HDF5DataShuffleTest, OneSolverReadsEveryRowOnceAnEpochReshuffled) {
  const vector<int> rows = Read(0, 1, kRows, 2);
  const vector<int> first(rows.begin(), rows.begin() + kRows);
  const vector<int> second(rows.begin() + kRows, rows.end());
  EXPECT_EQ(AllRows(), Sorted(first));
  EXPECT_EQ(AllRows(), Sorted(second));
  EXPECT_NE(AllRows(), first) << "not shuffled";
  EXPECT_NE(first, second) << "the second epoch was not reshuffled";
}

TEST_F(HDF5DataShuffleTest, SolversReadDisjointSharesOfEachEpoch) {
  const int kSolvers = 3, kShare = kRows / kSolvers;
  vector<vector<int> > read;
  for (int rank = 0; rank < kSolvers; ++rank) {
    read.push_back(Read(rank, kSolvers, kShare, 2));
  }
  for (int epoch = 0; epoch < 2; ++epoch) {
    vector<int> all;
    for (int rank = 0; rank < kSolvers; ++rank) {
      all.insert(all.end(), read[rank].begin() + epoch * kShare,
                 read[rank].begin() + (epoch + 1) * kShare);
    }
    EXPECT_EQ(AllRows(), Sorted(all))
        << "epoch " << epoch << ": the solvers' shares overlap";
  }
  vector<int> unshuffled_share;
  for (int r = 0; r < kRows; r += kSolvers) unshuffled_share.push_back(r);
  EXPECT_NE(unshuffled_share,
            vector<int>(read[0].begin(), read[0].begin() + kShare))
      << "not shuffled";
}

}  // namespace caffe
#endif  // USE_HDF5
