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

A scalar top may be () in one layer and (1,) in the other (Caffe's loss
layers are (), many prototypes reshape to (1,)): that is a note, and the
values are compared. A prototype whose backward ignores top.diff (right only
with loss_weight 1 at the end of a net, like the pyloss of Caffe's old
examples) is a note too: the gradients are then compared with top diffs of
1, and the native layer must still scale its gradient with top.diff.

Arguments Caffe would reject (a --native that does not parse or names no
registered layer, shapes the layers refuse, a GPU that is not there) end in
a usage error, exit status 2: the nets are first built once in a child
process, so that a failed Caffe CHECK aborts the child, not the tool.

pycaffe runs float nets only, so the checks are in float; the gtest suites
of a native layer cover double.
"""
import argparse
import ctypes
import importlib
import itertools
import os
import random
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
from google.protobuf import text_format

import caffe
from caffe.proto import caffe_pb2

# Blob::Reshape's limits (blob.hpp): at most 32 axes, at most INT_MAX elements.
MAX_AXES = 32
MAX_COUNT = 2**31 - 1


def parse_shape(text):
    try:
        shape = tuple(int(d) for d in text.split(','))
    except ValueError:
        raise argparse.ArgumentTypeError(f'shape {text!r}: expected e.g. 16,3,28,28')
    if not shape or min(shape) <= 0:
        raise argparse.ArgumentTypeError(f'shape {text!r}: dimensions must be positive')
    if len(shape) > MAX_AXES:
        raise argparse.ArgumentTypeError(f'shape {text!r}: Caffe blobs have at most '
                                         f'{MAX_AXES} axes')
    if np.prod(shape, dtype=np.float64) > MAX_COUNT:
        raise argparse.ArgumentTypeError(f'shape {text!r}: more than {MAX_COUNT} elements, '
                                         f'the most a Caffe blob holds')
    return shape


def build_parser():
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
    p.add_argument('--gpu', type=int, nargs='?', const=0, default=None, metavar='ID',
                   help='run on GPU ID (0 if no ID is given)')
    p.add_argument('--plugin', action='append', default=[], metavar='LIBRARY',
                   help='shared library to load first, e.g. one that registers the '
                        'native layer; repeatable')
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
    # The child process that builds the nets once (see validate_in_child).
    p.add_argument('--dry-run', action='store_true', help=argparse.SUPPRESS)
    return p


def parse_args(parser, argv):
    args = parser.parse_args(argv)
    if args.gpu is not None and args.gpu < 0:
        parser.error(f'--gpu {args.gpu}: a device id is 0 or more')
    for name in ('tops', 'passes', 'grad_samples'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be at least 1')
    for library in args.plugin:
        try:
            ctypes.CDLL(library, mode=ctypes.RTLD_GLOBAL)
        except OSError as e:
            parser.error(f'--plugin {library}: {e}')
    validate_prototype(parser, args)
    validate_native(parser, args)
    return args


def validate_prototype(parser, args):
    if '.' not in args.prototype:
        parser.error('--prototype must be module.Class')
    if 'Python' not in caffe.layer_type_list():
        parser.error('this Caffe was built without Python layers (BUILD_python_layer=OFF, '
                     'WITH_PYTHON_LAYER): a prototype cannot run')
    module, cls = args.prototype.rsplit('.', 1)
    try:
        layer = getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError) as e:
        parser.error(f'--prototype {args.prototype}: {type(e).__name__}: {e}')
    if not (isinstance(layer, type) and issubclass(layer, caffe.Layer)):
        parser.error(f'--prototype {args.prototype} is not a caffe.Layer class')


def validate_native(parser, args):
    param = caffe_pb2.LayerParameter()
    try:
        text_format.Parse(args.native, param)
    except text_format.ParseError as e:
        parser.error(f'--native {args.native!r} is not LayerParameter text: {e}')
    # The tool wires the layer into its nets itself.
    wiring = (['name'] if param.HasField('name') else []) + [
        field for field in ('bottom', 'top', 'loss_weight', 'propagate_down')
        if len(getattr(param, field))]
    if wiring:
        parser.error(f'--native {args.native!r}: leave out {", ".join(wiring)}; '
                     f'the tool sets them')
    if not param.type:
        parser.error(f'--native {args.native!r} names no layer type (type: "...")')
    if param.type not in caffe.layer_type_list():
        parser.error(f'--native: no layer type {param.type!r} is registered in this Caffe '
                     f'(a layer in a separate library needs --plugin)')


def caffe_failure(output):
    """The reason a child Caffe process gave: its fatal glog lines, else the
    exception (and its notes) of a Python traceback."""
    lines = output.splitlines()
    fatal = [re.sub(r'^F\d{4,8} [\d:.]+\s+\d+ [^\]]*\] ', '', line)
             for line in lines if re.match(r'^F\d{4,8} ', line)]
    if fatal:
        return ' '.join(fatal)
    starts = [i for i, line in enumerate(lines) if line.startswith('Traceback')]
    if starts:
        tail = [line for line in lines[starts[-1] + 1:] if line and not line[0].isspace()]
        if tail:
            return '; '.join(tail)
    lines = [line for line in lines if line.strip()]
    return lines[-1] if lines else 'no message'


def validate_in_child(parser, argv, args):
    """Builds and runs the nets once in a child process; a Caffe CHECK that
    fails there (shapes the layers refuse, a missing GPU) becomes a usage
    error here instead of an abort."""
    env = dict(os.environ, GLOG_logtostderr='1', GLOG_minloglevel='2',
               PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    command = [sys.executable, '-m', 'caffe.portcheck', '--dry-run'] + list(argv)
    try:
        child = subprocess.run(command, capture_output=True, text=True, env=env,
                               timeout=600)
    except subprocess.TimeoutExpired:
        parser.error('building the nets took more than 10 minutes; shapes too large?')
    if child.returncode != 0:
        shapes = ' '.join(f'--shape {",".join(map(str, s))}' for s in args.shape)
        device = f'GPU {args.gpu}' if args.gpu is not None else 'the CPU'
        parser.error(f'Caffe rejects the layers with {shapes} on {device} '
                     f'(--native {args.native!r}, --prototype {args.prototype}): '
                     f'{caffe_failure(child.stderr + child.stdout)}')


def set_device(args):
    if args.gpu is not None:
        caffe.set_device(args.gpu)
        caffe.set_mode_gpu()
    else:
        caffe.set_mode_cpu()


class PortCheck:
    def __init__(self, args):
        self.args = args
        self.module, self.cls = args.prototype.rsplit('.', 1)
        self.failures = []
        self.notes = []
        # Set when the prototype's backward ignores top.diff.
        self.unit_top_diffs = False

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
        try:
            self.seed_everything()
            return caffe.Net(f.name, caffe.TRAIN)
        finally:
            os.unlink(f.name)

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
            if got.size != 1 or want.size != 1:
                self.fail(f'{what}: shape {got.shape} vs {want.shape}')
                return
            self.note(f'{what}: native shape {got.shape}, prototype {want.shape}; both '
                      f'hold one value, compared as scalars')
            got, want = got.reshape(()), want.reshape(())
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

    def note(self, text):
        if text not in self.notes:
            print(f'  note: {text}')
            self.notes.append(text)

    def top_diffs(self, net, rng):
        """Top diffs for backward: random, or 1 for a prototype that ignores them."""
        shapes = [net.blobs[f'native_top{t}'].data.shape for t in range(self.args.tops)]
        if self.unit_top_diffs:
            return [np.ones(shape) for shape in shapes]
        return [rng.standard_normal(shape) for shape in shapes]

    def check_top_diff_scaling(self):
        """Backward is linear in top.diff: doubling it doubles the gradient.
        A prototype that returns the same gradient ignores top.diff (a note;
        the comparisons then use top diffs of 1); a native layer must scale."""
        print('backward scales with top.diff')
        rng = np.random.default_rng(self.args.seed + 4)
        n = len(self.args.shape)
        net = self.pair_net()
        self.fill_inputs(net, rng)
        net.forward()
        diffs = [rng.uniform(0.5, 1.5, net.blobs[f'native_top{t}'].data.shape)
                 for t in range(self.args.tops)]
        grads = {}
        for scale in (1, 2):
            for which in ('prototype', 'native'):
                for t, d in enumerate(diffs):
                    net.blobs[f'{which}_top{t}'].diff[...] = scale * d
            self.backward_layers(net)
            grads[scale] = {which: [net.blobs[f'x{i}_{which}'].diff.astype(np.float64)
                                    for i in range(n)] for which in ('prototype', 'native')}

        def close(a, b):
            return all(np.allclose(x, y, rtol=self.args.rtol, atol=self.args.atol)
                       for x, y in zip(a, b))

        for which in ('prototype', 'native'):
            once, twice = grads[1][which], grads[2][which]
            scales = close(twice, [2 * g for g in once])
            ignores = (not scales and close(twice, once)
                       and any(np.abs(g).max(initial=0) > self.args.atol for g in once))
            if which == 'prototype' and ignores:
                self.report('prototype', 'same gradient for top.diff d and 2d', True)
                self.note('the prototype ignores top.diff: its gradient is right only with '
                          'loss_weight 1 at the end of a net; gradients are compared with '
                          'top diffs of 1, and the native layer must still scale')
                self.unit_top_diffs = True
            else:
                self.report(which, 'gradient doubles with top.diff' if scales
                            else 'gradient does not double with top.diff', scales)

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
        print('backward (' + ('top diffs of 1' if self.unit_top_diffs else 'random top diffs')
              + ')')
        for down in itertools.product([True, False], repeat=n):
            if not any(down):
                continue
            net = self.pair_net(down)
            self.fill_inputs(net, rng)
            net.forward()
            diffs = self.top_diffs(net, rng)
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
        weights = self.top_diffs(net, rng)
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
        on_gpu = self.args.gpu is not None
        print('forward+backward time' + (' (with device copies)' if on_gpu else ''))
        rng = np.random.default_rng(self.args.seed + 3)
        seconds = {}
        for which in ('prototype', 'native'):
            net = self.single_net(which)
            self.fill_inputs(net, rng)
            net.forward()
            net.backward()
            last = list(net._layer_names).index(which)
            first = 0 if on_gpu else last
            samples = []
            deadline = time.perf_counter() + self.args.time
            while len(samples) < 5 or time.perf_counter() < deadline:
                start = time.perf_counter()
                net._forward(first, last)
                net._backward(last, first)
                samples.append(time.perf_counter() - start)
            seconds[which] = float(np.median(samples))
        ratio = seconds['prototype'] / seconds['native']
        verdict = (f'native is {ratio:.1f}x faster' if ratio >= 1
                   else f'native is {1 / ratio:.1f}x slower')
        print(f'  prototype {1e6 * seconds["prototype"]:.1f} us   '
              f'native {1e6 * seconds["native"]:.1f} us   {verdict}')

    def dry_run(self):
        """Builds the nets the checks use and runs each once (the child of
        validate_in_child)."""
        rng = np.random.default_rng(self.args.seed)
        net = self.pair_net()
        self.fill_inputs(net, rng)
        net.forward()
        for which in ('prototype', 'native'):
            for t in range(self.args.tops):
                net.blobs[f'{which}_top{t}'].diff[...] = 1
        self.backward_layers(net)
        for which in ('prototype', 'native'):
            single = self.single_net(which)
            self.fill_inputs(single, rng)
            single.forward()
            single.backward()

    def run(self):
        device = f'GPU {self.args.gpu}' if self.args.gpu is not None else 'CPU'
        print(f'port-check: {self.args.prototype} vs {self.args.native} '
              f'({device}, seed {self.args.seed})')
        if self.args.stochastic:
            self.check_statistics()
        else:
            self.check_top_diff_scaling()
            self.check_values()
            self.check_gradients()
        self.time_layers()
        for text in self.notes:
            print(f'note: {text}')
        if self.failures:
            print(f'FAIL: {len(self.failures)} check(s) disagree: ' + ', '.join(self.failures))
            return 1
        print('PASS')
        return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parse_args(parser, argv)
    if args.dry_run:
        set_device(args)
        PortCheck(args).dry_run()
        return 0
    validate_in_child(parser, argv, args)
    set_device(args)
    try:
        return PortCheck(args).run()
    finally:
        caffe.set_mode_cpu()


if __name__ == '__main__':
    sys.exit(main())
