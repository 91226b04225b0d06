#!/usr/bin/env python3
"""DIGITS' occlusion study, with the caffe CLI and pycaffe.

Trains LeNet on MNIST with and without the native BlankSquare layer (a random
quarter of each training batch blanked), once per seed (`caffe train`); scores
every model on clean held-out digits and on held-out digits with a random
quarter blanked; maps held-out accuracy against where a square sits (the
occlusion-sensitivity map of Zeiler and Fergus, through BlankSquare's fixed
offsets); times the layer itself against its Python prototype from `caffe
time`'s per-layer lines. Prints the summary (also WORK/summary.md, with the
numbers in WORK/results.json and WORK/sensitivity_map.csv), then draws the
figures: occluded training inputs, occluded held-out digits with both models'
predictions, the sensitivity map, the training curves.

Run by scripts/demo, with `caffe` on PATH and pycaffe importable
(. build/env.sh).
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / 'mnist'))
from prepare_mnist import read_idx  # noqa: E402
NETS = {'baseline': 'LeNet', 'blank_square': 'LeNet + BlankSquare'}
SQUARE = 14        # ratio 0.5 of MNIST's 28 x 28, as in training
FIRST_SEED = 1701
FIGURES = ('occluded_inputs.png', 'occluded_predictions.png', 'sensitivity_map.png',
           'training_curves.png')


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--work', type=Path, required=True, help='output folder')
    p.add_argument('--iters', type=int, default=600, help='training iterations per model')
    p.add_argument('--seeds', type=int, default=3,
                   help=f'training runs per model, random_seed {FIRST_SEED}, '
                        f'{FIRST_SEED + 1}, ...; accuracies are their mean and spread')
    p.add_argument('--gpu', default='',
                   help='GPU ids for caffe train (e.g. 0, or 0,1 or all for multi-GPU); '
                        'the first also scores and times')
    p.add_argument('--mpi', type=int, default=1, metavar='N',
                   help='train with N processes under mpirun (a USE_MPI build): each '
                        'reads its share of every batch, so one iteration sees N batches')
    p.add_argument('--mnist-dir', default=os.environ.get('MNIST_DIR'),
                   help='local MNIST IDX files (default $MNIST_DIR, else download)')
    p.add_argument('--holdout', type=int, default=2000,
                   help='held-out images when only the test split is available')
    p.add_argument('--map-images', type=int, default=1000,
                   help='held-out images scored at each square position of the map')
    p.add_argument('--map-stride', type=int, default=2,
                   help='pixels between square positions of the map')
    p.add_argument('--time-runs', type=int, default=5, help='caffe time runs per net')
    p.add_argument('--time-iters', type=int, default=20,
                   help='iterations of each caffe time run')
    p.add_argument('--figures-only', action='store_true',
                   help='draw the figures from an earlier run in --work')
    args = p.parse_args(argv)
    for name in ('iters', 'seeds', 'mpi', 'map_images', 'map_stride', 'time_runs', 'time_iters'):
        if getattr(args, name) < 1:
            p.error(f'--{name.replace("_", "-")} must be at least 1')
    return args


# ---------------------------------------------------------------- caffe's logs

# glog's prefix, e.g. "I1123 10:36:41.307619 12345 caffe.cpp:403] " (newer glog
# puts the year in the date); absent with GLOG_log_prefix=0.
LOG_PREFIX = re.compile(r'^[IWEF]\d{4,8} \d\d:\d\d:\d\d\.\d+ +\S+ [^\]]*\] ')
ANSI = re.compile(r'\x1b\[[0-9;]*m')


def log_messages(text):
    """The messages of a caffe log, without glog's prefixes or colours."""
    return [LOG_PREFIX.sub('', ANSI.sub('', line)).rstrip('\r')
            for line in text.splitlines()]


def parse_layer_times(text, layer):
    """(forward ms, backward ms) of layer from `caffe time`'s per-layer lines."""
    times = {}
    for message in log_messages(text):
        match = re.fullmatch(r'\s*(\S+)\t(forward|backward): ([0-9.e+-]+) ms\.', message)
        if match and match.group(1) == layer:
            times[match.group(2)] = float(match.group(3))
    if set(times) != {'forward', 'backward'}:
        raise ValueError(f'no per-layer times of layer {layer!r} in the caffe time log')
    return times['forward'], times['backward']


