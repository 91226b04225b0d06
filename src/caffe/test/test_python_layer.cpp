#ifdef WITH_PYTHON_LAYER
// Python layers from C++ threads, as the solver threads of multi-GPU training
// run them: each thread has its own net (so its own layer instances), takes
// the GIL only inside Python calls, and gets the same results as one thread.
#include <boost/thread.hpp>

#include <string>
#include <vector>

#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

#include "caffe/common.hpp"
#include "caffe/net.hpp"
#include "caffe/util/python_runtime.hpp"

#include "caffe/test/test_caffe_main.hpp"

namespace caffe {

namespace {

// Gaussian data drawn from the thread's Caffe RNG, an inner product and the
// Python EuclideanLoss prototype (CTest puts pycaffe on PYTHONPATH): all
// deterministic for a seed, whichever thread runs it.
const char* kNet =
    "name: 'python_threads' force_backward: true "
    "layer { name: 'a' type: 'DummyData' top: 'a' top: 'b' "
    "  dummy_data_param { shape { dim: 16 dim: 50 } shape { dim: 16 dim: 20 } "
    "    data_filler { type: 'gaussian' } data_filler { type: 'gaussian' } } } "
    "layer { name: 'ip' type: 'InnerProduct' bottom: 'a' top: 'ip' "
    "  inner_product_param { num_output: 20 weight_filler { type: 'gaussian' "
    "    std: 0.1 } } } "
    "layer { name: 'loss' type: 'Python' bottom: 'ip' bottom: 'b' top: 'loss' "
    "  loss_weight: 1 python_param { module: 'caffe.prototypes.euclidean_loss' "
    "  layer: 'EuclideanLossLayer' } }";

// Caffe's state (mode, device, solver rank and count) is per thread: every
// thread that computes a result sets it first, so a result depends only on
// the mode asked for, never on what the thread ran before.
struct ThreadSettings {
  Caffe::Brew mode;
  int device;  // CUDA device for GPU mode
};

// Saves the calling thread's Caffe state and restores it on every exit path.
class CaffeStateGuard {
 public:
  CaffeStateGuard()
      : mode_(Caffe::mode()), solver_count_(Caffe::solver_count()),
        solver_rank_(Caffe::solver_rank()) {}
  ~CaffeStateGuard() {
    Caffe::set_mode(mode_);
    Caffe::set_solver_count(solver_count_);
    Caffe::set_solver_rank(solver_rank_);
  }

 private:
  const Caffe::Brew mode_;
  const int solver_count_, solver_rank_;
};

// Builds a net from a seed and runs forward/backward `iterations` times in
// the given mode; returns each loss and the final weight gradient.
vector<float> TrainWithPythonLayer(const ThreadSettings& settings, int seed,
                                   int iterations) {
  CaffeStateGuard guard;
#ifndef CPU_ONLY
  // The CUDA device is per host thread too; set it before Caffe::Get()
  // creates this thread's cuBLAS handle.
  if (settings.mode == Caffe::GPU) CUDA_CHECK(cudaSetDevice(settings.device));
#endif
  Caffe::set_mode(settings.mode);
  Caffe::set_random_seed(seed);
  NetParameter param;
  CHECK(google::protobuf::TextFormat::ParseFromString(kNet, &param));
  param.mutable_state()->set_phase(TRAIN);
  Net<float> net(param);
  vector<float> results;
  for (int i = 0; i < iterations; ++i) {
    results.push_back(net.ForwardBackward());
  }
  const Blob<float>& grad = *net.layer_by_name("ip")->blobs()[0];
  results.insert(results.end(), grad.cpu_diff(), grad.cpu_diff() + grad.count());
  return results;
}

// Four threads, each with its own net and seed, against the same four runs
// one after another on this thread, all in one mode. Both sides run the same
// code: the same BLAS (OpenBLAS computes each output element in one order
// whatever the calling thread; cuBLAS gives bit-wise identical results on
// one GPU for one handle per thread, as its documentation states), the same
// Python layer, the same fillers. So equality is exact.
void ExpectThreadsAgreeWithOneThread(const ThreadSettings& settings) {
  const int kThreads = 4, kIterations = 50;
  vector<vector<float> > expected;
  for (int t = 0; t < kThreads; ++t) {
    expected.push_back(TrainWithPythonLayer(settings, 100 + t, kIterations));
  }
  vector<vector<float> > results(kThreads);
  boost::thread_group threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.create_thread([t, &settings, &results]() {
      results[t] = TrainWithPythonLayer(settings, 100 + t, kIterations);
    });
  }
  // Bounded: a GIL deadlock would hang here; ctest's timeout ends it.
  threads.join_all();
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(expected[t].size(), results[t].size());
    for (size_t i = 0; i < expected[t].size(); ++i) {
      EXPECT_EQ(expected[t][i], results[t][i]) << "thread " << t << " value " << i;
    }
  }
}

}  // namespace

class PythonLayerThreadsTest : public ::testing::Test {};

TEST_F(PythonLayerThreadsTest, TestThreadsAgreeWithOneThread) {
  ExpectThreadsAgreeWithOneThread(ThreadSettings{Caffe::CPU, -1});
}

#ifndef CPU_ONLY
// Left out by the test driver on machines without a GPU (its name).
TEST_F(PythonLayerThreadsTest, TestThreadsAgreeWithOneThreadGPU) {
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  ExpectThreadsAgreeWithOneThread(ThreadSettings{Caffe::GPU, device});
}
#endif

TEST_F(PythonLayerThreadsTest, TestSolverRankReachesTheLayer) {
  // Each solver thread sees its own rank: the layer reads it in setup.
  CaffeStateGuard guard;  // restores rank and count however the test ends
  Caffe::set_solver_count(3);
  Caffe::set_solver_rank(2);
  NetParameter param;
  CHECK(google::protobuf::TextFormat::ParseFromString(kNet, &param));
  param.mutable_state()->set_phase(TRAIN);
  Net<float> net(param);
  std::string seen;
  {
    python::GilLock gil;
    PyObject* globals = PyModule_GetDict(PyImport_AddModule("__main__"));
    // The layer object is reachable from Python through gc: find it by class.
    PyObject* result = PyRun_String(
        "import gc\n"
        "from caffe.prototypes.euclidean_loss import EuclideanLossLayer\n"
        "ranks = str(sorted({(o.solver_rank, o.solver_count)"
        " for o in gc.get_objects() if isinstance(o, EuclideanLossLayer)}))\n",
        Py_file_input, globals, globals);
    if (result) {
      Py_DECREF(result);
      seen = PyUnicode_AsUTF8(PyDict_GetItemString(globals, "ranks"));
    } else {
      PyErr_Print();
    }
  }
  ASSERT_FALSE(seen.empty()) << "the Python probe failed (traceback above)";
  EXPECT_NE(std::string::npos, seen.find("(2, 3)")) << seen;
}

}  // namespace caffe
#endif  // WITH_PYTHON_LAYER
