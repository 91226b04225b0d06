# Layer benchmarks (benchmarks/, run by scripts/benchmark): native layers
# against the Python prototypes, upstream's layers and a copy roofline.
if(NOT CPU_ONLY)
  # The launch floor and the copy roofline of GPU timings, compiled once for
  # every benchmark.
  add_library(benchmark_gpu_timing OBJECT benchmarks/gpu_timing.cu)
  target_include_directories(benchmark_gpu_timing PRIVATE benchmarks)
  target_link_libraries(benchmark_gpu_timing PRIVATE caffe)
endif()
function(caffe_add_benchmark name)
  add_executable(${name} benchmarks/${name}.cpp ${ARGN})
  if(NOT CPU_ONLY)
    target_link_libraries(${name} PRIVATE benchmark_gpu_timing)
  endif()
  target_include_directories(${name} PRIVATE benchmarks)
  target_link_libraries(${name} PRIVATE caffe)
  set_target_properties(${name} PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}/benchmarks")
endfunction()

# Upstream's EuclideanLoss is compiled here from the pristine upstream tree.
set(pristine_layers "${CAFFE_UPSTREAM_DIR}/src/caffe/layers")
# Ours without streaming stores (plain_store_euclidean_loss.cpp).
caffe_add_benchmark(euclidean_loss_benchmark benchmarks/upstream_euclidean_loss.cpp
  benchmarks/plain_store_euclidean_loss.cpp)
if(NOT CPU_ONLY)
  target_sources(euclidean_loss_benchmark PRIVATE benchmarks/upstream_euclidean_loss.cu)
endif()
target_compile_definitions(euclidean_loss_benchmark PRIVATE
  CAFFE_UPSTREAM_EUCLIDEAN_HPP="${CAFFE_UPSTREAM_DIR}/include/caffe/layers/euclidean_loss_layer.hpp"
  CAFFE_UPSTREAM_EUCLIDEAN_CPP="${pristine_layers}/euclidean_loss_layer.cpp"
  CAFFE_UPSTREAM_EUCLIDEAN_CU="${pristine_layers}/euclidean_loss_layer.cu")

caffe_add_benchmark(blank_square_benchmark)
caffe_add_benchmark(host_memory_benchmark)

# Training against PyTorch (benchmarks/training_benchmark_torch.py, run with
# $CAFFE_TORCH_PYTHON): reads the occlusion study's LeNet and the PyTorch
# script from the source tree.
caffe_add_benchmark(training_benchmark)
target_compile_definitions(training_benchmark PRIVATE
  CAFFE_SOURCE_DIR="${PROJECT_SOURCE_DIR}")

# Smoke runs, CTest labels "benchmark" and "slow": every benchmark runs once
# through with the shortest sampling and must exit 0 (a failed CHECK aborts,
# a Python error exits 1). They check that the benchmarks still run, not
# what they measure (scripts/benchmark measures), so CI runs them once.
if(BUILD_TESTING)
  set(benchmark_environment
    "OPENBLAS_NUM_THREADS=1;GLOG_minloglevel=2;CAFFE_ROOT=${merged};CAFFE_BUILD=${CMAKE_BINARY_DIR};PYTHONPATH=${CMAKE_BINARY_DIR}/python")
  foreach(name euclidean_loss_benchmark blank_square_benchmark host_memory_benchmark
               training_benchmark)
    add_test(NAME benchmark.${name} COMMAND ${name} --min-time 0.001
      WORKING_DIRECTORY "${merged}")
    set_tests_properties(benchmark.${name} PROPERTIES LABELS "benchmark;slow" TIMEOUT 150
      COST 150 ENVIRONMENT "${benchmark_environment}")
  endforeach()
  if(BUILD_python)
    add_test(NAME benchmark.pycaffe_session
      COMMAND "${Python3_EXECUTABLE}" "${PROJECT_SOURCE_DIR}/benchmarks/pycaffe_session_benchmark.py"
              --processes 1 --calls 2
      WORKING_DIRECTORY "${merged}")
    set_tests_properties(benchmark.pycaffe_session PROPERTIES LABELS "benchmark;slow"
      TIMEOUT 60 ENVIRONMENT "${benchmark_environment}")
    # Skips itself, saying why, without mpirun or USE_MPI.
    add_test(NAME benchmark.mpi_training
      COMMAND "${Python3_EXECUTABLE}" "${PROJECT_SOURCE_DIR}/benchmarks/mpi_training_benchmark.py"
              --iters 45
      WORKING_DIRECTORY "${merged}")
    set_tests_properties(benchmark.mpi_training PROPERTIES LABELS "benchmark;slow"
      TIMEOUT 60 ENVIRONMENT "${benchmark_environment}")
  endif()
endif()
