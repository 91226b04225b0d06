// Test driver for upstream's gtest suite and ours. On a CUDA build it picks
// the device (argv[1], else the current one). A CPU-only build, or a CUDA
// build on a machine without a usable GPU, leaves out the GPU cases (as
// upstream's CMake did with --gtest_filter=-*GPU*), so the CPU cases run.
// Every case starts from the same global state (ResetGlobalState), whatever
// ran before it: upstream's MultiDeviceTest sets the mode and never restores
// it, and Caffe's state is per thread, so a GPU case would otherwise leave
// the next CPU case computing its expectations on the GPU.
#include <stdlib.h>

#include <string>

#include "boost/filesystem.hpp"
#include "caffe/caffe.hpp"
#include "caffe/test/test_caffe_main.hpp"

namespace caffe {
#ifndef CPU_ONLY
cudaDeviceProp CAFFE_TEST_CUDA_PROP;
#endif
}

namespace {

// A case needs a GPU when its type parameter is a GPUDevice or when it is
// one of the suites or tests that exist for the GPU only.
bool NeedsGpu(const ::testing::TestCase& test_case,
              const ::testing::TestInfo& test_info) {
  const std::string type = test_case.type_param() ? test_case.type_param() : "";
  const std::string suite = test_case.name();
  const std::string name = test_info.name();
  for (const char* marker : {"GPU", "CuDNN", "Platform", "Im2colKernel",
                             "NCCL"}) {
    if (suite.find(marker) != std::string::npos ||
        name.find(marker) != std::string::npos) {
      return true;
    }
  }
  return type.find("GPUDevice") != std::string::npos;
}

void LeaveOutGpuCases(const char* why) {
  ::testing::UnitTest& unit = *::testing::UnitTest::GetInstance();
  std::string exclude;
  int count = 0;
  for (int i = 0; i < unit.total_test_case_count(); ++i) {
    const ::testing::TestCase& test_case = *unit.GetTestCase(i);
    for (int j = 0; j < test_case.total_test_count(); ++j) {
      const ::testing::TestInfo& info = *test_case.GetTestInfo(j);
      if (NeedsGpu(test_case, info)) {
        exclude += std::string(exclude.empty() ? "" : ":") +
                   test_case.name() + "." + info.name();
        ++count;
      }
    }
  }
  if (count == 0) return;
  // Old gtest keeps flags in its own string class: go through const char*.
  std::string filter(::testing::GTEST_FLAG(filter).c_str());
  const bool has_negative = filter.find('-') != std::string::npos;
  filter += (has_negative ? ":" : "-") + exclude;
  ::testing::GTEST_FLAG(filter) = filter.c_str();
  std::cerr << why << ": leaving out " << count << " GPU test cases."
            << std::endl;
}

// The device the cases run on; -1 without a usable GPU.
int test_device = -1;

// Mode CPU, the test device current, one solver of rank 0 in one process:
// what a fresh thread would see (Caffe::Get() makes a new state per
// thread). The RNG seed is left alone: cases that depend on random values
// seed it themselves, and Caffe's default seed differs from run to run.
class ResetGlobalState : public ::testing::EmptyTestEventListener {
  virtual void OnTestStart(const ::testing::TestInfo&) {
    caffe::Caffe::set_mode(caffe::Caffe::CPU);
#ifndef CPU_ONLY
    if (test_device >= 0) CUDA_CHECK(cudaSetDevice(test_device));
#endif
    caffe::Caffe::set_solver_count(1);
    caffe::Caffe::set_solver_rank(0);
    caffe::Caffe::set_multiprocess(false);
  }
};

// Upstream's cases make temporary directories (MakeTempDir) and never remove
// them, and glog writes a file per run into the temporary directory: tens of
// thousands of entries in /tmp after a few days of test runs. Everything a
// run leaves goes into one directory of its own, removed when the run ends.
class RunTempDir {
 public:
  RunTempDir() {
    const char* parent = getenv("TMPDIR");
    std::string pattern = std::string(parent && *parent ? parent : "/tmp") +
                          "/caffe_gtest.XXXXXX";
    if (mkdtemp(&pattern[0])) {
      path_ = pattern;
      setenv("TMPDIR", path_.c_str(), 1);
    }
  }
  ~RunTempDir() {
    boost::system::error_code ignored;
    if (!path_.empty()) boost::filesystem::remove_all(path_, ignored);
  }

 private:
  std::string path_;
};

}  // namespace

int main(int argc, char** argv) {
  RunTempDir temp_dir;  // before glog picks its directory
  ::testing::InitGoogleTest(&argc, argv);
  caffe::GlobalInit(&argc, &argv);
#ifndef CPU_ONLY
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    cudaGetLastError();  // clear the sticky error for later CUDA calls
    LeaveOutGpuCases("No CUDA device");
  } else {
    int device = argc > 1 ? atoi(argv[1]) : -1;
    if (device >= 0) {
      CUDA_CHECK(cudaSetDevice(device));
    }
    CUDA_CHECK(cudaGetDevice(&device));
    test_device = device;
    CUDA_CHECK(cudaGetDeviceProperties(&caffe::CAFFE_TEST_CUDA_PROP, device));
    std::cout << "CUDA devices: " << count << ", testing on " << device
              << ": " << caffe::CAFFE_TEST_CUDA_PROP.name << std::endl;
  }
#else
  LeaveOutGpuCases("CPU-only build");
#endif
  ::testing::UnitTest& unit = *::testing::UnitTest::GetInstance();
  unit.listeners().Append(new ResetGlobalState);
  const int status = RUN_ALL_TESTS();
  // What CTest reads to count a suite that skipped a case and failed none
  // as skipped (cmake/GTestSuites.cmake.in).
  if (unit.failed_test_count() == 0 && unit.skipped_test_count() > 0) {
    std::cout << "caffe test driver: " << unit.skipped_test_count() << " of "
              << unit.test_to_run_count() << " cases skipped" << std::endl;
  }
  return status;
}
