# Finds Caffe's dependencies and gathers them, with the definitions that
# upstream's headers test (CPU_ONLY, USE_*), in the interface target
# caffe_dependencies; pycaffe's extra needs go in caffe_python.

add_library(caffe_dependencies INTERFACE)

# Finds a library by its header and name (beside CUDA's first) and adds it,
# with the definition that switches it on in Caffe's sources, to
# caffe_dependencies. Beside CUDA means the toolkit's own lib64 and lib too:
# CMake 4 may take CUDAToolkit_LIBRARY_DIR from another copy of cudart (seen:
# /usr/local/lib), where cuDNN is not.
function(caffe_use_library definition header name)
  find_path(${definition}_INCLUDE_DIR ${header} HINTS ${CUDAToolkit_INCLUDE_DIRS} REQUIRED)
  find_library(${definition}_LIBRARY ${name}
    HINTS ${CUDAToolkit_LIBRARY_DIR} "${CUDAToolkit_TARGET_DIR}/lib64"
          "${CUDAToolkit_TARGET_DIR}/lib"
    REQUIRED)
  target_include_directories(caffe_dependencies INTERFACE "${${definition}_INCLUDE_DIR}")
  target_link_libraries(caffe_dependencies INTERFACE "${${definition}_LIBRARY}")
  target_compile_definitions(caffe_dependencies INTERFACE ${definition})
endfunction()
set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)
find_package(Protobuf 3.18 REQUIRED)
find_package(glog REQUIRED)
find_package(gflags REQUIRED)
# Boost.System has been header-only since 1.69, and 1.89 dropped its stub
# library (Debian testing has no libboost-system-dev): only Thread and
# Filesystem are libraries to find.
find_package(Boost 1.70 REQUIRED COMPONENTS thread filesystem)
# OpenBLAS only. Upstream also offered ATLAS and MKL; neither was ever built
# here (Debian's ATLAS has its CBLAS in a separate library under another
# header name, and MKL is outside Debian's main), so they are refused
# rather than left to fail in some later link.
if(DEFINED CAFFE_BLAS AND NOT CAFFE_BLAS STREQUAL "OpenBLAS")
  message(FATAL_ERROR "CAFFE_BLAS=${CAFFE_BLAS}: this fork builds with OpenBLAS only "
                      "(libopenblas-dev)")
endif()
set(BLA_VENDOR OpenBLAS)
find_path(CBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES openblas REQUIRED)
find_package(BLAS REQUIRED)
target_include_directories(caffe_dependencies INTERFACE "${CBLAS_INCLUDE_DIR}")
target_link_libraries(caffe_dependencies INTERFACE
  Threads::Threads protobuf::libprotobuf glog::glog gflags
  Boost::thread Boost::filesystem BLAS::BLAS)

if(USE_HDF5)
  find_package(HDF5 REQUIRED COMPONENTS C HL)
  # HDF5::HDF5 carries only the C library; the H5LT* functions Caffe uses
  # live in the high-level one, which must be named.
  target_link_libraries(caffe_dependencies INTERFACE HDF5::HDF5 ${HDF5_HL_LIBRARIES})
  target_compile_definitions(caffe_dependencies INTERFACE USE_HDF5)
endif()

if(USE_LMDB)
  caffe_use_library(USE_LMDB lmdb.h lmdb)
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
  # Recent nvcc gives the host stubs of __global__ templates internal linkage
  # and kernels hidden visibility; upstream's test_im2col_kernel.cu launches
  # libcaffe's im2col kernel templates from the test binary, so they must
  # stay external and visible.
  include(CheckCompilerFlag)
  foreach(flag -static-global-template-stub=false
               -device-entity-has-hidden-visibility=false)
    string(MAKE_C_IDENTIFIER "CUDA_HAS${flag}" has_flag)
    check_compiler_flag(CUDA "${flag}" ${has_flag})
    if(${has_flag})
      target_compile_options(caffe_dependencies INTERFACE
        $<$<COMPILE_LANGUAGE:CUDA>:${flag}>)
    endif()
  endforeach()
  # CUDA 13 keeps Thrust and CUB in include/cccl; nvcc finds them there on
  # its own, but host .cpp files that include Thrust need the path.
  foreach(dir IN LISTS CUDAToolkit_INCLUDE_DIRS)
    if(IS_DIRECTORY "${dir}/cccl")
      target_include_directories(caffe_dependencies SYSTEM INTERFACE "${dir}/cccl")
    endif()
  endforeach()
  if(USE_CUDNN)
    caffe_use_library(USE_CUDNN cudnn.h cudnn)
  endif()
  if(USE_NCCL)
    caffe_use_library(USE_NCCL nccl.h nccl)
  endif()
endif()

if(USE_MPI)
  find_package(MPI REQUIRED COMPONENTS C)
  find_program(MPIEXEC_EXECUTABLE NAMES mpirun mpiexec REQUIRED)
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
