#!/usr/bin/env python3
"""Prepare MNIST as LMDB databases for Caffe: a training and a held-out set.

From a local directory (--mnist-dir or $MNIST_DIR) holding the IDX files
(gzipped or not), or else downloaded and checked against MNIST's published
MD5 sums. When only the official test split is available (t10k-*), it is
split deterministically into training and held-out parts.

Writes OUT_DIR/mnist_train_lmdb and OUT_DIR/mnist_test_lmdb with upstream's
convert_mnist_data tool.
"""
import argparse
import gzip
import hashlib
import os
import shutil
import struct
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np

MIRRORS = ['https://ossci-datasets.s3.amazonaws.com/mnist/',
           'http://yann.lecun.com/exdb/mnist/']
# MD5 of the published .gz files.
FILES = {
    'train-images-idx3-ubyte': 'f68b3c2dcbeaaa9fbdd348bbdeb94873',
    'train-labels-idx1-ubyte': 'd53e105ee54ea40749a09fcbcd1e9432',
    't10k-images-idx3-ubyte': '9fb629c4189551a2d022fa330f9573f3',
    't10k-labels-idx1-ubyte': 'ec29112dd5afa0611ce80d1b7f02629c',
}
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049


def read_idx(path, kind):
    """Returns the images or labels (kind) in an IDX file, checking its header."""
    opener = gzip.open if str(path).endswith('.gz') else open
    with opener(path, 'rb') as f:
        data = f.read()
    magic, count = struct.unpack('>II', data[:8])
    expected = IMAGE_MAGIC if kind == 'images' else LABEL_MAGIC
    if magic != expected:
        raise ValueError(f'{path}: not an MNIST IDX file of {kind} '
                         f'(magic {magic}, expected {expected})')
    if magic == IMAGE_MAGIC:
        rows, cols = struct.unpack('>II', data[8:16])
        if (rows, cols) != (28, 28) or len(data) != 16 + count * 784:
            raise ValueError(f'{path}: expected {count} images of 28x28')
        return np.frombuffer(data, np.uint8, offset=16).reshape(count, 28, 28)
    if magic == LABEL_MAGIC:
        labels = np.frombuffer(data, np.uint8, offset=8)
        if len(labels) != count or labels.max(initial=0) > 9:
            raise ValueError(f'{path}: expected {count} labels in 0..9')
        return labels


def write_idx(path, array):
    with open(path, 'wb') as f:
        if array.ndim == 3:
            f.write(struct.pack('>IIII', IMAGE_MAGIC, len(array), 28, 28))
        else:
            f.write(struct.pack('>II', LABEL_MAGIC, len(array)))
        f.write(np.ascontiguousarray(array, np.uint8).tobytes())


def find_local(directory, name):
    for candidate in (name, name + '.gz'):
        path = Path(directory) / candidate
        if path.exists():
            return path
    return None


def download(name, cache):
    target = Path(cache) / (name + '.gz')
    if target.exists() and hashlib.md5(target.read_bytes()).hexdigest() == FILES[name]:
        return target
    for mirror in MIRRORS:
        try:
            print(f'downloading {mirror}{name}.gz', flush=True)
            with urllib.request.urlopen(mirror + name + '.gz', timeout=60) as r:
                payload = r.read()
        except OSError as error:
            print(f'  failed: {error}', file=sys.stderr)
            continue
        if hashlib.md5(payload).hexdigest() != FILES[name]:
            print('  failed: MD5 mismatch', file=sys.stderr)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(payload)
        return target
    raise SystemExit(f'could not download {name}.gz from any mirror; '
                     'pass --mnist-dir with local IDX files')


def load_splits(mnist_dir, cache, holdout, seed):
    """Returns (train_images, train_labels, test_images, test_labels)."""
    if mnist_dir:
        found = {name: find_local(mnist_dir, name) for name in FILES}
        if not found['t10k-images-idx3-ubyte'] or not found['t10k-labels-idx1-ubyte']:
            raise SystemExit(f'{mnist_dir} has no t10k-images/labels IDX files')
    else:
        found = {name: download(name, cache) for name in FILES}
    test_x = read_idx(found['t10k-images-idx3-ubyte'], 'images')
    test_y = read_idx(found['t10k-labels-idx1-ubyte'], 'labels')
    if found.get('train-images-idx3-ubyte') and found.get('train-labels-idx1-ubyte'):
        return (read_idx(found['train-images-idx3-ubyte'], 'images'),
                read_idx(found['train-labels-idx1-ubyte'], 'labels'), test_x, test_y)
    if not 0 < holdout < len(test_x):
        raise SystemExit(f'--holdout must be in 1..{len(test_x) - 1}')
    order = np.random.default_rng(seed).permutation(len(test_x))
    train, held = order[holdout:], order[:holdout]
    print(f'only the test split is available: {len(train)} images for training, '
          f'{len(held)} held out (permutation seed {seed})')
    return test_x[train], test_y[train], test_x[held], test_y[held]


def convert(tool, images, labels, raw_dir, db, backend):
    raw_dir.mkdir(parents=True, exist_ok=True)
    image_file, label_file = raw_dir / (db.name + '.images'), raw_dir / (db.name + '.labels')
    write_idx(image_file, images)
    write_idx(label_file, labels)
    shutil.rmtree(db, ignore_errors=True)
    subprocess.run([tool, str(image_file), str(label_file), str(db),
                    f'--backend={backend}'], check=True,
                   env=dict(os.environ, GLOG_minloglevel='1'))


def default_tool():
    build = os.environ.get('CAFFE_BUILD')
    tool = build and Path(build) / 'examples' / 'mnist' / 'convert_mnist_data'
    return str(tool) if tool and tool.exists() else 'convert_mnist_data'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('out_dir', type=Path)
    parser.add_argument('--mnist-dir', default=os.environ.get('MNIST_DIR'),
                        help='local IDX files (default: $MNIST_DIR, else download)')
    parser.add_argument('--holdout', type=int, default=2000,
                        help='held-out images when only the test split exists')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--backend', choices=['lmdb', 'leveldb'], default='lmdb')
    parser.add_argument('--convert-tool', default=default_tool())
    args = parser.parse_args(argv)

    try:
        train_x, train_y, test_x, test_y = load_splits(
            args.mnist_dir, args.out_dir / 'download', args.holdout, args.seed)
    except ValueError as error:
        raise SystemExit(f'prepare_mnist: {error}')
    if len(train_x) != len(train_y) or len(test_x) != len(test_y):
        raise SystemExit('prepare_mnist: image and label files differ in count')
    raw = args.out_dir / 'raw'
    convert(args.convert_tool, train_x, train_y, raw,
            args.out_dir / f'mnist_train_{args.backend}', args.backend)
    convert(args.convert_tool, test_x, test_y, raw,
            args.out_dir / f'mnist_test_{args.backend}', args.backend)
    print(f'wrote {len(train_x)} training and {len(test_x)} held-out images '
          f'to {args.out_dir}')


if __name__ == '__main__':
    main()
