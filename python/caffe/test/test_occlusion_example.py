"""The occlusion example: MNIST conversion, its nets, and a short run."""
import gzip
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import text_format

import caffe
from caffe.proto import caffe_pb2

ROOT = Path(os.environ.get('CAFFE_ROOT', Path(caffe.__file__).parents[2]))
EXAMPLE = ROOT / 'examples' / 'occlusion'
PREPARE = ROOT / 'examples' / 'mnist' / 'prepare_mnist.py'


def write_idx(path, array):
    with gzip.open(path, 'wb') as f:
        if array.ndim == 3:
            f.write(struct.pack('>IIII', 2051, len(array), 28, 28))
        else:
            f.write(struct.pack('>II', 2049, len(array)))
        f.write(array.astype(np.uint8).tobytes())


@pytest.fixture(scope='module')
def mnist(tmp_path_factory):
    """A fake MNIST test split of 300 images, converted like the real one."""
    raw = tmp_path_factory.mktemp('idx')
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (300, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 300, dtype=np.uint8)
    write_idx(raw / 't10k-images-idx3-ubyte.gz', images)
    write_idx(raw / 't10k-labels-idx1-ubyte.gz', labels)
    out = tmp_path_factory.mktemp('lmdb')
    subprocess.run([sys.executable, str(PREPARE), str(out), '--mnist-dir', str(raw),
                    '--holdout', '100'], check=True, capture_output=True)
    order = np.random.default_rng(0).permutation(300)
    return raw, out, images, labels, order


def read_lmdb(source, count):
    net_text = (f'layer {{ name: "d" type: "Data" top: "data" top: "label" '
                f'data_param {{ source: "{source}" batch_size: {count} backend: LMDB }} }}')
    path = Path(source).parent / f'{Path(source).name}.prototxt'
    path.write_text(net_text)
    net = caffe.Net(str(path), caffe.TEST)
    net.forward()
    return net.blobs['data'].data[:, 0].copy(), net.blobs['label'].data.copy()


def test_conversion_splits_deterministically_and_keeps_every_pixel(mnist):
    _, out, images, labels, order = mnist
    train_x, train_y = read_lmdb(out / 'mnist_train_lmdb', 200)
    held_x, held_y = read_lmdb(out / 'mnist_test_lmdb', 100)
    np.testing.assert_array_equal(train_x, images[order[100:]])
    np.testing.assert_array_equal(train_y, labels[order[100:]])
    np.testing.assert_array_equal(held_x, images[order[:100]])
    np.testing.assert_array_equal(held_y, labels[order[:100]])


def test_conversion_rejects_files_that_are_not_mnist(tmp_path):
    # A label file (magic 2049) where the images belong.
    (tmp_path / 't10k-images-idx3-ubyte').write_bytes(struct.pack('>II', 2049, 0))
    (tmp_path / 't10k-labels-idx1-ubyte').write_bytes(struct.pack('>II', 2049, 0))
    result = subprocess.run([sys.executable, str(PREPARE), str(tmp_path / 'out'),
                             '--mnist-dir', str(tmp_path)], capture_output=True, text=True)
    assert result.returncode != 0
    assert 'not an MNIST IDX file of images (magic 2049, expected 2051)' in result.stderr
    assert 'Traceback' not in result.stderr
    # Images whose header promises more than the file holds.
    (tmp_path / 't10k-images-idx3-ubyte').write_bytes(struct.pack('>IIII', 2051, 5, 28, 28))
    result = subprocess.run([sys.executable, str(PREPARE), str(tmp_path / 'out'),
                             '--mnist-dir', str(tmp_path)], capture_output=True, text=True)
    assert result.returncode != 0 and 'expected 5 images of 28x28' in result.stderr


@pytest.mark.parametrize('name', sorted(p.name for p in EXAMPLE.glob('*.prototxt')))
def test_example_prototxt_is_valid(name, mnist, tmp_path, monkeypatch):
    _, out, *_ = mnist
    text = (EXAMPLE / name).read_text()
    if name.startswith('solver_'):
        solver = text_format.Parse(text, caffe_pb2.SolverParameter())
        assert (EXAMPLE / solver.net).exists(), solver.net
        assert solver.random_seed >= 0 and solver.max_iter > 0
        return
    net = text_format.Parse(text, caffe_pb2.NetParameter())
    known = set(caffe.layer_type_list())
    assert {layer.type for layer in net.layer} <= known
    # Instantiate it for both phases on the converted data.
    os.symlink(out, tmp_path / 'data')
    monkeypatch.chdir(tmp_path)
    shutil.copy(EXAMPLE / name, tmp_path / name)
    for phase in (caffe.TRAIN, caffe.TEST):
        model = caffe.Net(name, phase)
        model.forward()
        assert model.blobs['scaled'].data.shape == (64 if phase == caffe.TRAIN else 100, 1, 28, 28)


def test_short_end_to_end_run(mnist, tmp_path):
    raw, *_ = mnist
    work = tmp_path / 'study'
    result = subprocess.run([sys.executable, str(EXAMPLE / 'occlusion.py'), '--work', str(work),
                             '--iters', '8', '--time-iters', '2', '--mnist-dir', str(raw),
                             '--holdout', '100'],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = (work / 'summary.md').read_text()
    assert '| LeNet + BlankSquare | ' in summary and 'Python prototype' in summary
    for figure in ('occluded_inputs.png', 'training_curves.png'):
        assert (work / figure).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert 'Iteration 8' in (work / 'train_blank_square.log').read_text()
