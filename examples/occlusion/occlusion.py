#!/usr/bin/env python3
"""DIGITS' occlusion study through the caffe CLI.

Trains LeNet on MNIST twice, plainly and with a random quarter of each image
blanked by the native BlankSquare layer; scores both models on clean and on
occluded held-out images; times a training iteration of the native layer
against its Python prototype; draws occluded inputs and the training curves;
prints a summary table (also written to WORK/summary.md).

Run by scripts/demo, with `caffe` on PATH and pycaffe importable
(. build/env.sh).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NETS = {'baseline': 'LeNet', 'blank_square': 'LeNet + BlankSquare'}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--work', type=Path, required=True, help='output folder')
    p.add_argument('--iters', type=int, default=1000, help='training iterations per model')
    p.add_argument('--gpu', default='',
                   help='GPU ids for caffe train (e.g. 0, or 0,1 or all for multi-GPU)')
    p.add_argument('--mnist-dir', default=os.environ.get('MNIST_DIR'),
                   help='local MNIST IDX files (default $MNIST_DIR, else download)')
    p.add_argument('--holdout', type=int, default=2000,
                   help='held-out images when only the test split is available')
    p.add_argument('--time-iters', type=int, default=50,
                   help='iterations of caffe time per variant')
    return p.parse_args(argv)


def run(command, log=None, progress=None, cwd=None):
    """Runs a command, keeping its output in log and echoing progress lines."""
    env = dict(os.environ, GLOG_logtostderr='1')
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in process.stdout:
        lines.append(line)
        if progress and re.search(progress, line):
            print('    ' + line.split('] ', 1)[-1].rstrip(), flush=True)
    process.wait()
    text = ''.join(lines)
    if log:
        Path(log).write_text(text)
    if process.returncode != 0:
        sys.exit(f'{" ".join(map(str, command))} failed (status {process.returncode}); '
                 f'last lines:\n' + ''.join(lines[-15:]))
    return text


def prepare(args, work):
    for name in os.listdir(HERE):
        if name.endswith('.prototxt'):
            shutil.copy(HERE / name, work / name)
    for solver in work.glob('solver_*.prototxt'):
        text = solver.read_text()
        text = re.sub(r'(?m)^max_iter: .*', f'max_iter: {args.iters}', text)
        text = re.sub(r'(?m)^test_interval: .*',
                      f'test_interval: {max(1, args.iters // 4)}', text)
        text = re.sub(r'(?m)^display: .*', f'display: {max(1, args.iters // 40)}', text)
        solver.write_text(text)
    print('==> MNIST into LMDB', flush=True)
    command = [sys.executable, str(HERE.parent / 'mnist' / 'prepare_mnist.py'),
               str(work / 'data'), '--holdout', str(args.holdout)]
    if args.mnist_dir:
        command += ['--mnist-dir', args.mnist_dir]
    subprocess.run(command, check=True)
    labels = work / 'data' / 'raw' / 'mnist_test_lmdb.labels'
    return labels.stat().st_size - 8  # held-out images


def gpu_args(args, single=False):
    """--gpu for caffe: all the ids to train, one to test or time."""
    if not args.gpu:
        return []
    if single:
        return ['--gpu', '0' if args.gpu == 'all' else args.gpu.split(',')[0]]
    return ['--gpu', args.gpu]


def train(args, work, variant):
    print(f'==> caffe train: {NETS[variant]}, {args.iters} iterations'
          f'{" on GPU " + args.gpu if args.gpu else ""}', flush=True)
    run(['caffe', 'train', '--solver', f'solver_{variant}.prototxt'] + gpu_args(args),
        log=work / f'train_{variant}.log', cwd=work,
        progress=r'Iteration \d+ \(|Test net output #0')
    return work / f'lenet_{variant}_iter_{args.iters}.caffemodel'


def score(args, work, weights, net, held_out):
    batches = max(1, held_out // 100)
    text = run(['caffe', 'test', '--model', net, '--weights', str(weights),
                '--iterations', str(batches)] + gpu_args(args, single=True),
               cwd=work)
    return float(re.findall(r'\] accuracy = ([0-9.]+)', text)[-1])


def iteration_ms(args, work, net):
    text = run(['caffe', 'time', '--model', net, '--iterations', str(args.time_iters)]
               + gpu_args(args, single=True), cwd=work)
    return float(re.search(r'Average Forward-Backward: ([0-9.]+) ms', text).group(1))


def draw_occluded_inputs(work, path):
    """A grid of training inputs after the native BlankSquare layer."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    os.environ.setdefault('GLOG_minloglevel', '2')
    import caffe
    os.chdir(work)
    caffe.set_mode_cpu()
    caffe.set_random_seed(1701)
    net = caffe.Net('lenet_blank_square.prototxt', caffe.TRAIN)
    net.forward()
    images = net.blobs['scaled'].data[:32, 0]
    fig, axes = plt.subplots(4, 8, figsize=(8, 4.4))
    for ax, image in zip(axes.flat, images):
        ax.imshow(image, cmap='gray', vmin=0, vmax=1)
        ax.axis('off')
    fig.suptitle('Training inputs after BlankSquare (ratio 0.5: a random 14x14 quarter blanked)')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def parse_log(path):
    text = Path(path).read_text()
    losses = [(int(i), float(v)) for i, v in
              re.findall(r'Iteration (\d+) \(.*?\), loss = ([0-9.e+-]+)', text)]
    tests = re.findall(r'Iteration (\d+), Testing net[\s\S]*?Test net output #0: accuracy = ([0-9.]+)',
                       text)
    accuracy = [(int(i), float(a)) for i, a in tests]
    return losses, accuracy


