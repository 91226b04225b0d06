"""The occlusion example: MNIST conversion, its nets, the driver's reading of
caffe's logs, and a short run."""
import gzip
import os
import re
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

ROOT = Path(os.environ.get('CAFFE_ROOT', Path(__file__).resolve().parents[3]))
EXAMPLE = ROOT / 'examples' / 'occlusion'
PREPARE = ROOT / 'examples' / 'mnist' / 'prepare_mnist.py'
sys.path.insert(0, str(EXAMPLE))
import occlusion  # noqa: E402


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


@pytest.mark.lmdb
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


@pytest.mark.lmdb
@pytest.mark.parametrize('name', [
    pytest.param(p.name, marks=pytest.mark.python_layer) if 'python' in p.name else p.name
    for p in sorted(EXAMPLE.glob('*.prototxt'))])
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


@pytest.mark.lmdb
def test_same_seed_same_initial_weights_with_and_without_blank_square(mnist, tmp_path,
                                                                      monkeypatch):
    # The comparison is fair only if BlankSquare leaves Caffe's random stream
    # alone: then the layers after it get the same initial weights.
    _, out, *_ = mnist
    os.symlink(out, tmp_path / 'data')
    monkeypatch.chdir(tmp_path)
    for name in ('lenet_baseline.prototxt', 'lenet_blank_square.prototxt'):
        shutil.copy(EXAMPLE / name, tmp_path / name)

    def initial_weights(name, seed):
        caffe.set_random_seed(seed)
        net = caffe.Net(name, caffe.TRAIN)
        return {layer: [p.data.copy() for p in params] for layer, params in net.params.items()}

    try:
        caffe.set_mode_cpu()
        baseline = initial_weights('lenet_baseline.prototxt', 5)
        occluded = initial_weights('lenet_blank_square.prototxt', 5)
        other_seed = initial_weights('lenet_baseline.prototxt', 6)
    finally:
        caffe.set_random_seed(1701)
    assert list(baseline) == list(occluded) == ['conv1', 'conv2', 'ip1', 'ip2']
    for layer in baseline:
        for ours, theirs in zip(baseline[layer], occluded[layer]):
            np.testing.assert_array_equal(ours, theirs, err_msg=layer)
    assert not np.array_equal(baseline['conv1'][0], other_seed['conv1'][0])


# What `caffe time` prints, with glog's prefix (old and new glog), without it
# (GLOG_log_prefix=0), and with colour codes.
TIME_LOG = """\
I1123 10:36:41.307619 12345 caffe.cpp:397] Average time per layer:
I1123 10:36:41.307620 12345 caffe.cpp:400]      mnist\tforward: 0.8512 ms.
I1123 10:36:41.307621 12345 caffe.cpp:403]      mnist\tbackward: 0.0012 ms.
I1123 10:36:41.307622 12345 caffe.cpp:400]    occlude\tforward: 0.00425 ms.
I1123 10:36:41.307623 12345 caffe.cpp:403]    occlude\tbackward: 0.0031 ms.
I1123 10:36:41.307624 12345 caffe.cpp:400]      conv1\tforward: 1.5 ms.
I1123 10:36:41.307625 12345 caffe.cpp:403]      conv1\tbackward: 2.25 ms.
I1123 10:36:41.307626 12345 caffe.cpp:408] Average Forward pass: 12.5 ms.
I1123 10:36:41.307627 12345 caffe.cpp:410] Average Backward pass: 18.5 ms.
I1123 10:36:41.307628 12345 caffe.cpp:412] Average Forward-Backward: 31.25 ms.
"""
TRAIN_LOG = """\
I1123 10:36:41.3 1 solver.cpp:243] Iteration 0, loss = 2.3
I1123 10:36:41.4 1 solver.cpp:259]     Train net output #0: loss = 2.3 (* 1 = 2.3 loss)
I1123 10:36:41.5 1 solver.cpp:330] Iteration 100, Testing net (#0)
I1123 10:36:41.6 1 solver.cpp:397]     Test net output #0: accuracy = 0.91
I1123 10:36:41.7 1 solver.cpp:397]     Test net output #1: loss = 0.3 (* 1 = 0.3 loss)
I1123 10:36:41.8 1 solver.cpp:218] Iteration 100 (120.5 iter/s, 0.83s/100 iters), loss = 0.25
"""


def log_variants(text):
    yield text
    yield re.sub(r'(?m)^I1123 ', 'I20261123 ', text)   # glog 0.7: year in the date
    yield re.sub(r'(?m)^I[^\]]*\] ', '', text)          # GLOG_log_prefix=0
    yield re.sub(r'(?m)^(.*)$', '\x1b[0m\\1\x1b[0m', text).replace('\n', '\r\n')


@pytest.mark.parametrize('variant', range(4))
def test_driver_reads_caffe_time_logs_in_every_glog_format(variant):
    text = list(log_variants(TIME_LOG))[variant]
    assert occlusion.parse_layer_times(text, 'occlude') == (0.00425, 0.0031)
    assert occlusion.parse_layer_times(text, 'conv1') == (1.5, 2.25)
    assert occlusion.parse_iteration_ms(text) == 31.25
    with pytest.raises(ValueError, match="no per-layer times of layer 'ip9'"):
        occlusion.parse_layer_times(text, 'ip9')


@pytest.mark.parametrize('variant', range(4))
def test_driver_reads_training_logs_in_every_glog_format(variant):
    text = list(log_variants(TRAIN_LOG))[variant]
    losses, accuracy = occlusion.parse_training_log(text)
    assert losses == [(100, 0.25)]
    assert accuracy == [(100, 0.91)]


