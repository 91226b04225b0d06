# Layer benchmarks (benchmarks/, run by scripts/benchmark): native layers
# against the Python prototypes, upstream's layers and a copy roofline.
function(caffe_add_benchmark name)
  add_executable(${name} benchmarks/${name}.cpp ${ARGN})
  if(NOT CPU_ONLY)
    # The launch floor and the copy roofline of GPU timings.
    target_sources(${name} PRIVATE benchmarks/gpu_timing.cu)
  endif()
  target_include_directories(${name} PRIVATE benchmarks)
  target_link_libraries(${name} PRIVATE caffe)
  set_target_properties(${name} PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}/benchmarks")
endfunction()

# Upstream's EuclideanLoss is compiled here from the pristine upstream tree.
set(pristine_layers "${CAFFE_UPSTREAM_DIR}/src/caffe/layers")
# Ours without streaming stores, compiled from the merged tree.
caffe_add_benchmark(euclidean_loss_benchmark benchmarks/upstream_euclidean_loss.cpp
  benchmarks/plain_store_euclidean_loss.cpp)
if(NOT CPU_ONLY)
  target_sources(euclidean_loss_benchmark PRIVATE benchmarks/upstream_euclidean_loss.cu)
endif()
target_compile_definitions(euclidean_loss_benchmark PRIVATE
  CAFFE_UPSTREAM_EUCLIDEAN_HPP="${CAFFE_UPSTREAM_DIR}/include/caffe/layers/euclidean_loss_layer.hpp"
  CAFFE_UPSTREAM_EUCLIDEAN_CPP="${pristine_layers}/euclidean_loss_layer.cpp"
  CAFFE_UPSTREAM_EUCLIDEAN_CU="${pristine_layers}/euclidean_loss_layer.cu"
  CAFFE_NATIVE_EUCLIDEAN_CPP="${merged}/src/caffe/layers/euclidean_loss_layer.cpp")

caffe_add_benchmark(blank_square_benchmark)
caffe_add_benchmark(host_memory_benchmark)

# Training against PyTorch (benchmarks/training_benchmark_torch.py, run with
# $CAFFE_TORCH_PYTHON): reads the occlusion study's LeNet and the PyTorch
# script from the source tree.
caffe_add_benchmark(training_benchmark)
target_compile_definitions(training_benchmark PRIVATE
  CAFFE_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