def draw_curves(work, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for variant, label in NETS.items():
        losses, accuracy = parse_log(work / f'train_{variant}.log')
        left.plot(*zip(*losses), label=label)
        right.plot(*zip(*accuracy), marker='o', label=label)
    left.set(title='training loss', xlabel='iteration', yscale='log')
    right.set(title='held-out accuracy (clean images)', xlabel='iteration')
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    held_out = prepare(args, work)

    weights = {variant: train(args, work, variant) for variant in NETS}
    print(f'==> caffe test on {held_out} held-out images, clean and occluded', flush=True)
    accuracy = {variant: (score(args, work, weights[variant], 'lenet_baseline.prototxt', held_out),
                          score(args, work, weights[variant], 'lenet_occluded_test.prototxt',
                                held_out))
                for variant in NETS}
    print('==> caffe time: one training iteration, native layer vs Python prototype', flush=True)
    timing = {net: iteration_ms(args, work, f'{net}.prototxt') for net in
              ('lenet_baseline', 'lenet_blank_square', 'lenet_blank_square_python')}
    print('==> figures', flush=True)
    draw_curves(work, work / 'training_curves.png')
    draw_occluded_inputs(work, work / 'occluded_inputs.png')

    device = f'GPU {args.gpu}' if args.gpu else 'CPU'
    native, python = timing['lenet_blank_square'], timing['lenet_blank_square_python']
    summary = '\n'.join([
        f'Occlusion study: LeNet on MNIST, {args.iters} iterations, {held_out} held-out images',
        '',
        '| model | clean accuracy | occluded accuracy |',
        '| --- | --- | --- |',
        *[f'| {NETS[v]} | {accuracy[v][0]:.4f} | {accuracy[v][1]:.4f} |' for v in NETS],
        '',
        f'Training iteration (caffe time, forward+backward, batch 64, {device}):',
        '',
        '| net | ms per iteration |',
        '| --- | --- |',
        f'| LeNet | {timing["lenet_baseline"]:.2f} |',
        f'| LeNet + BlankSquare (native) | {native:.2f} |',
        f'| LeNet + BlankSquare (Python prototype) | {python:.2f} |',
        '',
        f'The native layer makes an iteration {python / native:.2f}x faster than the prototype.',
        '',
        f'Figures: {work / "occluded_inputs.png"}, {work / "training_curves.png"}',
    ])
    (work / 'summary.md').write_text(summary + '\n')
    print('\n' + summary)


if __name__ == '__main__':
    main()
