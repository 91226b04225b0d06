# Make front end to the CMake build (CMakeLists.txt holds the one build
# description): cp Makefile.config.example Makefile.config && make all pycaffe test runtest
CONFIG_FILE ?= Makefile.config
ifeq ($(wildcard $(CONFIG_FILE)),)
$(error $(CONFIG_FILE) not found: cp Makefile.config.example $(CONFIG_FILE))
endif
include $(CONFIG_FILE)

BUILD_DIR ?= build
BLAS ?= open
on_off = $(if $(filter 1,$(1)),ON,OFF)
default_on = $(if $(filter 0,$(1)),OFF,ON)
blas_vendor_open := OpenBLAS
blas_vendor_atlas := ATLAS
blas_vendor_mkl := MKL
BLAS_VENDOR := $(blas_vendor_$(BLAS))
ifeq ($(BLAS_VENDOR),)
$(error BLAS := $(BLAS) is not one of open, atlas, mkl)
endif

SETUP_ARGS := --build-dir $(BUILD_DIR) \
	-DUSE_OPENCV=$(call default_on,$(USE_OPENCV)) \
	-DUSE_LMDB=$(call default_on,$(USE_LMDB)) \
	-DUSE_LEVELDB=$(call default_on,$(USE_LEVELDB)) \
	-DUSE_HDF5=$(call default_on,$(USE_HDF5)) \
	-DBUILD_python_layer=$(call on_off,$(WITH_PYTHON_LAYER)) \
	-DCAFFE_BLAS=$(BLAS_VENDOR)
ifneq ($(CPU_ONLY),1)
SETUP_ARGS += --cuda -DUSE_CUDNN=$(call on_off,$(USE_CUDNN)) \
	-DUSE_NCCL=$(call on_off,$(USE_NCCL))
ifneq ($(CUDA_ARCH),)
SETUP_ARGS += --arch "$(subst $() ,;,$(strip $(CUDA_ARCH)))"
endif
endif

BUILD := cmake --build $(BUILD_DIR) --parallel
CTEST := ctest --test-dir $(BUILD_DIR) --output-on-failure --parallel $(shell nproc)

.PHONY: all configure pycaffe test runtest pytest clean
all: configure
	$(BUILD) --target caffe tools

# Re-run on every make: setup installs what is missing and reconfigures
# only when Makefile.config or the sources changed.
configure:
	scripts/setup --configure-only $(SETUP_ARGS)

pycaffe: configure
	$(BUILD) --target pycaffe

test: configure
	$(BUILD) --target test.testbin

runtest: test
	$(CTEST) -L gtest

pytest: all pycaffe
	$(CTEST) -L python

clean:
	if [ -d $(BUILD_DIR) ]; then $(BUILD) --target clean; fi
