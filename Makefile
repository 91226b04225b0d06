# Make front end to the CMake build (CMakeLists.txt holds the one build
# description): cp Makefile.config.example Makefile.config && make all pycaffe test runtest
# Each setting of Makefile.config becomes a CMake setting below; the ones
# this build does not take are listed, with why, in Makefile.config.example.
CONFIG_FILE ?= Makefile.config
ifeq ($(wildcard $(CONFIG_FILE)),)
$(error $(CONFIG_FILE) not found: cp Makefile.config.example $(CONFIG_FILE))
endif
include $(CONFIG_FILE)

BUILD_DIR ?= build
DISTRIBUTE_DIR ?= distribute
BLAS ?= open
on_off = $(if $(filter 1,$(1)),ON,OFF)
default_on = $(if $(filter 0,$(1)),OFF,ON)
empty :=
space := $(empty) $(empty)
comma := ,
# A CMake list (semicolon-separated) from a Make word list.
cmake_list = $(subst $(space),;,$(strip $(1)))
ifneq ($(BLAS),open)
$(error BLAS := $(BLAS) is not supported: this fork builds with OpenBLAS only (BLAS := open; see Makefile.config.example))
endif

# Upstream's settings that this build does not take: stop rather than
# ignore them silently (see Makefile.config.example).
unsupported := $(strip $(if $(MATLAB_DIR),MATLAB_DIR) $(if $(PYTHON_LIBRARIES),PYTHON_LIBRARIES) \
	$(if $(USE_PKG_CONFIG),USE_PKG_CONFIG))
ifneq ($(unsupported),)
$(error $(CONFIG_FILE) sets $(unsupported), which this build does not support (see Makefile.config.example))
endif

# CUDA_ARCH: upstream's -gencode lines or compute capabilities.
# "-gencode arch=compute_61,code=sm_61" is 61-real (machine code),
# "code=compute_61" is 61-virtual (PTX), a bare 61 is both.
cuda_arch_words := $(subst $(comma),$(space),$(CUDA_ARCH))
cuda_archs := $(sort \
	$(patsubst code=sm_%,%-real,$(filter code=sm_%,$(cuda_arch_words))) \
	$(patsubst code=compute_%,%-virtual,$(filter code=compute_%,$(cuda_arch_words))) \
	$(filter-out -gencode arch=% code=%,$(cuda_arch_words)))

# Where CMake looks first for headers and libraries (upstream passed these
# as -I and -L to every compile and link).
search_includes := $(strip $(INCLUDE_DIRS) $(PYTHON_INCLUDE) $(BLAS_INCLUDE))
search_libraries := $(strip $(LIBRARY_DIRS) $(PYTHON_LIB) $(BLAS_LIB))

SETUP_ARGS := --build-dir $(BUILD_DIR) \
	-DUSE_OPENCV=$(call default_on,$(USE_OPENCV)) \
	-DUSE_LMDB=$(call default_on,$(USE_LMDB)) \
	-DUSE_LEVELDB=$(call default_on,$(USE_LEVELDB)) \
	-DUSE_HDF5=$(call default_on,$(USE_HDF5)) \
	-DUSE_MPI=$(call on_off,$(USE_MPI)) \
	-DBUILD_python_layer=$(call on_off,$(WITH_PYTHON_LAYER)) \
	-DCMAKE_BUILD_TYPE=$(if $(filter 1,$(DEBUG)),Debug,Release) \
	"-DCMAKE_CXX_FLAGS=$(if $(filter 1,$(ALLOW_LMDB_NOLOCK)),-DALLOW_LMDB_NOLOCK)" \
	"-DCMAKE_INCLUDE_PATH=$(call cmake_list,$(search_includes))" \
	"-DCMAKE_LIBRARY_PATH=$(call cmake_list,$(search_libraries))"
ifneq ($(BLAS_INCLUDE),)
SETUP_ARGS += "-DCBLAS_INCLUDE_DIR=$(firstword $(BLAS_INCLUDE))"
endif
ifneq ($(CUSTOM_CXX),)
SETUP_ARGS += "-DCMAKE_CXX_COMPILER=$(CUSTOM_CXX)"
endif
ifneq ($(PYTHON_EXECUTABLE),)
SETUP_ARGS += "-DPython3_EXECUTABLE=$(PYTHON_EXECUTABLE)"
endif
ifneq ($(CPU_ONLY),1)
SETUP_ARGS += --cuda -DUSE_CUDNN=$(call on_off,$(USE_CUDNN)) \
	-DUSE_NCCL=$(call on_off,$(USE_NCCL))
ifneq ($(CUDA_DIR),)
SETUP_ARGS += "-DCMAKE_CUDA_COMPILER=$(CUDA_DIR)/bin/nvcc" "-DCUDAToolkit_ROOT=$(CUDA_DIR)"
endif
ifneq ($(cuda_archs),)
SETUP_ARGS += --arch "$(call cmake_list,$(cuda_archs))"
endif
endif

# Q := (empty) shows every command, as upstream's Makefile did.
Q ?= @
BUILD := cmake --build $(BUILD_DIR) --parallel $(if $(Q),,--verbose)
CTEST := ctest --test-dir $(BUILD_DIR) --output-on-failure --parallel $(shell nproc)
# runtest's GPU cases run on GPU $(TEST_GPUID) (the only one they see).
TEST_ENV := $(if $(TEST_GPUID),CUDA_VISIBLE_DEVICES=$(TEST_GPUID))
# Python layers in the gtest suite import pycaffe.
TEST_TARGETS := test.testbin $(if $(filter 1,$(WITH_PYTHON_LAYER)),pycaffe)

.PHONY: all configure pycaffe test runtest pytest distribute clean
all: configure
	$(BUILD) --target caffe tools

# Re-run on every make: setup installs what is missing and reconfigures
# only when Makefile.config or the sources changed.
configure:
	scripts/setup --configure-only $(SETUP_ARGS)

pycaffe: configure
	$(BUILD) --target pycaffe

test: configure
	$(BUILD) --target $(TEST_TARGETS)

# RUNTEST_FILTER: a regex over the suites' names (Suite, or Suite/N for a
# typed suite's types) to run only those; taken as written ($ included).
runtest: test
	$(TEST_ENV) $(CTEST) -L gtest $(if $(RUNTEST_FILTER),-R '$(value RUNTEST_FILTER)')

# The Python tests need pycaffe, the tools (caffe, the example converters)
# and the deliberately broken layer plugin the port-check test loads.
pytest: all pycaffe
	$(BUILD) --target caffe_broken_layers
	$(CTEST) -L python

# Upstream's `make distribute`: an install tree in $(DISTRIBUTE_DIR)
# (lib, include, bin, python, lib/cmake/Caffe).
distribute: all pycaffe
	cmake --install $(BUILD_DIR) --prefix $(DISTRIBUTE_DIR)

clean:
	if [ -d $(BUILD_DIR) ]; then $(BUILD) --target clean; fi
	rm -rf $(DISTRIBUTE_DIR)
