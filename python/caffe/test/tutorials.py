"""What the tests of upstream's tutorials share (test_upstream_tutorials.py,
test_upstream_examples.py): a Caffe root laid out as $CAFFE_ROOT is,
synthetic MNIST, shortened solvers."""
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest


def caffe_root():
    root = os.environ.get('CAFFE_ROOT')
    if not root:
        pytest.skip('CAFFE_ROOT (env.sh, CTest) names no Caffe tree')
    return Path(root)


def tutorial_root(tmp_path, *folders):
    """A Caffe root holding copies of `folders` of $CAFFE_ROOT, with
    data/download.sh, and `build` and `python` leading to $CAFFE_ROOT's."""
    root = caffe_root()
    (tmp_path / 'data').mkdir(parents=True, exist_ok=True)
    shutil.copy2(root / 'data' / 'download.sh', tmp_path / 'data')
    for folder in folders:
        shutil.copytree(root / folder, tmp_path / folder, symlinks=True)
    for name in ('build', 'python'):
        (tmp_path / name).symlink_to(root / name)
    return tmp_path


def run(root, *command, env=None, check=True):
    result = subprocess.run(list(command), cwd=root, capture_output=True, text=True,
                            env=dict(os.environ, **(env or {})), timeout=600)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def shorten_solver(path, **fields):
    """Sets `field: value` lines of a solver, each of which must be there."""
    text = path.read_text()
    for field, value in fields.items():
        text, found = re.subn(rf'^{field}: .*$', f'{field}: {value}', text, flags=re.M)
        assert found == 1, f'{path} has no single {field} line'
    path.write_text(text)


def md5(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def sha1(path):
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


def write_mnist(folder, prefix, count, seed):
    """IDX files of `count` 28x28 images whose label k is a bright band at
    rows 2k+4 and 2k+5 over noise: separable, so LeNet learns it within a
    hundred iterations."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, count).astype(np.uint8)
    images = rng.integers(0, 80, (count, 28, 28)).astype(np.uint8)
    for i, label in enumerate(labels):
        images[i, 2 * label + 4:2 * label + 6, 3:25] = 255
    header = np.array([2051, count, 28, 28], '>u4').tobytes()
    (folder / f'{prefix}-images-idx3-ubyte').write_bytes(header + images.tobytes())
    header = np.array([2049, count], '>u4').tobytes()
    (folder / f'{prefix}-labels-idx1-ubyte').write_bytes(header + labels.tobytes())


def write_synthetic_mnist(folder, test_count=500):
    write_mnist(folder, 'train', 2000, seed=1)
    write_mnist(folder, 't10k', test_count, seed=2)


def accuracies(log):
    return [float(v) for v in re.findall(r'accuracy = ([0-9.]+)', log)]


PASCAL_CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat',
                  'chair', 'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person',
                  'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor')


def write_pascal(folder, splits, size=(40, 50), seed=1701):
    """A PASCAL VOC folder (JPEGImages, Annotations, ImageSets/Main) whose
    splits map each image index to the classes of its objects."""
    from PIL import Image
    for sub in ('JPEGImages', 'Annotations', 'ImageSets/Main'):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    box = '<bndbox><xmin>2</xmin><ymin>3</ymin><xmax>20</xmax><ymax>30</ymax></bndbox>'
    for split, images in splits.items():
        for index, names in images.items():
            picture = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            Image.fromarray(picture).save(folder / 'JPEGImages' / f'{index}.jpg', quality=95)
            (folder / 'Annotations' / f'{index}.xml').write_text(
                '<annotation>' + ''.join(f'<object><name>{name}</name>{box}</object>'
                                         for name in names) + '</annotation>')
        (folder / 'ImageSets' / 'Main' / f'{split}.txt').write_text('\n'.join(images) + '\n')
