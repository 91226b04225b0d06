"""Shared pytest settings for pycaffe's tests.

Tests that need an optional part of Caffe say so with a marker, and are
skipped with the reason in a build without it, instead of aborting the
interpreter at a glog CHECK:

- ``python_layer``: Python layers (``BUILD_python_layer=ON``);
- ``lmdb``, ``leveldb``, ``hdf5``: LMDB or LevelDB databases, HDF5 files
  (``USE_LMDB``, ``USE_LEVELDB``, ``USE_HDF5``), known from the build
  folder CTest names in ``$CAFFE_BUILD``;
- ``cpu_only_build``, ``cuda_build``: what only a build without CUDA
  (``CPU_ONLY=ON``), or with it, does;
- ``mpi``: training across processes (``USE_MPI=ON``), known the same way;
- ``opencv``: image files (``USE_OPENCV=ON``, which the ImageData layer needs).
"""
import ctypes
import os
import tempfile
from pathlib import Path

import pytest

import caffe


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'python_layer: needs Caffe built with Python layers '
        '(BUILD_python_layer=ON)')
    for option in ('lmdb', 'leveldb', 'hdf5'):
        config.addinivalue_line(
            'markers', f'{option}: needs Caffe built with USE_{option.upper()}=ON')
    config.addinivalue_line('markers', 'cpu_only_build: needs a CPU-only Caffe (CPU_ONLY=ON)')
    config.addinivalue_line('markers', 'cuda_build: needs a Caffe built with CUDA (CPU_ONLY=OFF)')
    config.addinivalue_line('markers', 'mpi: needs Caffe built with MPI (USE_MPI=ON)')
    config.addinivalue_line('markers', 'opencv: needs Caffe built with OpenCV (USE_OPENCV=ON)')


def build_option(name):
    """ON or OFF as the build's CMake cache says, or None where unknown."""
    cache = Path(os.environ.get('CAFFE_BUILD', '')) / 'CMakeCache.txt'
    if not os.environ.get('CAFFE_BUILD') or not cache.is_file():
        return None
    for line in cache.read_text().splitlines():
        if line.startswith(f'{name}:'):
            return 'ON' if line.split('=', 1)[1].upper() in ('ON', '1', 'TRUE', 'YES') \
                else 'OFF'
    return None


def net_from_text(text, phase=caffe.TRAIN):
    """A caffe.Net from prototxt text, which Caffe reads only from a file."""
    with tempfile.NamedTemporaryFile('w', suffix='.prototxt') as f:
        f.write(text)
        f.flush()
        return caffe.Net(f.name, phase)


def cuda_devices():
    """GPUs this Caffe can use: 0 unless it was built with CUDA (libcudart is
    then loaded with it) and the machine has a device."""
    with open('/proc/self/maps') as maps:
        paths = {line.split()[-1] for line in maps if 'libcudart' in line}
    if not paths:
        return 0
    count = ctypes.c_int(0)
    if ctypes.CDLL(paths.pop()).cudaGetDeviceCount(ctypes.byref(count)) != 0:
        return 0
    return count.value


# Upstream's tests that need an optional part of Caffe and do not say so.
UPSTREAM_NEEDS = {'test_save_hdf5': 'hdf5'}


def pytest_collection_modifyitems(config, items):
    missing = {}
    if 'Python' not in caffe.layer_type_list():
        missing['python_layer'] = ('Caffe was built without Python layers '
                                   '(BUILD_python_layer=OFF)')
    for option in ('lmdb', 'leveldb', 'hdf5'):
        if build_option(f'USE_{option.upper()}') == 'OFF':
            missing[option] = f'Caffe was built with USE_{option.upper()}=OFF'
    if build_option('CPU_ONLY') != 'ON':
        missing['cpu_only_build'] = 'Caffe was built with CUDA, or $CAFFE_BUILD is unset'
    if build_option('CPU_ONLY') != 'OFF':
        missing['cuda_build'] = 'Caffe was built CPU-only, or $CAFFE_BUILD is unset'
    if 'ImageData' not in caffe.layer_type_list():
        missing['opencv'] = 'Caffe was built without OpenCV (USE_OPENCV=OFF)'
    if build_option('USE_MPI') != 'ON':
        missing['mpi'] = 'Caffe was not built with MPI (USE_MPI=ON), or $CAFFE_BUILD is unset'
    for item in items:
        if item.name in UPSTREAM_NEEDS:
            item.add_marker(getattr(pytest.mark, UPSTREAM_NEEDS[item.name]))
        for marker, reason in missing.items():
            if item.get_closest_marker(marker):
                item.add_marker(pytest.mark.skip(reason=reason))
                break


@pytest.fixture(scope='session', autouse=True)
def temporary_directory(tmp_path_factory):
    """The caffe CLI runs the tests start write glog files (and upstream's
    code temporary directories) into $TMPDIR and leave them: point it at
    pytest's own temporary directory, which pytest prunes."""
    previous = os.environ.get('TMPDIR')
    os.environ['TMPDIR'] = str(tmp_path_factory.mktemp('tmpdir'))
    yield
    if previous is None:
        del os.environ['TMPDIR']
    else:
        os.environ['TMPDIR'] = previous


@pytest.fixture(scope='session')
def build_tool():
    """The path of one of the build's tools (caffe, convert_imageset, ...):
    $CAFFE_BIN for caffe where CTest sets it, else $CAFFE_BUILD/tools; the
    test is skipped where neither names one."""
    def path(name):
        if name == 'caffe' and os.environ.get('CAFFE_BIN'):
            return os.environ['CAFFE_BIN']
        if not os.environ.get('CAFFE_BUILD'):
            pytest.skip('CAFFE_BUILD (env.sh, CTest) names no build folder')
        return os.path.join(os.environ['CAFFE_BUILD'], 'tools', name)
    return path
