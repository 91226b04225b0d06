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

// Builds a net from a seed and runs forward/backward `iterations` times;
// returns each loss and the final weight gradient.
vector<float> TrainWithPythonLayer(int seed, int iterations) {
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

}  // namespace

class PythonLayerThreadsTest : public ::testing::Test {};

TEST_F(PythonLayerThreadsTest, TestThreadsAgreeWithOneThread) {
  const int kThreads = 4, kIterations = 50;
  vector<vector<float> > expected;
  for (int t = 0; t < kThreads; ++t) expected.push_back(TrainWithPythonLayer(100 + t, kIterations));

  vector<vector<float> > results(kThreads);
  boost::thread_group threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.create_thread([t, &results]() { results[t] = TrainWithPythonLayer(100 + t, kIterations); });
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

TEST_F(PythonLayerThreadsTest, TestSolverRankReachesTheLayer) {
  // Each solver thread sees its own rank: the layer reads it in setup.
  Caffe::set_solver_count(3);
  Caffe::set_solver_rank(2);
  NetParameter param;
  CHECK(google::protobuf::TextFormat::ParseFromString(kNet, &param));
  param.mutable_state()->set_phase(TRAIN);
  Net<float> net(param);
  python::GilLock gil;
  PyObject* main = PyImport_AddModule("__main__");
  ASSERT_TRUE(main != NULL);
  // The layer object is reachable from Python through gc: find it by class.
  PyObject* result = PyRun_String(
      "import gc\n"
      "from caffe.prototypes.euclidean_loss import EuclideanLossLayer\n"
      "ranks = sorted({(o.solver_rank, o.solver_count) for o in gc.get_objects()"
      " if isinstance(o, EuclideanLossLayer)})\n",
      Py_file_input, PyModule_GetDict(main), PyModule_GetDict(main));
  ASSERT_TRUE(result != NULL);
  Py_DECREF(result);
  PyObject* ranks = PyDict_GetItemString(PyModule_GetDict(main), "ranks");
  PyObject* text = PyObject_Str(ranks);
  const std::string seen = PyUnicode_AsUTF8(text);
  Py_DECREF(text);
  Caffe::set_solver_count(1);
  Caffe::set_solver_rank(0);
  EXPECT_NE(std::string::npos, seen.find("(2, 3)")) << seen;
}

}  // namespace caffe
#endif  // WITH_PYTHON_LAYER
