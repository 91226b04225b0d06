"""Port-check: prove a native layer equals its Python prototype.

    python -m caffe.portcheck \\
        --prototype caffe.prototypes.euclidean_loss.EuclideanLossLayer \\
        --native 'type: "EuclideanLoss"' --shape 16,10 --shape 16,10

Both layers get the same inputs (one --shape per bottom) in one net. The tool
reports, per top and bottom, the largest absolute and relative differences
of the forward outputs and of the gradients (random top diffs, every
propagate_down combination), a finite-difference gradient check of each
layer, and the forward+backward time of each with the speedup. It exits 1 if
anything disagrees beyond the tolerances.

Stochastic layers (--stochastic) cannot agree value for value: each draws
its own randomness. Their outputs and gradients are compared through
statistics over many passes instead: mean and spread, and the fraction of
elements that differ from the input (output) or from the top diff (gradient).

pycaffe runs float nets only, so the checks are in float; the gtest suites
of a native layer cover double.
"""
import argparse
import itertools
import random
import sys
import tempfile
import time

import numpy as np

import caffe


def parse_shape(text):
    try:
        shape = tuple(int(d) for d in text.split(','))
    except ValueError:
        raise argparse.ArgumentTypeError(f'shape {text!r}: expected e.g. 16,3,28,28')
    if not shape or min(shape) <= 0:
        raise argparse.ArgumentTypeError(f'shape {text!r}: dimensions must be positive')
    return shape


def parse_args(argv):
    p = argparse.ArgumentParser(prog='python -m caffe.portcheck', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--prototype', required=True,
                   help='the Python layer as module.Class')
    p.add_argument('--param-str', default='', help="the prototype's param_str")
    p.add_argument('--native', required=True,
                   help='the native layer as LayerParameter text, e.g. \'type: "BlankSquare" '
                        'blank_square_param { ratio: 0.25 }\'')
    p.add_argument('--shape', type=parse_shape, action='append', required=True,
                   help='shape of a bottom, e.g. 16,3,28,28; once per bottom')
    p.add_argument('--tops', type=int, default=1, help='number of tops (default 1)')
    p.add_argument('--gpu', action='store_true', help='run on GPU 0')
    p.add_argument('--seed', type=int, default=1701)
    p.add_argument('--input-range', type=float, nargs=2, default=(-1.0, 1.0),
                   metavar=('LOW', 'HIGH'), help='inputs are uniform in [LOW, HIGH)')
    p.add_argument('--rtol', type=float, default=1e-5, help='forward/backward relative tolerance')
    p.add_argument('--atol', type=float, default=1e-6, help='forward/backward absolute tolerance')
    p.add_argument('--grad-step', type=float, default=1e-2, help='finite-difference step')
    p.add_argument('--grad-tol', type=float, default=1e-2,
                   help='finite-difference tolerance, relative to max(|analytic|, |numeric|, 1)')
    p.add_argument('--grad-samples', type=int, default=40,
                   help='elements per bottom checked by finite differences')
    p.add_argument('--stochastic', action='store_true',
                   help='compare statistics over passes instead of values')
    p.add_argument('--passes', type=int, default=200, help='passes for --stochastic')
    p.add_argument('--stat-tol', type=float, default=0.05,
                   help='--stochastic: tolerance on each statistic, absolute')
    p.add_argument('--time', type=float, default=0.5, help='seconds to time each layer')
    args = p.parse_args(argv)
    if '.' not in args.prototype:
        p.error('--prototype must be module.Class')
    return args


