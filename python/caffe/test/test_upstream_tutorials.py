"""Upstream's tutorials, run as their pages say, from $CAFFE_ROOT (the
merged tree, whose `build` is this build): the data scripts
(data/mnist/get_mnist.sh, data/cifar10/get_cifar10.sh;
patches/0049-tutorial-data-downloads.patch), then examples/mnist
(create_mnist.sh, train_lenet.sh, `caffe test` of the snapshot),
examples/cifar10 (create_cifar10.sh, train_quick.sh and its resume) and
examples/siamese. What runs is their own scripts, from a copy of their
folders; the data is synthetic, served from file:// URLs, and the solvers
are shortened and set to solver_mode: CPU, the one edit the tutorials ask
of a CPU-only build (patches/0047-cpu-only-gpu-request-message.patch says
so when it is missing). The notebooks: test_upstream_examples.py.
"""
import gzip
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from tutorials import (accuracies, caffe_root, md5, run, shorten_solver, tutorial_root,
                       write_synthetic_mnist)

# The tools the tutorials' scripts call by upstream's Make names.
BIN_NAMES = ['tools/caffe.bin', 'tools/compute_image_mean.bin',
             'tools/extract_features.bin', 'examples/mnist/convert_mnist_data.bin',
             'examples/cifar10/convert_cifar_data.bin',
             'examples/siamese/convert_mnist_siamese_data.bin']
MNIST_FILES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte',
               't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']


# ---- the layout the tutorials assume ----------------------------------------

def test_caffe_root_build_is_this_build_with_upstreams_tool_names():
    root = caffe_root()
    build = os.environ.get('CAFFE_BUILD')
    if not build:
        pytest.skip('CAFFE_BUILD (env.sh, CTest) names no build folder')
    assert (root / 'build').resolve() == Path(build).resolve()
    for name in BIN_NAMES:
        path = root / 'build' / name
        assert path.exists(), f'{path} is missing: the tutorials call it'
        assert path.resolve() == (root / 'build' / name[:-len('.bin')]).resolve()


def test_caffe_root_python_imports_the_built_pycaffe(tmp_path):
    # As the notebooks import it: $CAFFE_ROOT/python first on sys.path, and
    # no PYTHONPATH (the merged package's links lead to _caffe and proto).
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    code = (f'import sys; sys.path.insert(0, {str(caffe_root() / "python")!r}); import caffe; '
            'from caffe.proto import caffe_pb2; '
            'print(caffe.__file__, caffe_pb2.SolverParameter().base_lr, caffe.layer_type_list()[0])')
    result = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(str(caffe_root() / 'python' / 'caffe' / '__init__.py'))


# ---- the data scripts -------------------------------------------------------

@pytest.fixture
def mnist_mirror(tmp_path):
    """A root with data/mnist from $CAFFE_ROOT, whose MD5SUMS lists the
    files of a file:// mirror (small stand-ins; the real sums are checked
    by test_shipped_sums_are_mnists_published_ones); returns the root, the
    mirror's URL and the uncompressed contents."""
    root = tutorial_root(tmp_path / 'root', 'data/mnist')
    mirror = tmp_path / 'mirror'
    mirror.mkdir()
    contents, sums = {}, []
    for name in MNIST_FILES:
        contents[name] = f'{name} of the mirror\n'.encode()
        (mirror / f'{name}.gz').write_bytes(gzip.compress(contents[name], mtime=0))
        sums.append(f'{md5(mirror / f"{name}.gz")}  {name}.gz\n')
    (root / 'data' / 'mnist' / 'MD5SUMS').write_text(''.join(sums))
    return root, f'file://{mirror}/', contents


def test_get_mnist_takes_each_file_from_the_first_mirror_with_its_sum(mnist_mirror, tmp_path):
    root, good, contents = mnist_mirror
    corrupt = tmp_path / 'corrupt'
    corrupt.mkdir()
    (corrupt / 't10k-images-idx3-ubyte.gz').write_bytes(gzip.compress(b'truncated'))
    data = root / 'data' / 'mnist'
    (data / 'train-labels-idx1-ubyte').write_bytes(b'already here')
    mirrors = f'file://{tmp_path}/missing/ file://{corrupt}/ {good}'
    # Run from elsewhere: the script works in its own folder.
    result = run(tmp_path, 'sh', str(data / 'get_mnist.sh'), env={'MNIST_MIRRORS': mirrors})
    for name in MNIST_FILES:
        expected = b'already here' if name == 'train-labels-idx1-ubyte' else contents[name]
        assert (data / name).read_bytes() == expected, name
    assert not list(data.glob('*.gz'))
    assert f'file://{corrupt}/t10k-images-idx3-ubyte.gz: MD5 ' in result.stderr


