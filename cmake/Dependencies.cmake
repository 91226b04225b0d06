# Finds Caffe's dependencies and gathers them, with the definitions that
# upstream's headers test (CPU_ONLY, USE_*), in the interface target
# caffe_dependencies; pycaffe's extra needs go in caffe_python.

add_library(caffe_dependencies INTERFACE)
set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)
find_package(Protobuf 3.18 REQUIRED)
find_package(glog REQUIRED)
find_package(gflags REQUIRED)
find_package(Boost 1.70 REQUIRED COMPONENTS system thread filesystem)
set(BLA_VENDOR OpenBLAS)
find_package(BLAS REQUIRED)
find_path(CBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES openblas REQUIRED)
target_include_directories(caffe_dependencies INTERFACE "${CBLAS_INCLUDE_DIR}")
target_link_libraries(caffe_dependencies INTERFACE
  Threads::Threads protobuf::libprotobuf glog::glog gflags
  Boost::system Boost::thread Boost::filesystem BLAS::BLAS)

if(USE_HDF5)
  find_package(HDF5 REQUIRED COMPONENTS C HL)
  target_link_libraries(caffe_dependencies INTERFACE HDF5::HDF5)
  target_compile_definitions(caffe_dependencies INTERFACE USE_HDF5)
endif()

if(USE_LMDB)
  find_path(LMDB_INCLUDE_DIR lmdb.h REQUIRED)
  find_library(LMDB_LIBRARY lmdb REQUIRED)
  target_include_directories(caffe_dependencies INTERFACE "${LMDB_INCLUDE_DIR}")
  target_link_libraries(caffe_dependencies INTERFACE "${LMDB_LIBRARY}")
  target_compile_definitions(caffe_dependencies INTERFACE USE_LMDB)
endif()

if(USE_LEVELDB)
  find_package(leveldb REQUIRED)
  target_link_libraries(caffe_dependencies INTERFACE leveldb::leveldb)
  target_compile_definitions(caffe_dependencies INTERFACE USE_LEVELDB)
endif()

if(USE_OPENCV)
  set(opencv_modules core imgproc imgcodecs highgui)
  find_package(OpenCV QUIET COMPONENTS ${opencv_modules})
  if(NOT OpenCV_FOUND)
    # Debian's per-module -dev packages ship no OpenCVConfig.cmake.
    find_path(OpenCV_INCLUDE_DIRS opencv2/core.hpp PATH_SUFFIXES opencv4 REQUIRED)
    set(OpenCV_LIBS)
    foreach(module IN LISTS opencv_modules)
      find_library(OpenCV_${module}_LIBRARY opencv_${module} REQUIRED)
      list(APPEND OpenCV_LIBS "${OpenCV_${module}_LIBRARY}")
    endforeach()
  endif()
  target_include_directories(caffe_dependencies INTERFACE ${OpenCV_INCLUDE_DIRS})
  target_link_libraries(caffe_dependencies INTERFACE ${OpenCV_LIBS})
  target_compile_definitions(caffe_dependencies INTERFACE USE_OPENCV)
endif()

if(CPU_ONLY)
  target_compile_definitions(caffe_dependencies INTERFACE CPU_ONLY)
else()
  find_package(CUDAToolkit 11 REQUIRED)
  target_link_libraries(caffe_dependencies INTERFACE
    CUDA::cudart CUDA::cublas CUDA::curand)
  if(USE_CUDNN)
    find_path(CUDNN_INCLUDE_DIR cudnn.h HINTS ${CUDAToolkit_INCLUDE_DIRS} REQUIRED)
    find_library(CUDNN_LIBRARY cudnn HINTS ${CUDAToolkit_LIBRARY_DIR} REQUIRED)
    target_include_directories(caffe_dependencies INTERFACE "${CUDNN_INCLUDE_DIR}")
    target_link_libraries(caffe_dependencies INTERFACE "${CUDNN_LIBRARY}")
    target_compile_definitions(caffe_dependencies INTERFACE USE_CUDNN)
  endif()
  if(USE_NCCL)
    find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} REQUIRED)
    find_library(NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} REQUIRED)
    target_include_directories(caffe_dependencies INTERFACE "${NCCL_INCLUDE_DIR}")
    target_link_libraries(caffe_dependencies INTERFACE "${NCCL_LIBRARY}")
    target_compile_definitions(caffe_dependencies INTERFACE USE_NCCL)
  endif()
endif()

if(BUILD_python)
  # The interpreter whose packages pycaffe and the embedded Python of Python
  # layers use; scripts/setup points it at build/venv.
  find_package(Python3 3.8 REQUIRED
               COMPONENTS Interpreter Development.Module Development.Embed NumPy)
  set(boost_python python${Python3_VERSION_MAJOR}${Python3_VERSION_MINOR})
  find_package(Boost 1.70 REQUIRED COMPONENTS ${boost_python})
  add_library(caffe_python INTERFACE)
  target_link_libraries(caffe_python INTERFACE Boost::${boost_python} Python3::NumPy)
  if(BUILD_python_layer)
    # Layers embed Python: libcaffe links libpython and Boost.Python.
    target_link_libraries(caffe_dependencies INTERFACE
      Boost::${boost_python} Python3::Python)
    target_compile_definitions(caffe_dependencies INTERFACE WITH_PYTHON_LAYER)
  endif()
endif()
