# Layer benchmarks (benchmarks/): ours against upstream's layer, compiled here
# from the pristine upstream tree, and against the Python prototype.
set(pristine_layers "${CAFFE_UPSTREAM_DIR}/src/caffe/layers")
add_executable(euclidean_loss_benchmark
  benchmarks/euclidean_loss_benchmark.cpp benchmarks/upstream_euclidean_loss.cpp)
if(NOT CPU_ONLY)
  target_sources(euclidean_loss_benchmark PRIVATE benchmarks/upstream_euclidean_loss.cu)
endif()
target_compile_definitions(euclidean_loss_benchmark PRIVATE
  CAFFE_UPSTREAM_EUCLIDEAN_HPP="${CAFFE_UPSTREAM_DIR}/include/caffe/layers/euclidean_loss_layer.hpp"
  CAFFE_UPSTREAM_EUCLIDEAN_CPP="${pristine_layers}/euclidean_loss_layer.cpp"
  CAFFE_UPSTREAM_EUCLIDEAN_CU="${pristine_layers}/euclidean_loss_layer.cu")
target_include_directories(euclidean_loss_benchmark PRIVATE benchmarks)
target_link_libraries(euclidean_loss_benchmark PRIVATE caffe)
set_target_properties(euclidean_loss_benchmark PROPERTIES
  RUNTIME_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}/benchmarks")