def parse_iteration_ms(text):
    """`caffe time`'s average forward-backward time of the whole net (ms)."""
    for message in log_messages(text):
        match = re.fullmatch(r'Average Forward-Backward: ([0-9.e+-]+) ms\.', message)
        if match:
            return float(match.group(1))
    raise ValueError('no "Average Forward-Backward" line in the caffe time log')


def parse_training_log(text):
    """[(iteration, loss)] and [(iteration, held-out accuracy)] of `caffe train`."""
    losses, accuracy, testing = [], [], None
    for message in log_messages(text):
        if match := re.match(r'Iteration (\d+) \(.*?\), loss = ([0-9.e+-]+)', message):
            losses.append((int(match.group(1)), float(match.group(2))))
        elif match := re.match(r'Iteration (\d+), Testing net', message):
            testing = int(match.group(1))
        elif (match := re.match(r'\s*Test net output #\d+: accuracy = ([0-9.e+-]+)', message)) \
                and testing is not None:
            accuracy.append((testing, float(match.group(1))))
            testing = None
    return losses, accuracy


def run(command, log=None, progress=None, cwd=None):
    """Runs a command, keeping its output in log and echoing progress lines.

    Caffe's INFO lines are what the study reads, so they are switched on
    whatever GLOG_* variables the caller has set."""
    env = dict(os.environ, GLOG_logtostderr='1', GLOG_minloglevel='0')
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in process.stdout:
        lines.append(line)
        if progress and re.search(progress, line):
            print('    ' + log_messages(line)[0].strip(), flush=True)
    process.wait()
    text = ''.join(lines)
    if log:
        Path(log).write_text(text)
    if process.returncode != 0:
        sys.exit(f'{" ".join(map(str, command))} failed (status {process.returncode}); '
                 f'last lines:\n' + ''.join(lines[-15:]))
    return text


# ---------------------------------------------------------------- statistics

def mean_spread(values):
    """(mean, sample standard deviation; 0 for one value)."""
    values = list(values)
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def speed_sentence(native_ms, prototype_ms):
    """Native against prototype, in words that are true either way."""
    if native_ms <= 0 or prototype_ms <= 0:
        return 'too fast to compare at the timer\'s resolution'
    ratio = prototype_ms / native_ms
    if ratio >= 1.05:
        return f'{ratio:.1f}x faster than the prototype'
    if ratio <= 1 / 1.05:
        return f'{1 / ratio:.1f}x slower than the prototype'
    return 'as fast as the prototype (within 5%)'


# ---------------------------------------------------------------- data, training

def prepare(args, work):
    for name in os.listdir(HERE):
        if name.endswith('.prototxt'):
            shutil.copy(HERE / name, work / name)
    print('==> MNIST into LMDB', flush=True)
    command = [sys.executable, str(HERE.parent / 'mnist' / 'prepare_mnist.py'),
               str(work / 'data'), '--holdout', str(args.holdout)]
    if args.mnist_dir:
        command += ['--mnist-dir', args.mnist_dir]
    subprocess.run(command, check=True)


def held_out(work):
    """The held-out images and labels, as prepare_mnist.py wrote them."""
    raw = work / 'data' / 'raw'
    return (read_idx(raw / 'mnist_test_lmdb.images', 'images'),
            read_idx(raw / 'mnist_test_lmdb.labels', 'labels'))


def gpu_args(args, single=False):
    """--gpu for caffe: all the ids to train, one to test or time."""
    if not args.gpu:
        return []
    return ['--gpu', first_gpu(args)] if single else ['--gpu', args.gpu]


def first_gpu(args):
    return '0' if args.gpu == 'all' else args.gpu.split(',')[0]


def seeds(args):
    return [FIRST_SEED + i for i in range(args.seeds)]


def weights_path(work, variant, seed, iters):
    return work / f'lenet_{variant}_seed{seed}_iter_{iters}.caffemodel'


