// Stop and snapshot requests in multi-GPU training
// (patches/0033-gpu-threads-agree-on-stop-requests.patch): the solvers of
// NCCL::Run's GPU threads must leave their loops after the same iteration, or
// the ones still stepping wait in NCCL for ever. Here CPU solvers step in
// threads, joined to one AgreedRequests as NCCL::Run joins them; nothing else
// connects them (no gradients are exchanged), so what these cases check is the
// agreement alone. A solver that stops alone leaves the others at the
// agreement's barrier: the cases then stop the test program with a message
// after 60 s instead of hanging.
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <vector>

#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

#include "caffe/agreed_requests.hpp"
#include "caffe/common.hpp"
#include "caffe/solver.hpp"
#include "caffe/solver_factory.hpp"
#include "caffe/util/io.hpp"

#include "caffe/test/test_caffe_main.hpp"

namespace caffe {

class AgreedRequestsTest : public ::testing::Test {
 protected:
  void SetUp() override { MakeTempDir(&folder_); }

  SolverParameter Param(int index) const {
    SolverParameter param;
    CHECK(google::protobuf::TextFormat::ParseFromString(R"(
        type: "SGD" base_lr: 0.01 lr_policy: "fixed" max_iter: 1000
        net_param {
          layer { name: "data" type: "DummyData" top: "data" top: "target"
            dummy_data_param { shape { dim: 4 dim: 3 } shape { dim: 4 dim: 2 }
                               data_filler { type: "gaussian" } } }
          layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
            inner_product_param { num_output: 2
                                  weight_filler { type: "gaussian" } } }
          layer { name: "loss" type: "EuclideanLoss" bottom: "ip"
                  bottom: "target" top: "loss" }
        })", &param));
    param.set_snapshot_prefix(Prefix(index));
    return param;
  }

  std::string Prefix(int index) const {
    return folder_ + "/solver" + std::to_string(index);
  }

  // Steps `solvers` solvers for up to `iterations` in threads of their own,
  // solver i as solver rank i, and returns the iteration each ended at.
  std::vector<int> Step(int solvers, ActionCallback source, int iterations) {
    AgreedRequests<float> requests(solvers, source);
    std::vector<std::future<int> > ended;
    for (int i = 0; i < solvers; ++i) {
      ended.push_back(std::async(std::launch::async, [&, i] {
        Caffe::set_mode(Caffe::CPU);
        Caffe::set_solver_count(solvers);
        Caffe::set_solver_rank(i);
        shared_ptr<Solver<float> > solver(
            SolverRegistry<float>::CreateSolver(Param(i)));
        requests.Join(solver.get(), i);
        solver->Step(iterations);
        return solver->iter();
      }));
    }
    std::vector<int> iterations_done;
    for (std::future<int>& end : ended) {
      CHECK(end.wait_for(std::chrono::seconds(60)) == std::future_status::ready)
          << "AgreedRequestsTest: the solvers did not finish together (a "
          << "solver left its loop alone and the others wait for it)";
      iterations_done.push_back(end.get());
    }
    return iterations_done;
  }

  // A request source that answers `request` at its `call`-th call (from 1)
  // and nothing otherwise, counting its calls.
  ActionCallback AnswerAt(int call, SolverAction::Enum request) {
    return [this, call, request] {
      return ++calls_ == call ? request : SolverAction::NONE;
    };
  }

  bool Exists(const std::string& path) const {
    struct stat info;
    return stat(path.c_str(), &info) == 0;
  }

  std::string folder_;
  std::atomic<int> calls_{0};
};

TEST_F(AgreedRequestsTest, EveryThreadStopsAfterTheSameIteration) {
  // Asked at the start of the fifth iteration, every solver stops after it.
  EXPECT_EQ(Step(3, AnswerAt(5, SolverAction::STOP), 50),
            std::vector<int>({5, 5, 5}));
  EXPECT_EQ(calls_, 5);
}

TEST_F(AgreedRequestsTest, TheSourceIsAskedOncePerIteration) {
  EXPECT_EQ(Step(4, AnswerAt(0, SolverAction::STOP), 7),
            std::vector<int>({7, 7, 7, 7}));
  EXPECT_EQ(calls_, 7);
}

TEST_F(AgreedRequestsTest, OnlyTheFirstSolverSnapshots) {
  EXPECT_EQ(Step(3, AnswerAt(3, SolverAction::SNAPSHOT), 6),
            std::vector<int>({6, 6, 6}));
  EXPECT_TRUE(Exists(Prefix(0) + "_iter_3.caffemodel"));
  EXPECT_TRUE(Exists(Prefix(0) + "_iter_3.solverstate"));
  EXPECT_FALSE(Exists(Prefix(1) + "_iter_3.caffemodel"));
  EXPECT_FALSE(Exists(Prefix(2) + "_iter_3.caffemodel"));
}

TEST_F(AgreedRequestsTest, WithoutASourceTheyStepToTheEnd) {
  EXPECT_EQ(Step(2, ActionCallback(), 4), std::vector<int>({4, 4}));
}

TEST_F(AgreedRequestsTest, SolversMustJoinOnceEach) {
  AgreedRequests<float> requests(2, ActionCallback());
  shared_ptr<Solver<float> > solver(
      SolverRegistry<float>::CreateSolver(Param(0)));
  requests.Join(solver.get(), 0);
  EXPECT_DEATH(requests.Join(solver.get(), 0), "solver 0 joined twice");
  EXPECT_DEATH(requests.Join(solver.get(), 2), "solver index 2 of 2");
}

}  // namespace caffe