def test_get_mnist_stops_when_no_mirror_has_the_file(mnist_mirror, tmp_path):
    root, _, _ = mnist_mirror
    data = root / 'data' / 'mnist'
    corrupt = tmp_path / 'corrupt'
    corrupt.mkdir()
    for name in MNIST_FILES:
        (corrupt / f'{name}.gz').write_bytes(gzip.compress(b'wrong'))
    result = run(root, 'sh', 'data/mnist/get_mnist.sh', check=False,
                 env={'MNIST_MIRRORS': f'file://{corrupt}/'})
    assert result.returncode != 0
    expected = (data / 'MD5SUMS').read_text().split()[0]
    assert (f'no URL gave train-images-idx3-ubyte.gz with MD5 {expected} '
            f'(tried: file://{corrupt}/train-images-idx3-ubyte.gz)') in result.stderr
    assert sorted(p.name for p in data.iterdir()) == ['MD5SUMS', 'get_mnist.sh']


def test_shipped_sums_are_mnists_published_ones():
    # The same sums as the fork's own downloader (examples/mnist/prepare_mnist.py)
    # and torchvision's; a mirror serving other bytes is refused.
    published = {'train-images-idx3-ubyte.gz': 'f68b3c2dcbeaaa9fbdd348bbdeb94873',
                 'train-labels-idx1-ubyte.gz': 'd53e105ee54ea40749a09fcbcd1e9432',
                 't10k-images-idx3-ubyte.gz': '9fb629c4189551a2d022fa330f9573f3',
                 't10k-labels-idx1-ubyte.gz': 'ec29112dd5afa0611ce80d1b7f02629c'}
    lines = (caffe_root() / 'data' / 'mnist' / 'MD5SUMS').read_text().splitlines()
    assert dict(reversed(line.split()) for line in lines) == published
    prepare = (caffe_root() / 'examples' / 'mnist' / 'prepare_mnist.py').read_text()
    for name, digest in published.items():
        assert f"'{name[:-3]}': '{digest}'" in prepare


def make_tarball(path, members, folder=''):
    with tarfile.open(path, 'w:gz') as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(f'{folder}{name}')
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))


def test_get_cifar10_checks_the_archive_and_unpacks_it(tmp_path):
    root = tutorial_root(tmp_path / 'root', 'data/cifar10')
    data = root / 'data' / 'cifar10'
    members = {'data_batch_1.bin': b'\x03' * 3073, 'test_batch.bin': b'\x07' * 3073,
               'batches.meta.txt': b'airplane\n'}
    archive = tmp_path / 'cifar-10-binary.tar.gz'
    make_tarball(archive, members, folder='cifar-10-batches-bin/')
    (data / 'MD5SUMS').write_text(f'{md5(archive)}  cifar-10-binary.tar.gz\n')
    run(root, 'sh', 'data/cifar10/get_cifar10.sh', env={'CIFAR10_URL': f'file://{archive}'})
    for name, content in members.items():
        assert (data / name).read_bytes() == content
    assert not (data / 'cifar-10-binary.tar.gz').exists()
    assert not (data / 'cifar-10-batches-bin').exists()

    # Another archive than the sum names is refused, and not unpacked.
    (data / 'MD5SUMS').write_text(f'{"0" * 32}  cifar-10-binary.tar.gz\n')
    (data / 'test_batch.bin').unlink()
    result = run(root, 'sh', 'data/cifar10/get_cifar10.sh', check=False,
                 env={'CIFAR10_URL': f'file://{archive}'})
    assert result.returncode != 0
    assert f'no URL gave cifar-10-binary.tar.gz with MD5 {"0" * 32}' in result.stderr
    assert not (data / 'test_batch.bin').exists()
    assert not (data / 'cifar-10-binary.tar.gz').exists()


def test_get_ilsvrc_aux_unpacks_the_archive(tmp_path):
    root = tutorial_root(tmp_path / 'root', 'data/ilsvrc12')
    data = root / 'data' / 'ilsvrc12'
    members = {'synset_words.txt': b'n01440764 tench, Tinca tinca\n', 'train.txt': b'a.JPEG 0\n'}
    archive = tmp_path / 'caffe_ilsvrc12.tar.gz'
    make_tarball(archive, members)
    run(root, 'sh', 'data/ilsvrc12/get_ilsvrc_aux.sh', env={'ILSVRC12_AUX_URL': archive.as_uri()})
    for name, content in members.items():
        assert (data / name).read_bytes() == content
    assert not (data / 'caffe_ilsvrc12.tar.gz').exists()

    result = run(root, 'sh', 'data/ilsvrc12/get_ilsvrc_aux.sh', check=False,
                 env={'ILSVRC12_AUX_URL': (tmp_path / 'missing.tar.gz').as_uri()})
    assert result.returncode != 0
    assert 'Unzipping' not in result.stdout


# ---- the training tutorials -------------------------------------------------

@pytest.fixture
def mnist_root(tmp_path):
    root = tutorial_root(tmp_path, 'examples/mnist', 'data/mnist')
    write_synthetic_mnist(root / 'data' / 'mnist')
    return root