def train(args, work, variant, seed):
    solver = (HERE / f'solver_{variant}.prototxt').read_text()
    for key, value in (('max_iter', args.iters), ('test_interval', max(1, args.iters // 6)),
                       ('display', max(1, args.iters // 30)), ('random_seed', seed),
                       ('snapshot_prefix', f'"lenet_{variant}_seed{seed}"')):
        solver, count = re.subn(rf'(?m)^{key}: .*', f'{key}: {value}', solver)
        assert count == 1, f'solver_{variant}.prototxt has no single {key}'
    path = work / f'solver_{variant}_seed{seed}.prototxt'
    path.write_text(solver)
    print(f'==> caffe train: {NETS[variant]}, seed {seed}, {args.iters} iterations'
          f'{" on GPU " + args.gpu if args.gpu else ""}'
          f'{f" in {args.mpi} processes (mpirun)" if args.mpi > 1 else ""}', flush=True)
    run(mpirun(args) + ['caffe', 'train', '--solver', path.name] + gpu_args(args),
        log=work / f'train_{variant}_seed{seed}.log', cwd=work,
        progress=r'Test net output #0')
    return weights_path(work, variant, seed, args.iters)


def mpirun(args):
    """The launcher for --mpi N ranks on this machine (more ranks than cores
    allowed), or nothing."""
    if args.mpi == 1:
        return []
    launcher = shutil.which('mpirun')
    if not launcher:
        sys.exit('--mpi needs mpirun (Debian: openmpi-bin; scripts/setup installs it)')
    # Open MPI refuses to start ranks as root unless told.
    os.environ.setdefault('OMPI_ALLOW_RUN_AS_ROOT', '1')
    os.environ.setdefault('OMPI_ALLOW_RUN_AS_ROOT_CONFIRM', '1')
    return [launcher, '--oversubscribe', '-np', str(args.mpi)]


# ---------------------------------------------------------------- scoring (pycaffe)

def import_caffe(args):
    os.environ.setdefault('GLOG_minloglevel', '2')
    import caffe
    if args.gpu:
        caffe.set_device(int(first_gpu(args)))
        caffe.set_mode_gpu()
    else:
        caffe.set_mode_cpu()
    return caffe


def deploy_net(caffe, batch, blank_square=None, channels=1, head=True):
    """LeNet of lenet_baseline.prototxt on an Input blob of raw pixels (0 to
    255), optionally with a BlankSquare (blank_square_param text) in place
    after the scale; without head, only up to the occlusion."""
    from google.protobuf import text_format
    from caffe.proto import caffe_pb2
    net = text_format.Parse((HERE / 'lenet_baseline.prototxt').read_text(),
                            caffe_pb2.NetParameter())
    deploy = caffe_pb2.NetParameter(name='LeNet-deploy')
    text_format.Parse(f'name: "data" type: "Input" top: "data" '
                      f'input_param {{ shape {{ dim: {batch} dim: {channels} dim: 28 dim: 28 }} }}',
                      deploy.layer.add())
    for layer in net.layer:
        if layer.type in ('Data', 'Accuracy', 'SoftmaxWithLoss'):
            continue
        deploy.layer.add().CopyFrom(layer)
        if layer.name == 'scale':
            if blank_square is not None:
                text_format.Parse(f'name: "occlude" type: "BlankSquare" bottom: "scaled" '
                                  f'top: "scaled" blank_square_param {{ {blank_square} '
                                  f'apply_in_test: true }}', deploy.layer.add())
            if not head:
                break
    with tempfile.NamedTemporaryFile('w', suffix='.prototxt', delete=False) as f:
        f.write(text_format.MessageToString(deploy))
    try:
        return caffe.Net(f.name, caffe.TEST)
    finally:
        os.unlink(f.name)


def predict(net, images, batch):
    """Classes net predicts for images (N x 28 x 28, raw pixels)."""
    predictions = []
    for start in range(0, len(images), batch):
        chunk = images[start:start + batch]
        net.blobs['data'].data[:len(chunk), 0] = chunk
        net.forward()
        predictions.append(net.blobs['ip2'].data[:len(chunk)].argmax(axis=1))
    return np.concatenate(predictions)


def score(args, work, models):
    """Accuracy of each model, clean and with a random quarter of each held-out
    image blanked (the same squares for every model), and the sensitivity
    map: accuracy with the square at each grid position."""
    caffe = import_caffe(args)
    images, labels = held_out(work)
    batch = 500
    positions = list(range(0, 28 - SQUARE + 1, args.map_stride))
    map_images, map_labels = images[:args.map_images], labels[:args.map_images]
    results = {'clean': {}, 'occluded': {}, 'map': {}, 'positions': positions,
               'held_out': len(images), 'map_images': len(map_images)}
    trained = {}
    for (variant, seed), weights in models.items():
        net = deploy_net(caffe, batch)
        net.copy_from(str(weights))
        trained[variant, seed] = net
        key = f'{variant}/{seed}'
        results['clean'][key] = float(np.mean(predict(net, images, batch) == labels))
        caffe.set_random_seed(1)  # the same random squares for every model
        occluding = deploy_net(caffe, batch, 'ratio: 0.5 per_sample: true')
        occluding.share_with(net)
        results['occluded'][key] = float(np.mean(predict(occluding, images, batch) == labels))
        results['map'][key] = np.zeros((len(positions), len(positions))).tolist()
    print(f'==> sensitivity map: {len(positions)}x{len(positions)} square positions x '
          f'{len(map_images)} held-out images x {len(models)} models', flush=True)
    map_batch = len(map_images)
    for i, top in enumerate(positions):
        for j, left in enumerate(positions):
            at = deploy_net(caffe, map_batch,
                            f'ratio: 0.5 offset_h: {top} offset_w: {left}')
            for (variant, seed), net in trained.items():
                at.share_with(net)
                correct = predict(at, map_images, map_batch) == map_labels
                results['map'][f'{variant}/{seed}'][i][j] = float(np.mean(correct))
    return results


# ---------------------------------------------------------------- timing

def time_layer(args, work):
    """The occlusion layer's own forward and backward time, native against
    the prototype, and the whole iteration, over several `caffe time` runs
    (interleaved, so that drift in the machine's load hits both alike)."""
    nets = {'native': 'lenet_blank_square.prototxt',
            'prototype': 'lenet_blank_square_python.prototxt',
            'baseline': 'lenet_baseline.prototxt'}
    import caffe
    if 'Python' not in caffe.layer_type_list():
        del nets['prototype']
        print('    this Caffe was built without Python layers: the prototype is not timed',
              flush=True)
    runs = {name: [] for name in nets}
    print(f'==> caffe time: {args.time_runs} runs x {args.time_iters} iterations per net',
          flush=True)
    for _ in range(args.time_runs):
        for name, net in nets.items():
            text = run(['caffe', 'time', '--model', net, '--iterations', str(args.time_iters)]
                       + gpu_args(args, single=True), cwd=work)
            forward, backward = (parse_layer_times(text, 'occlude') if name != 'baseline'
                                 else (0.0, 0.0))
            runs[name].append({'forward': forward, 'backward': backward,
                               'iteration': parse_iteration_ms(text)})
    return runs


def median_range(values):
    return statistics.median(values), min(values), max(values)


# ---------------------------------------------------------------- summary

def summarize(args, results, timing, minutes):
    device = f'GPU {first_gpu(args)}' if args.gpu else 'CPU'
    seed_list = seeds(args)
    ranks = f' in {args.mpi} processes (batch 64 each)' if args.mpi > 1 else ''
    lines = [f'Occlusion study: LeNet on MNIST, {args.iters} iterations per model{ranks}, '
             f'seeds {", ".join(map(str, seed_list))}, {results["held_out"]} held-out images',
             '',
             f'Held-out accuracy, mean ± standard deviation over {len(seed_list)} seeds '
             f'(per seed in brackets):',
             '',
             '| model | clean | a random quarter blanked |',
             '| --- | --- | --- |']
    for variant, name in NETS.items():
        cells = []
        for kind in ('clean', 'occluded'):
            values = [results[kind][f'{variant}/{seed}'] for seed in seed_list]
            mean, spread = mean_spread(values)
            cells.append(f'{mean:.4f} ± {spread:.4f} ({", ".join(f"{v:.4f}" for v in values)})')
        lines.append(f'| {name} | {cells[0]} | {cells[1]} |')
    mean_map = {variant: np.mean([results['map'][f'{variant}/{seed}'] for seed in seed_list],
                                 axis=0) for variant in NETS}
    worst = {variant: float(mean_map[variant].min()) for variant in NETS}
    lines += ['', f'Sensitivity map ({len(results["positions"])}x{len(results["positions"])} '
              f'positions of a {SQUARE}x{SQUARE} square, {results["map_images"]} held-out '
              f'images, mean over seeds): worst position LeNet {worst["baseline"]:.4f}, '
              f'LeNet + BlankSquare {worst["blank_square"]:.4f}; mean over positions '
              f'LeNet {mean_map["baseline"].mean():.4f}, LeNet + BlankSquare '
              f'{mean_map["blank_square"].mean():.4f}.']

    if timing:
        def cell(name, key, digits=4):
            median, low, high = median_range([r[key] for r in timing[name]])
            return f'{median:.{digits}f} ({low:.{digits}f} to {high:.{digits}f})'

        def total(name):
            return [r['forward'] + r['backward'] for r in timing[name]]
        lines += ['', f'The occlusion layer itself (caffe time, batch 64 of 28x28, {device}; '
                  f'median of {args.time_runs} runs of {args.time_iters} iterations, '
                  f'range in brackets), ms:', '',
                  '| layer | forward | backward | forward + backward |',
                  '| --- | --- | --- | --- |']
        for name, label in (('native', 'BlankSquare (native, in place)'),
                            ('prototype', 'BlankSquare (Python prototype)')):
            if name not in timing:
                continue
            median, low, high = median_range(total(name))
            lines.append(f'| {label} | {cell(name, "forward")} | {cell(name, "backward")} | '
                         f'{median:.4f} ({low:.4f} to {high:.4f}) |')
        if 'prototype' in timing:
            native, prototype = (statistics.median(total(n)) for n in ('native', 'prototype'))
            lines += ['', f'Forward + backward, the native layer is '
                      f'{speed_sentence(native, prototype)} (medians).']
        else:
            lines += ['', 'The Python prototype was not timed: this Caffe was built '
                      'without Python layers (BUILD_python_layer=OFF).']
        lines += ['', 'A whole training iteration, for context (ms, median and range): ' +
                  ', '.join(f'{label} {cell(name, "iteration", 1)}' for name, label in
                            (('baseline', 'LeNet'), ('native', 'with the native layer'),
                             ('prototype', 'with the prototype')) if name in timing)]
    if minutes is not None:
        lines += ['', f'Wall time of this run: {minutes:.1f} minutes.']
    return '\n'.join(lines)


def write_map_csv(path, args, results):
    seed_list = seeds(args)
    header = ['square_top', 'square_left']
    for variant in NETS:
        header += [f'{variant}_mean', f'{variant}_std'] + [f'{variant}_seed{s}'
                                                           for s in seed_list]
    header.append('difference_mean')
    rows = [','.join(header)]
    for i, top in enumerate(results['positions']):
        for j, left in enumerate(results['positions']):
            row = [str(top), str(left)]
            means = {}
            for variant in NETS:
                values = [results['map'][f'{variant}/{s}'][i][j] for s in seed_list]
                means[variant], spread = mean_spread(values)
                row += [f'{means[variant]:.4f}', f'{spread:.4f}'] + [f'{v:.4f}' for v in values]
            row.append(f'{means["blank_square"] - means["baseline"]:.4f}')
            rows.append(','.join(row))
    Path(path).write_text('\n'.join(rows) + '\n')


# ---------------------------------------------------------------- figures

def occlude_with_masks(caffe, images, blank_square, passes=1):
    """Images (raw pixels) after the native BlankSquare layer, and where it
    blanked: a second channel of ones goes through the layer beside each
    digit (the square is shared by all channels of an image), and comes out
    0 exactly inside the square."""
    net = deploy_net(caffe, len(images) // passes, blank_square, channels=2, head=False)
    out_images, masks = [], []
    for chunk in np.split(images, passes):
        net.blobs['data'].data[:, 0] = chunk
        net.blobs['data'].data[:, 1] = 1
        net.forward()
        out_images.append(net.blobs['scaled'].data[:, 0] * 256)
        masks.append(net.blobs['scaled'].data[:, 1] == 0)
    return np.concatenate(out_images), np.concatenate(masks)


def outline(ax, mask):
    from matplotlib.patches import Rectangle
    rows, cols = np.nonzero(mask)
    if len(rows):
        ax.add_patch(Rectangle((cols.min() - 0.5, rows.min() - 0.5),
                               cols.max() - cols.min() + 1, rows.max() - rows.min() + 1,
                               facecolor=(1, 0.5, 0, 0.35), edgecolor=(1, 0.5, 0), lw=1.5))


def draw_occluded_inputs(caffe, plt, work, path):
    """Four training batches after BlankSquare as trained (one square per
    batch), eight digits of each, the square outlined."""
    train_images = read_idx(work / 'data' / 'raw' / 'mnist_train_lmdb.images', 'images')[:32]
    caffe.set_random_seed(FIRST_SEED)
    # TRAIN-like: one square per batch; apply_in_test because the net is TEST.
    images, masks = occlude_with_masks(caffe, train_images.astype(np.float32),
                                       'ratio: 0.5', passes=4)
    fig, axes = plt.subplots(4, 8, figsize=(8, 4.6))
    for ax, image, mask in zip(axes.flat, images, masks):
        ax.imshow(image, cmap='gray', vmin=0, vmax=255)
        outline(ax, mask)
        ax.axis('off')
    fig.suptitle('Training inputs after BlankSquare (ratio 0.5), square outlined:\n'
                 'each row one batch, one random 14x14 square per batch', fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def draw_predictions(caffe, plt, args, work, models, path, count=16):
    """Held-out digits with a random square each, and what each model (first
    seed) says: green right, red wrong."""
    images, labels = held_out(work)
    images, labels = images[:count].astype(np.float32), labels[:count]
    caffe.set_random_seed(2)
    occluded, masks = occlude_with_masks(caffe, images, 'ratio: 0.5 per_sample: true')
    seed = seeds(args)[0]
    predictions = {}
    for variant in NETS:
        net = deploy_net(caffe, count)
        net.copy_from(str(models[variant, seed]))
        predictions[variant] = predict(net, occluded, count)
    fig, axes = plt.subplots(2, count // 2, figsize=(count // 2 * 1.25, 4.2))
    for k, ax in enumerate(axes.flat):
        ax.imshow(occluded[k], cmap='gray', vmin=0, vmax=255)
        outline(ax, masks[k])
        ax.set_xticks([])
        ax.set_yticks([])
        for row, (variant, short) in enumerate((('baseline', 'LeNet'),
                                                 ('blank_square', '+BSq'))):
            guess = int(predictions[variant][k])
            right = guess == labels[k]
            ax.text(0.5, -0.1 - 0.17 * row, f'{short}: {guess} {"✓" if right else "✗"}',
                    transform=ax.transAxes, ha='center', va='top', fontsize=9,
                    color='tab:green' if right else 'tab:red')
    right = {v: int(np.sum(predictions[v] == labels)) for v in NETS}
    fig.suptitle(f'Held-out digits with a random 14x14 square (outlined): predictions, '
                 f'seed {seed}\nLeNet {right["baseline"]}/{count} right, '
                 f'LeNet + BlankSquare (+BSq) {right["blank_square"]}/{count} right',
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def draw_sensitivity_map(plt, args, results, path):
    positions = results['positions']
    means = {v: np.mean([results['map'][f'{v}/{s}'] for s in seeds(args)], axis=0)
             for v in NETS}
    # Cells centred on the square's centre, in image pixels.
    centres = [p + (SQUARE - 1) / 2 for p in positions]
    half = args.map_stride / 2
    extent = [centres[0] - half, centres[-1] + half, centres[-1] + half, centres[0] - half]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    low = min(m.min() for m in means.values())
    for ax, variant in zip(axes, NETS):
        image = ax.imshow(means[variant], extent=extent, vmin=low, vmax=1, cmap='viridis')
        ax.set_title(f'{NETS[variant]}\n(mean {means[variant].mean():.3f}, '
                     f'worst {means[variant].min():.3f})', fontsize=10)
        fig.colorbar(image, ax=ax, label='held-out accuracy')
    difference = means['blank_square'] - means['baseline']
    bound = max(abs(difference).max(), 1e-3)
    image = axes[2].imshow(difference, extent=extent, vmin=-bound, vmax=bound, cmap='RdBu')
    axes[2].set_title('LeNet + BlankSquare minus LeNet', fontsize=10)
    fig.colorbar(image, ax=axes[2], label='accuracy difference')
    for ax in axes:
        ax.set(xlim=(0, 27), ylim=(27, 0), xlabel='square centre, column',
               ylabel='square centre, row')
    fig.suptitle(f'Occlusion sensitivity: accuracy with a {SQUARE}x{SQUARE} square centred '
                 f'at each point ({results["map_images"]} held-out digits, mean over '
                 f'{args.seeds} seeds)', fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def draw_curves(plt, args, work, path):
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for color, (variant, label) in zip(('tab:blue', 'tab:orange'), NETS.items()):
        for k, seed in enumerate(seeds(args)):
            losses, accuracy = parse_training_log(
                (work / f'train_{variant}_seed{seed}.log').read_text())
            name = label if k == 0 else None
            left.plot(*zip(*losses), color=color, alpha=0.7, lw=1, label=name)
            right.plot(*zip(*accuracy), color=color, alpha=0.7, marker='o', label=name)
    left.set(title='training loss (each line a seed)', xlabel='iteration', yscale='log')
    right.set(title='held-out accuracy during training (clean images)', xlabel='iteration')
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def draw_figures(args, work, results):
    try:
        import matplotlib
    except ImportError:
        print('\nmatplotlib is not installed, so no figures were drawn; the numbers are '
              'above and in ' + str(work) + '.\nTo draw them: pip install matplotlib '
              '(scripts/setup installs it into .venv), then\n  python '
              f'{Path(__file__).resolve()} --work {work} --figures-only'
              + (f' --seeds {args.seeds} --iters {args.iters}'), flush=True)
        return []
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    caffe = import_caffe(args)
    models = {(v, s): weights_path(work, v, s, args.iters) for v in NETS for s in seeds(args)}
    print('==> figures', flush=True)
    draw_curves(plt, args, work, work / FIGURES[3])
    draw_sensitivity_map(plt, args, results, work / FIGURES[2])
    draw_occluded_inputs(caffe, plt, work, work / FIGURES[0])
    draw_predictions(caffe, plt, args, work, models, work / FIGURES[1])
    return [work / name for name in FIGURES]


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    work = args.work.resolve()
    if args.figures_only:
        results = json.loads((work / 'results.json').read_text())
        args.seeds, args.iters = len(results['seeds']), results['iters']
        figures = draw_figures(args, work, results)
        print('Figures: ' + ', '.join(map(str, figures)))
        return
    start = time.monotonic()
    work.mkdir(parents=True, exist_ok=True)
    prepare(args, work)
    models = {(variant, seed): train(args, work, variant, seed)
              for seed in seeds(args) for variant in NETS}
    print(f'==> scoring {len(models)} models on held-out images (pycaffe)', flush=True)
    results = score(args, work, models)
    timing = time_layer(args, work)
    results.update(seeds=seeds(args), iters=args.iters, timing=timing)
    (work / 'results.json').write_text(json.dumps(results, indent=1))
    write_map_csv(work / 'sensitivity_map.csv', args, results)
    summary = summarize(args, results, timing, (time.monotonic() - start) / 60)
    summary += (f'\n\nNumbers: {work / "results.json"}, {work / "sensitivity_map.csv"}')
    (work / 'summary.md').write_text(summary + '\n')
    print('\n' + summary, flush=True)
    figures = draw_figures(args, work, results)
    if figures:
        print('Figures: ' + ', '.join(map(str, figures)))


if __name__ == '__main__':
    main()