def test_driver_reports_a_missing_line():
    with pytest.raises(ValueError, match='Average Forward-Backward'):
        occlusion.parse_iteration_ms('I1123 10:36:41.3 1 caffe.cpp:1] nothing here\n')


def test_driver_gets_caffe_info_lines_whatever_glog_variables_say(tmp_path, monkeypatch):
    # A user's environment that would hide or move every INFO line.
    for name, value in (('GLOG_minloglevel', '3'), ('GLOG_logtostderr', '0'),
                        ('GLOG_stderrthreshold', '3'), ('GLOG_log_prefix', '0'),
                        ('GLOG_log_dir', str(tmp_path))):
        monkeypatch.setenv(name, value)
    (tmp_path / 'net.prototxt').write_text("""
layer { name: "data" type: "Input" top: "data"
        input_param { shape { dim: 4 dim: 1 dim: 8 dim: 8 } } }
layer { name: "occlude" type: "BlankSquare" bottom: "data" top: "data" }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
        inner_product_param { num_output: 2 weight_filler { type: "xavier" } } }
layer { name: "loss" type: "Reduction" bottom: "ip" top: "loss" }
""")
    caffe_bin = os.environ.get('CAFFE_BIN', 'caffe')
    text = occlusion.run([caffe_bin, 'time', '--model', 'net.prototxt', '--iterations', '3'],
                         cwd=tmp_path)
    forward, backward = occlusion.parse_layer_times(text, 'occlude')
    assert forward >= 0 and backward >= 0
    assert occlusion.parse_iteration_ms(text) >= 0  # a tiny net: may round to 0 ms


def test_a_failing_step_names_its_command_and_shows_its_last_lines(tmp_path):
    caffe_bin = os.environ.get('CAFFE_BIN', 'caffe')
    missing = tmp_path / 'missing.prototxt'
    with pytest.raises(SystemExit) as failure:
        occlusion.run([caffe_bin, 'time', '--model', str(missing)])
    message = str(failure.value)
    assert f'{caffe_bin} time --model {missing} failed (status' in message
    assert 'missing.prototxt' in message.split('last lines:')[1]


@pytest.mark.parametrize('native, prototype, words', [
    (0.01, 0.05, '5.0x faster than the prototype'),
    (0.05, 0.01, '5.0x slower than the prototype'),
    (0.02, 0.0204, 'as fast as the prototype'),
    (0.0204, 0.02, 'as fast as the prototype'),
    (0.02, 0.0212, '1.1x faster than the prototype'),
    (0.0, 0.02, 'too fast to compare')])
def test_speed_sentence_never_calls_a_slowdown_faster(native, prototype, words):
    assert occlusion.speed_sentence(native, prototype).startswith(words)


def test_mean_and_spread():
    assert occlusion.mean_spread([0.5, 0.7, 0.9]) == pytest.approx((0.7, 0.2))
    assert occlusion.mean_spread([0.5]) == (0.5, 0.0)


@pytest.mark.lmdb
def test_short_end_to_end_run_without_then_with_matplotlib(mnist, tmp_path):
    raw, *_ = mnist
    work = tmp_path / 'study'
    # matplotlib that cannot be imported, and GLOG variables that would hide
    # caffe's INFO lines from a driver that did not switch them on.
    blocker = tmp_path / 'no_matplotlib' / 'matplotlib'
    blocker.mkdir(parents=True)
    (blocker / '__init__.py').write_text('raise ImportError("matplotlib blocked by the test")\n')
    env = dict(os.environ, GLOG_minloglevel='2', GLOG_log_prefix='0',
               PYTHONPATH=os.pathsep.join([str(blocker.parent),
                                           os.environ.get('PYTHONPATH', '')]))
    result = subprocess.run([sys.executable, str(EXAMPLE / 'occlusion.py'), '--work', str(work),
                             '--iters', '6', '--seeds', '2', '--time-runs', '2',
                             '--time-iters', '2', '--map-images', '40', '--map-stride', '7',
                             '--mnist-dir', str(raw), '--holdout', '100'],
                            capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = (work / 'summary.md').read_text()
    assert summary.strip().splitlines()[0] in result.stdout
    assert result.stdout.index('| LeNet + BlankSquare |') < result.stdout.index(
        'matplotlib is not installed')
    assert 'pip install matplotlib' in result.stdout and '--figures-only' in result.stdout
    assert 'seeds 1701, 1702' in summary
    if 'Python' in caffe.layer_type_list():
        assert 'BlankSquare (Python prototype)' in summary
    else:
        assert 'built without Python layers' in summary
    assert not any((work / name).exists() for name in occlusion.FIGURES)
    rows = (work / 'sensitivity_map.csv').read_text().splitlines()
    assert rows[0].startswith('square_top,square_left,baseline_mean,baseline_std,')
    assert [tuple(map(int, row.split(',')[:2])) for row in rows[1:]] == [
        (top, left) for top in (0, 7, 14) for left in (0, 7, 14)]
    for seed in (1701, 1702):
        assert 'Iteration 6' in (work / f'train_blank_square_seed{seed}.log').read_text()

    # scripts/setup installs matplotlib; an interpreter without it (the GPU
    # machines' bundle) has had the run without figures checked above.
    pytest.importorskip('matplotlib', reason='matplotlib is not installed: figures not drawn')
    result = subprocess.run([sys.executable, str(EXAMPLE / 'occlusion.py'), '--work', str(work),
                             '--figures-only'], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for figure in occlusion.FIGURES:
        assert (work / figure).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n', figure