@pytest.mark.cpu_only_build
def test_a_cpu_only_build_names_the_solver_that_asks_for_the_gpu(mnist_root):
    result = run(mnist_root, './examples/mnist/train_lenet.sh', check=False)
    assert result.returncode != 0
    assert ('examples/mnist/lenet_solver.prototxt sets solver_mode: GPU, but this Caffe '
            'was built CPU-only (without CUDA): set solver_mode: CPU there') in result.stderr
    result = run(mnist_root, './build/tools/caffe', 'time', '--gpu', '0', '--iterations', '1',
                 '--model', 'examples/mnist/lenet_train_test.prototxt', check=False)
    assert result.returncode != 0
    assert ('--gpu=0 asks for GPUs, but this Caffe was built CPU-only (without CUDA); '
            'leave out --gpu to run on the CPU') in result.stderr


@pytest.mark.lmdb
def test_mnist_lenet_tutorial(mnist_root):
    root = mnist_root
    run(root, './examples/mnist/create_mnist.sh')
    assert (root / 'examples/mnist/mnist_train_lmdb/data.mdb').exists()
    shorten_solver(root / 'examples/mnist/lenet_solver.prototxt', max_iter=100,
                   test_interval=100, test_iter=5, snapshot=100, solver_mode='CPU')
    log = run(root, './examples/mnist/train_lenet.sh').stderr
    assert 'Optimization Done' in log
    assert (root / 'examples/mnist/lenet_iter_100.caffemodel').exists()
    # Chance is 0.1; the classes' bands are separable, and LeNet finds them
    # within 100 iterations at the tutorial's learning rate.
    trained = accuracies(log)[-1]
    assert trained > 0.9, log[-3000:]

    # Scoring the snapshot over the same 500 test images gives the same
    # accuracy as the solver's last test (the same net, weights and images).
    log = run(root, './build/tools/caffe', 'test', '-model',
              'examples/mnist/lenet_train_test.prototxt', '-weights',
              'examples/mnist/lenet_iter_100.caffemodel', '-iterations', '5').stderr
    assert accuracies(log)[-1] == pytest.approx(trained, abs=1e-6)


@pytest.mark.lmdb
@pytest.mark.hdf5
@pytest.mark.opencv  # compute_image_mean
def test_cifar10_quick_tutorial_trains_and_resumes(tmp_path):
    root = tutorial_root(tmp_path, 'examples/cifar10', 'data/cifar10')
    rng = np.random.default_rng(3)
    for name in [f'data_batch_{i}.bin' for i in range(1, 6)] + ['test_batch.bin']:
        records = rng.integers(0, 256, (10000, 1 + 32 * 32 * 3), dtype=np.uint8)
        records[:, 0] %= 10  # each record: its label, then 32x32 RGB planes
        (root / 'data/cifar10' / name).write_bytes(records.tobytes())
    run(root, './examples/cifar10/create_cifar10.sh')
    assert (root / 'examples/cifar10/mean.binaryproto').exists()

    # train_quick.sh trains to iteration 4000, then resumes from
    # cifar10_quick_iter_4000.solverstate with a tenth of the learning rate:
    # shortened, to 4 then 6, with the name it resumes from leading to the
    # first run's state.
    cifar = root / 'examples' / 'cifar10'
    shorten_solver(cifar / 'cifar10_quick_solver.prototxt', max_iter=4, snapshot=4,
                   test_iter=1, test_interval=4, solver_mode='CPU')
    shorten_solver(cifar / 'cifar10_quick_solver_lr1.prototxt', max_iter=6, snapshot=6,
                   test_iter=1, test_interval=6, solver_mode='CPU')
    (cifar / 'cifar10_quick_iter_4000.solverstate').symlink_to('cifar10_quick_iter_4.solverstate')
    log = run(root, './examples/cifar10/train_quick.sh').stderr
    assert log.count('Optimization Done') == 2 * 2  # solver's and the tool's line, twice
    assert 'Resuming from examples/cifar10/cifar10_quick_iter_4000.solverstate' in log
    assert 'Iteration 6, loss = ' in log or 'Iteration 6, Testing net' in log
    # The second solver snapshots in HDF5.
    assert (cifar / 'cifar10_quick_iter_6.caffemodel.h5').exists()


@pytest.mark.leveldb
def test_mnist_siamese_tutorial(mnist_root):
    root = tutorial_root(mnist_root / 'siamese', 'examples/siamese')
    shutil.copytree(mnist_root / 'data' / 'mnist', root / 'data' / 'mnist')
    run(root, './examples/siamese/create_mnist_siamese.sh')
    assert (root / 'examples/siamese/mnist_siamese_train_leveldb').is_dir()
    shorten_solver(root / 'examples/siamese/mnist_siamese_solver.prototxt', max_iter=20,
                   test_interval=20, test_iter=2, snapshot=20, solver_mode='CPU')
    log = run(root, './examples/siamese/train_mnist_siamese.sh').stderr
    assert 'Optimization Done' in log
    assert (root / 'examples/siamese/mnist_siamese_iter_20.caffemodel').exists()
    losses = [float(v) for v in re.findall(r'Test net output #0: loss = ([0-9.e+-]+)', log)]
    assert losses and all(np.isfinite(losses))
