"""Data-parallel training throughput: one process against N ranks (mpirun).

Trains the occlusion study's LeNet (batch 64 per rank, its training phase,
no tests) on a synthetic MNIST-sized LMDB with `caffe train`, once in one
process and once with `mpirun -np N`, and prints images per second side by
side with the speed-up and what it is measured against (ranks, and the
cores that can run them). Rates come from rank 0's own iter/s display lines,
after the first window (start-up and prefetch warm-up).

Usage: python3 benchmarks/mpi_training_benchmark.py [--ranks N] [--iters N] [--gpu]
With --gpu, one process on GPU 0 is compared with `mpirun -np 1 --gpu 0`
(the distributed path's own cost: the NCCL communicator, the agreement on
signals) and, where there are N GPUs, with N ranks on them.
"""
import argparse
import os
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BATCH = 64


def build_tool(*parts):
    build = os.environ.get('CAFFE_BUILD')
    if not build:
        sys.exit('CAFFE_BUILD is not set: . build/env.sh first')
    return str(Path(build, *parts))


def make_db(folder, items=4096):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, items).astype(np.uint8)
    images = (rng.random((items, 28, 28)) * 255).astype(np.uint8)
    (folder / 'images').write_bytes(struct.pack('>iiii', 2051, items, 28, 28) +
                                    images.tobytes())
    (folder / 'labels').write_bytes(struct.pack('>ii', 2049, items) + labels.tobytes())
    subprocess.run([build_tool('examples', 'mnist', 'convert_mnist_data'),
                    str(folder / 'images'), str(folder / 'labels'), str(folder / 'db'),
                    '--backend=lmdb'], check=True, capture_output=True)
    return folder / 'db'


def write_solver(folder, db, iters, display):
    net = (ROOT / 'examples' / 'occlusion' / 'lenet_baseline.prototxt').read_text()
    net = net.replace('data/mnist_train_lmdb', str(db))
    (folder / 'net.prototxt').write_text(net)
    solver = folder / 'solver.prototxt'
    solver.write_text(f'net: "{folder / "net.prototxt"}"\n'
                      'base_lr: 0.01\nmomentum: 0.9\nweight_decay: 0.0005\n'
                      f'lr_policy: "fixed"\nmax_iter: {iters}\ndisplay: {display}\n'
                      'snapshot_after_train: false\nrandom_seed: 1\nsolver_mode: CPU\n')
    return solver


def iterations_per_second(log):
    rates = [float(r) for r in re.findall(r'Iteration \d+ \(([0-9.e+]+) iter/s', log)]
    if len(rates) < 3:
        sys.exit('too few display lines to time:\n' + log[-3000:])
    return statistics.median(rates[2:])  # the first windows hold start-up


def train(command, env):
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(' '.join(command) + ' failed:\n' + result.stderr[-3000:])
    return iterations_per_second(result.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--ranks', type=int, default=2)
    p.add_argument('--iters', type=int, default=300)
    p.add_argument('--gpu', action='store_true')
    p.add_argument('--min-time', help=argparse.SUPPRESS)  # scripts/benchmark's
    args = p.parse_args()
    launcher = shutil.which('mpirun')
    if not launcher:
        print('MPI training benchmark: skipped, mpirun is not installed')
        return
    cache = Path(build_tool('CMakeCache.txt')).read_text()
    if 'USE_MPI:BOOL=ON' not in cache:
        print('MPI training benchmark: skipped, this build has USE_MPI=OFF')
        return
    env = dict(os.environ, GLOG_logtostderr='1', GLOG_minloglevel='0',
               OPENBLAS_NUM_THREADS='1', OMPI_ALLOW_RUN_AS_ROOT='1',
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM='1')
    caffe = build_tool('tools', 'caffe')
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        solver = write_solver(folder, make_db(folder), args.iters, max(args.iters // 15, 1))
        base = [caffe, 'train', '--solver', str(solver)]
        mpirun = [launcher, '--oversubscribe', '--bind-to', 'none']
        if args.gpu:
            gpus = int(subprocess.run(
                ['nvidia-smi', '--query-gpu=count', '--format=csv,noheader'],
                capture_output=True, text=True).stdout.split()[0] or 1)
            configs = [('one process, GPU 0', 1, base + ['--gpu', '0']),
                       ('mpirun -np 1, GPU 0', 1, mpirun + ['-np', '1'] + base + ['--gpu', '0'])]
            if gpus > 1:
                configs.append((f'mpirun -np {gpus}, one GPU each', gpus,
                                mpirun + ['-np', str(gpus)] + base + ['--gpu', 'all']))
            where = f'{gpus} GPU(s)'
        else:
            configs = [('one process', 1, base),
                       (f'mpirun -np {args.ranks}', args.ranks,
                        mpirun + ['-np', str(args.ranks)] + base)]
            where = f'{len(os.sched_getaffinity(0))} CPU cores'
        print(f'MPI training: LeNet, batch {BATCH} per rank, {args.iters} iterations, '
              f'synthetic 28x28 LMDB, {where}, one BLAS thread per rank')
        print(f'{"configuration":<32} {"ranks":>5} {"iter/s":>8} {"images/s":>9} '
              f'{"vs one process":>15}')
        reference = None
        for name, ranks, command in configs:
            rate = train(command, env)
            images = rate * BATCH * ranks
            reference = reference or images
            print(f'{name:<32} {ranks:>5} {rate:>8.1f} {images:>9.0f} '
                  f'{images / reference:>14.2f}x')
        if not args.gpu:
            cores = len(os.sched_getaffinity(0))
            print(f'(the most {args.ranks} ranks can give here is '
                  f'{min(args.ranks, cores)}x: {cores} cores)')


if __name__ == '__main__':
    main()
