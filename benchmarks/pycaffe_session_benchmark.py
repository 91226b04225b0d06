"""The native layers against their Python prototypes in a pycaffe session.

A real session is NumPy code around Caffe calls: it allocates and frees large
arrays between calls, which moves glibc's mmap threshold (after a large free,
malloc serves blocks up to that size from the heap). This benchmark does the
same: before each net is built and before each timed call, NumPy computes
with and frees arrays the size of the blobs. Each layer runs in its own net
(Input blobs and the layer), native and prototype alternating call by call,
so both see the same session. Times are the fastest call of each (shared
machines only ever add time); the targets are the ratios. Each case runs in
several fresh processes (--processes) and prints medians with the range of
the ratio over them, then the share of the machine other work used meanwhile.

Usage: python benchmarks/pycaffe_session_benchmark.py [--gpu] [--calls N] [--processes N]
(scripts/benchmark runs it with the build's env.sh; OPENBLAS_NUM_THREADS=1.)
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

# Caffe logs every net it builds; the tables are what a reader wants (set
# GLOG_minloglevel=0 to see the logs).
os.environ.setdefault('GLOG_minloglevel', '2')
import caffe  # noqa: E402  (glog reads the variable when caffe loads)

EUCLIDEAN_SHAPE = (64, 100000)
# MNIST's batch, as in the occlusion example (examples/occlusion), with the
# target the layer was ported for (4x its prototype's forward), and
# ImageNet-sized images, where both write the same 9.6 MB and are held to
# memory instead: there the native forward is compared with a copy of the
# blob in the same process (see blank_square()).
BLANK_SQUARE_SHAPES = {(64, 1, 28, 28): 4, (64, 3, 224, 224): None}

EUCLIDEAN_NET = '''
name: "euclidean_{kind}" force_backward: true
layer {{ name: "a" type: "Input" top: "a" input_param {{ shape {{ {dims} }} }} }}
layer {{ name: "b" type: "Input" top: "b" input_param {{ shape {{ {dims} }} }} }}
layer {{ name: "loss" bottom: "a" bottom: "b" top: "loss" loss_weight: 1 {layer} }}
'''
EUCLIDEAN_LAYERS = {
    'native': 'type: "EuclideanLoss"',
    'prototype': 'type: "Python" python_param { module: "caffe.prototypes.euclidean_loss" '
                 'layer: "EuclideanLossLayer" }',
}

# In place, as occlusion is used: bottom and top are the same blob.
BLANK_SQUARE_NET = '''
name: "blank_square_{kind}" force_backward: true
layer {{ name: "data" type: "Input" top: "data" input_param {{ shape {{ {dims} }} }} }}
layer {{ name: "occlude" bottom: "data" top: "data" {layer} }}
'''
BLANK_SQUARE_LAYERS = {
    'native': 'type: "BlankSquare"',
    'prototype': 'type: "Python" python_param { module: "caffe.prototypes.blank_square" '
                 'layer: "BlankSquareLayer" }',
}

HEAVY_NET = '''
name: "heavy"
layer { name: "x" type: "Input" top: "x" input_param { shape { dim: 64 dim: 1024 } } }
layer { name: "ip1" type: "InnerProduct" bottom: "x" top: "ip1"
  inner_product_param { num_output: 1024 weight_filler { type: "gaussian" std: 0.01 } } }
layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2"
  inner_product_param { num_output: 1024 weight_filler { type: "gaussian" std: 0.01 } } }
'''


def make_net(text):
    with tempfile.NamedTemporaryFile('w', suffix='.prototxt', delete=False) as f:
        f.write(text)
    try:
        return caffe.Net(f.name, caffe.TRAIN)
    finally:
        os.unlink(f.name)


def shape_name(shape):
    return 'x'.join(map(str, shape))


def dims(shape):
    return ' '.join(f'dim: {d}' for d in shape)


class Session:
    """NumPy work between Caffe calls, on arrays the size of the blobs."""

    def __init__(self, shape, seed=0):
        # Drawn in float32 and scaled in place: no large array is freed here.
        rng = np.random.default_rng(seed)
        self.a = rng.random(shape, dtype=np.float32)
        self.b = rng.random(shape, dtype=np.float32)
        for array in (self.a, self.b):
            array *= 2
            array -= 1

    def churn(self):
        x = self.a - self.b
        y = x * 2.0
        return float(np.sum(x ** 2)) + float(y[(0,) * y.ndim])


def fastest(seconds):
    return min(seconds)


def time_calls(nets, call, session, calls):
    """Fastest of `calls` timed calls per net, alternating, with NumPy work
    between calls."""
    times = {name: [] for name in nets}
    for name, net in nets.items():
        call(net)  # warm-up
    for _ in range(calls):
        for name, net in nets.items():
            session.churn()
            start = time.perf_counter()
            call(net)
            times[name].append(time.perf_counter() - start)
    return {name: fastest(t) for name, t in times.items()}


def compare(a_name, a_seconds, b_name, b_seconds):
    if a_seconds <= b_seconds:
        return f'{a_name} is {b_seconds / a_seconds:.2f}x faster than {b_name}'
    return f'{a_name} is {a_seconds / b_seconds:.2f}x slower than {b_name}'


def ratio_line(a_name, b_name, runs, a_key, b_key, target=None):
    """How much faster a is than b: the median over the processes, their
    range, and the target's verdict on the median with the processes that
    met it."""
    ratios = [run[b_key] / run[a_key] for run in runs]
    middle = statistics.median(ratios)
    line = compare(a_name, 1, b_name, middle)  # a takes 1 where b takes middle
    if len(runs) > 1:
        line += (f' (median of {len(runs)} processes; {min(ratios):.2f} to '
                 f'{max(ratios):.2f}x)')
    if target:
        met = sum(r >= target for r in ratios)
        line += (f'; target {target}x: {"meets" if middle >= target else "MISSES"}'
                 f' ({met} of {len(runs)} processes at or above it)')
    return line


def forward_backward(net):
    net.forward()
    net.backward()


def measure_euclidean_loss(args):
    session = Session(EUCLIDEAN_SHAPE, seed=1)

    def build(kind):
        net = make_net(EUCLIDEAN_NET.format(kind=kind, dims=dims(EUCLIDEAN_SHAPE),
                                            layer=EUCLIDEAN_LAYERS[kind]))
        net.blobs['a'].data[...] = session.a
        net.blobs['b'].data[...] = session.b
        return net

    # The measurement first: a native net built before any NumPy
    # array was freed, timed on its own...
    fresh = build('native')
    before = time_calls({'native': fresh}, lambda n: n.backward(), session, args.calls)
    del fresh
    # ... then both nets built after NumPy has freed large arrays.
    session.churn()
    nets = {kind: build(kind) for kind in ('native', 'prototype')}
    backward = time_calls(nets, lambda n: n.backward(), session, args.calls)
    both = time_calls(nets, forward_backward, session, args.calls)
    return {'native_backward_before': before['native'],
            'native_backward': backward['native'],
            'prototype_backward': backward['prototype'],
            'native': both['native'], 'prototype': both['prototype']}


def report_header(title, unit, args, runs):
    """Prints the case's title line; returns each time's median over runs."""
    print(f'{title}, fastest of {args.calls} calls, NumPy work between calls; '
          f'times in {unit}'
          + (f', medians over {len(runs)} processes' if len(runs) > 1 else ''))
    return {key: statistics.median([run[key] for run in runs]) for key in runs[0]}


def report_euclidean_loss(args, runs):
    t = report_header(f'EuclideanLoss {shape_name(EUCLIDEAN_SHAPE)} float', 'ms',
                      args, runs)
    print(f'  native backward, net built before any large NumPy free: '
          f'{1e3 * t["native_backward_before"]:8.2f}')
    print(f'  native backward, net built after NumPy freed large arrays: '
          f'{1e3 * t["native_backward"]:8.2f}  '
          f'({ratio_line("after", "before", runs, "native_backward", "native_backward_before")})')
    print(f'  prototype backward:                                       '
          f'{1e3 * t["prototype_backward"]:8.2f}')
    print(f'  forward+backward: native {1e3 * t["native"]:.2f}, '
          f'prototype {1e3 * t["prototype"]:.2f}')
    print(f'  {ratio_line("native", "prototype", runs, "native", "prototype", target=3)}')


def measure_blank_square(args, shape):
    session = Session(shape, seed=2)

    def build(kind):
        net = make_net(BLANK_SQUARE_NET.format(kind=kind, dims=dims(shape),
                                               layer=BLANK_SQUARE_LAYERS[kind]))
        net.blobs['data'].data[...] = session.a
        net.blobs['data'].diff[...] = 1
        return net

    session.churn()
    nets = {kind: build(kind) for kind in ('native', 'prototype')}
    occlude = list(nets['native']._layer_names).index('occlude')

    def forward(net):  # the occlusion layer alone, as net.forward() runs it
        net._forward(occlude, occlude)

    def forward_backward_layer(net):
        net._forward(occlude, occlude)
        net._backward(occlude, occlude)

    times = time_calls(nets, forward, session, args.calls)
    times['native_forward_backward'] = time_calls(
        {'native': nets['native']}, forward_backward_layer, session, args.calls)['native']
    if not args.gpu:  # a host copy is the reference on the CPU only
        blob = nets['native'].blobs['data'].data
        copy = np.empty_like(blob)
        times['copy'] = time_calls({'copy': None}, lambda _: np.copyto(copy, blob), session,
                                   args.calls)['copy']
    return times


def report_blank_square(args, runs, shape, target):
    t = report_header(f'BlankSquare in place {shape_name(shape)} float, ratio 0.5', 'us',
                      args, runs)
    print(f'  forward: native {1e6 * t["native"]:.1f}, prototype {1e6 * t["prototype"]:.1f}; '
          f'native forward+backward {1e6 * t["native_forward_backward"]:.1f}')
    print(f'  forward: {ratio_line("native", "prototype", runs, "native", "prototype", target)}')
    if not target and 'copy' in t:
        # Writing a quarter of the blob without reading it moves 1/8 of a
        # copy's bytes (a copy reads and writes the whole blob); NumPy's fill
        # in the prototype reads every line it writes, and writes it back.
        print(f'  memory-bound here: native takes {t["native"] / t["copy"]:.3f} of a blob '
              f'copy ({1e6 * t["copy"]:.0f} us; its bytes make 0.125), the prototype '
              f'{t["prototype"] / t["copy"]:.3f}')
    print(f'  {ratio_line("native forward+backward", "prototype forward", runs, "native_forward_backward", "prototype")}')


# Each case is measured in fresh processes (--processes): a process's first
# placement of blobs and NumPy arrays moves the small cases' times by more
# than the layers differ run to run. Per case: measure, report, and the
# timed calls per net (more where a call takes microseconds, so that the
# fastest is not a matter of luck).
CASES = {'euclidean_loss': (measure_euclidean_loss, report_euclidean_loss, 15)}
for _shape, _target in BLANK_SQUARE_SHAPES.items():
    CASES[f'blank_square_{shape_name(_shape)}'] = (
        lambda args, shape=_shape: measure_blank_square(args, shape),
        lambda args, runs, shape=_shape, target=_target:
            report_blank_square(args, runs, shape, target),
        50 if _target else 15)


def measure_in_fresh_processes(args, case):
    args.calls = args.calls_option or CASES[case][2]
    runs = []
    for _ in range(args.processes):
        command = [sys.executable, os.path.abspath(__file__), '--case', case,
                   '--calls', str(args.calls)] + (['--gpu'] if args.gpu else [])
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return runs


class OtherWork:
    """How many cores other processes (and the hypervisor, as steal) kept
    busy while this benchmark ran: a ratio measured beside other work is not
    an idle machine's."""

    def __init__(self):
        self.start = self.read()

    @staticmethod
    def read():
        with open('/proc/stat') as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        busy = sum(fields[:8]) - fields[3] - fields[4]  # all but idle and iowait
        own = os.times()
        return (busy / os.sysconf('SC_CLK_TCK'),
                own.user + own.system + own.children_user + own.children_system,
                time.monotonic())

    def report(self):
        try:
            busy, own, now = (b - a for a, b in zip(self.start, self.read()))
        except OSError:
            return
        others = max(0.0, busy - own) / now
        cores = os.cpu_count()
        print(f'other work while this ran: {others:.2f} of {cores} cores busy'
              + (' (not an idle machine: the ratios above are measured beside it)'
                 if others > 0.25 else ''))