class PortCheck:
    def __init__(self, args):
        self.args = args
        self.module, self.cls = args.prototype.rsplit('.', 1)
        self.failures = []

    # ---- nets -----------------------------------------------------------

    def layer_text(self, which, bottoms, tops, propagate_down=None):
        down = ''.join(f' propagate_down: {str(d).lower()}' for d in propagate_down or ())
        # loss_weight on every top: the net then backpropagates into the
        # layer whatever it is, and the top diffs are the tool's to set.
        weights = ''.join(' loss_weight: 1' for _ in tops)
        ends = ''.join(f' bottom: "{b}"' for b in bottoms) + ''.join(f' top: "{t}"' for t in tops)
        if which == 'prototype':
            body = (f'type: "Python" python_param {{ module: "{self.module}" '
                    f'layer: "{self.cls}" param_str: {self.quoted(self.args.param_str)} }}')
        else:
            body = self.args.native
        return f'layer {{ name: "{which}"{ends}{weights}{down} {body} }}\n'

    @staticmethod
    def quoted(text):
        return '"' + text.replace('\\', '\\\\').replace('"', '\\"') + '"'

    def inputs_text(self):
        # Zero-initialised Bias layers make the inputs learned, so gradients
        # are wanted and propagate_down alone decides which are computed.
        text = 'name: "portcheck"\n'
        for i, shape in enumerate(self.args.shape):
            dims = ' '.join(f'dim: {d}' for d in shape)
            text += (f'layer {{ name: "in{i}" type: "Input" top: "in{i}" '
                     f'input_param {{ shape {{ {dims} }} }} }}\n'
                     f'layer {{ name: "bias{i}" type: "Bias" bottom: "in{i}" top: "x{i}" '
                     f'bias_param {{ filler {{ type: "constant" value: 0 }} }} }}\n')
        return text

    def make_net(self, text):
        with tempfile.NamedTemporaryFile('w', suffix='.prototxt', delete=False) as f:
            f.write(text)
        self.seed_everything()
        return caffe.Net(f.name, caffe.TRAIN)

    def seed_everything(self):
        caffe.set_random_seed(self.args.seed)
        random.seed(self.args.seed)
        np.random.seed(self.args.seed)

    def pair_net(self, propagate_down=None):
        """Prototype and native side by side on split copies of the inputs."""
        n = len(self.args.shape)
        text = self.inputs_text()
        for i in range(n):
            text += (f'layer {{ name: "split{i}" type: "Split" bottom: "x{i}" '
                     f'top: "x{i}_prototype" top: "x{i}_native" }}\n')
        for which in ('prototype', 'native'):
            text += self.layer_text(which, [f'x{i}_{which}' for i in range(n)],
                                    [f'{which}_top{t}' for t in range(self.args.tops)],
                                    propagate_down)
        return self.make_net(text)

    def single_net(self, which):
        n = len(self.args.shape)
        text = self.inputs_text() + self.layer_text(
            which, [f'x{i}' for i in range(n)], [f'top{t}' for t in range(self.args.tops)])
        return self.make_net(text)

    def fill_inputs(self, net, rng):
        low, high = self.args.input_range
        for i, shape in enumerate(self.args.shape):
            net.blobs[f'in{i}'].data[...] = rng.uniform(low, high, shape)

    # ---- checks ---------------------------------------------------------

    def compare(self, what, got, want):
        got = np.asarray(got, np.float64)
        want = np.asarray(want, np.float64)
        if got.shape != want.shape:
            self.fail(f'{what}: shape {got.shape} vs {want.shape}')
            return
        diff = np.abs(got - want)
        max_abs = float(diff.max(initial=0))
        max_rel = float((diff / np.maximum(np.abs(want), 1e-30)).max(initial=0))
        ok = bool(np.all(diff <= self.args.atol + self.args.rtol * np.abs(want)))
        self.report(what, f'max |diff| {max_abs:.2e}  max rel {max_rel:.2e}', ok)

    def report(self, what, detail, ok):
        print(f'  {what:<34} {detail:<40} {"ok" if ok else "FAIL"}')
        if not ok:
            self.failures.append(what)

    def fail(self, what):
        print(f'  {what:<34} FAIL')
        self.failures.append(what)

    def check_values(self):
        rng = np.random.default_rng(self.args.seed)
        n = len(self.args.shape)
        print('forward')
        net = self.pair_net()
        self.fill_inputs(net, rng)
        net.forward()
        for t in range(self.args.tops):
            self.compare(f'top[{t}]', net.blobs[f'native_top{t}'].data,
                         net.blobs[f'prototype_top{t}'].data)
        print('backward (random top diffs)')
        for down in itertools.product([True, False], repeat=n):
            if not any(down):
                continue
            net = self.pair_net(down)
            self.fill_inputs(net, rng)
            net.forward()
            diffs = [rng.standard_normal(net.blobs[f'native_top{t}'].data.shape)
                     for t in range(self.args.tops)]
            for which in ('prototype', 'native'):
                for t, d in enumerate(diffs):
                    net.blobs[f'{which}_top{t}'].diff[...] = d
                for i in range(n):
                    net.blobs[f'x{i}_{which}'].diff[...] = np.nan
            self.backward_layers(net)
            label = ''.join('1' if d else '0' for d in down)
            for i in range(n):
                native = net.blobs[f'x{i}_native'].diff
                proto = net.blobs[f'x{i}_prototype'].diff
                if down[i]:
                    self.compare(f'propagate_down={label} bottom[{i}]', native, proto)
                else:
                    untouched = np.isnan(native).all() and np.isnan(proto).all()
                    self.report(f'propagate_down={label} bottom[{i}]',
                                'not written, as asked' if untouched else 'written', untouched)

    @staticmethod
    def backward_layers(net):
        """Backward through the two layers only (their top diffs are set)."""
        names = list(net._layer_names)
        for name in ('prototype', 'native'):
            index = names.index(name)
            net._backward(index, index)

    def objective(self, net, which, weights):
        return sum(float(np.sum(net.blobs[f'{which}_top{t}'].data.astype(np.float64) * w))
                   for t, w in enumerate(weights))

    def check_gradients(self):
        print(f'finite differences (step {self.args.grad_step}, '
              f'{self.args.grad_samples} elements per bottom)')
        rng = np.random.default_rng(self.args.seed + 1)
        n = len(self.args.shape)
        net = self.pair_net()
        self.fill_inputs(net, rng)
        net.forward()
        weights = [rng.standard_normal(net.blobs[f'native_top{t}'].data.shape)
                   for t in range(self.args.tops)]
        for which in ('prototype', 'native'):
            for t, w in enumerate(weights):
                net.blobs[f'{which}_top{t}'].diff[...] = w
        self.backward_layers(net)
        analytic = {(which, i): net.blobs[f'x{i}_{which}'].diff.copy()
                    for which in ('prototype', 'native') for i in range(n)}
        h = self.args.grad_step
        for i in range(n):
            data = net.blobs[f'in{i}'].data
            count = data.size
            picks = rng.choice(count, size=min(count, self.args.grad_samples), replace=False)
            worst = {'prototype': 0.0, 'native': 0.0}
            for j in picks:
                index = np.unravel_index(j, data.shape)
                original = float(data[index])
                values = {}
                for sign in (1, -1):
                    data[index] = original + sign * h
                    net.forward()
                    values[sign] = {w: self.objective(net, w, weights)
                                    for w in ('prototype', 'native')}
                data[index] = original
                for which in worst:
                    numeric = (values[1][which] - values[-1][which]) / (2 * h)
                    a = float(analytic[(which, i)][index])
                    error = abs(a - numeric) / max(abs(a), abs(numeric), 1.0)
                    worst[which] = max(worst[which], error)
            for which, error in worst.items():
                self.report(f'{which} bottom[{i}]', f'max scaled error {error:.2e}',
                            error <= self.args.grad_tol)
        net.forward()

    def statistics(self, which, passes):
        """Names and per-pass averages of statistics of outputs and gradients."""
        rng = np.random.default_rng(self.args.seed + 2)
        net = self.single_net(which)
        n = len(self.args.shape)
        rows = []
        for _ in range(passes):
            self.fill_inputs(net, rng)
            net.forward()
            row = {}
            for t in range(self.args.tops):
                out = net.blobs[f'top{t}'].data
                row[f'top[{t}] mean'] = out.mean()
                row[f'top[{t}] std'] = out.std()
                if n == 1 and out.shape == net.blobs['x0'].data.shape:
                    row[f'top[{t}] fraction changed'] = np.mean(out != net.blobs['x0'].data)
                net.blobs[f'top{t}'].diff[...] = 1
            net.backward()
            for i in range(n):
                grad = net.blobs[f'x{i}'].diff  # the layer's bottom
                row[f'bottom[{i}] gradient mean'] = grad.mean()
                row[f'bottom[{i}] fraction blocked'] = np.mean(grad != 1)
            rows.append(row)
        return {name: float(np.mean([r[name] for r in rows])) for name in rows[0]}

    def check_statistics(self):
        print(f'statistics over {self.args.passes} passes (stochastic layer)')
        proto = self.statistics('prototype', self.args.passes)
        native = self.statistics('native', self.args.passes)
        for name, p in proto.items():
            q = native[name]
            self.report(name, f'prototype {p:.4f}  native {q:.4f}',
                        abs(p - q) <= self.args.stat_tol)

    def time_layers(self):
        # The layer alone on the CPU. On the GPU from the Bias layers on,
        # which produce the inputs on the device, so that the prototype pays
        # the copies to the host and back that it pays in a GPU net.
        print('forward+backward time' + (' (with device copies)' if self.args.gpu else ''))
        rng = np.random.default_rng(self.args.seed + 3)
        seconds = {}
        for which in ('prototype', 'native'):
            net = self.single_net(which)
            self.fill_inputs(net, rng)
            net.forward()
            net.backward()
            last = list(net._layer_names).index(which)
            first = 0 if self.args.gpu else last
            samples = []
            deadline = time.perf_counter() + self.args.time
            while len(samples) < 5 or time.perf_counter() < deadline:
                start = time.perf_counter()
                net._forward(first, last)
                net._backward(last, first)
                samples.append(time.perf_counter() - start)
            seconds[which] = float(np.median(samples))
        print(f'  prototype {1e6 * seconds["prototype"]:.1f} us   '
              f'native {1e6 * seconds["native"]:.1f} us   '
              f'native is {seconds["prototype"] / seconds["native"]:.1f}x faster')

    def run(self):
        device = 'GPU 0' if self.args.gpu else 'CPU'
        print(f'port-check: {self.args.prototype} vs {self.args.native} '
              f'({device}, seed {self.args.seed})')
        if self.args.stochastic:
            self.check_statistics()
        else:
            self.check_values()
            self.check_gradients()
        self.time_layers()
        if self.failures:
            print(f'FAIL: {len(self.failures)} check(s) disagree: ' + ', '.join(self.failures))
            return 1
        print('PASS')
        return 0


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.gpu:
        caffe.set_mode_gpu()
        caffe.set_device(0)
    else:
        caffe.set_mode_cpu()
    return PortCheck(args).run()


if __name__ == '__main__':
    sys.exit(main())