def threads(args):
    """Two threads, two nets, against one thread running both shares: what
    releasing the GIL in pycaffe buys (the tests only check that it is
    released; a speed-up is a measurement)."""
    cores = len(os.sched_getaffinity(0))
    if cores < 2:
        print(f'pycaffe threads: skipped, {cores} core available')
        return
    nets = [make_net(HEAVY_NET) for _ in range(2)]
    count = 30

    def forward_many(net, n):
        if args.gpu:
            caffe.set_mode_gpu()  # the mode is per thread; new threads start in CPU mode
        for _ in range(n):
            net.forward()

    forward_many(nets[0], 2)  # warm-up
    one, two = [], []
    for _ in range(3):
        start = time.perf_counter()
        forward_many(nets[0], 2 * count)
        one.append(time.perf_counter() - start)
        workers = [threading.Thread(target=forward_many, args=(net, count)) for net in nets]
        start = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        two.append(time.perf_counter() - start)
    print(f'pycaffe threads ({cores} cores): {2 * count} forwards of a 2x1024 '
          f'InnerProduct net; one thread {1e3 * fastest(one):.1f} ms, two threads '
          f'{1e3 * fastest(two):.1f} ms: '
          f'{compare("two threads", fastest(two), "one", fastest(one))}')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--gpu', action='store_true', help='layers on GPU 0')
    parser.add_argument('--calls', dest='calls_option', type=int,
                        help='timed calls per net (default: 50 at MNIST\'s size, else 15)')
    parser.add_argument('--processes', type=int, default=7,
                        help='fresh processes per case (the medians and ranges are over them)')
    parser.add_argument('--case', choices=sorted(CASES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.gpu:
        caffe.set_mode_gpu()
    else:
        caffe.set_mode_cpu()
    if args.case:  # one measurement, in a process of its own, for main()
        args.calls = args.calls_option or CASES[args.case][2]
        print(json.dumps(CASES[args.case][0](args)))
        return 0
    other_work = OtherWork()
    print(f'pycaffe session benchmark, {"GPU" if args.gpu else "CPU"} '
          f'(OPENBLAS_NUM_THREADS={os.environ.get("OPENBLAS_NUM_THREADS", "unset")})')
    if 'Python' in caffe.layer_type_list():
        for number, (case, (_, report, _)) in enumerate(CASES.items()):
            if number:
                print()
            report(args, measure_in_fresh_processes(args, case))
    else:
        print('native against prototypes: skipped, this Caffe was built without '
              'Python layers (BUILD_python_layer=OFF / WITH_PYTHON_LAYER unset)')
    print()
    threads(args)
    other_work.report()
    return 0


if __name__ == '__main__':
    sys.exit(main())
