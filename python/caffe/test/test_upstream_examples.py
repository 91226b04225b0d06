"""Upstream's examples beyond its training scripts: the notebooks, cell by
cell as Jupyter runs them, from a copy of their folders laid out as
$CAFFE_ROOT is (their `sys.path.insert(0, caffe_root + 'python')` finds the
merged package, linked to the build): 01-learning-lenet and the siamese
embedding (patches/0050), 00-classification (0051), net_surgery (0052);
the C++ classification example's command; the web demo (0053) through
Flask's test client. Data is synthetic; CaffeNet's weights and ImageNet's
labels, mean and bet file, which are downloads, are stand-ins of the same
shapes.
"""
import json
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import caffe
from conftest import build_option
from tutorials import caffe_root, run, shorten_solver, tutorial_root, write_synthetic_mnist


def run_notebook(notebook, cwd, epilogue='', stop_before=None):
    """Runs a notebook's code cells in order as one Python process started
    in `cwd`, as Jupyter's kernel runs them: `!command` lines through the
    shell in the working directory of the moment (their exit status
    ignored, as Jupyter ignores it: net_surgery shows a `diff`), IPython's magics
    (%matplotlib inline, %timeit) left out, figures drawn by Agg; up to the
    first cell holding `stop_before`, then `epilogue`. Returns what it
    printed."""
    lines = []
    for cell in json.loads(Path(notebook).read_text())['cells']:
        if cell['cell_type'] != 'code':
            continue
        if stop_before and stop_before in ''.join(cell['source']):
            break
        for line in ''.join(cell['source']).splitlines():
            code = line.lstrip()
            indent = line[:len(line) - len(code)]
            if code.startswith('!'):
                lines.append(f'{indent}__import__("subprocess").run({code[1:]!r}, shell=True)')
            elif not code.startswith('%'):
                lines.append(line)
    script = Path(cwd) / '.notebook.py'
    script.write_text('\n'.join(lines) + '\n' + epilogue)
    return run(cwd, sys.executable, str(script), env={'MPLBACKEND': 'Agg'}).stdout


@pytest.mark.lmdb
def test_learning_lenet_notebook(tmp_path):
    # The notebook's own cells download MNIST (data/mnist/get_mnist.sh keeps
    # the files it finds) and convert it (create_mnist.sh), define LeNet and
    # its solver with NetSpec, train it with pycaffe for 200 iterations and
    # test it by hand, then a logistic regression for 250.
    root = tutorial_root(tmp_path, 'examples/mnist', 'data/mnist')
    shutil.copy2(caffe_root() / 'examples' / '01-learning-lenet.ipynb', root / 'examples')
    write_synthetic_mnist(root / 'data' / 'mnist')
    output = run_notebook(root / 'examples' / '01-learning-lenet.ipynb', root / 'examples',
                          epilogue='print("accuracy:", test_acc[-1])\n')
    if build_option('CPU_ONLY') == 'ON':
        assert ('caffe.set_device(0): this Caffe was built CPU-only (without CUDA); use '
                'caffe.set_mode_cpu() -- training on the CPU') in output
    assert output.count('testing...') == 8 + 10
    assert (root / 'examples/mnist/lenet_auto_train.prototxt').exists()
    # The logistic regression's last accuracy over 10,000 test images (the
    # 500 synthetic ones, 20 times): the bands are linearly separable.
    accuracy = float(re.search(r'^accuracy: ([0-9.]+)$', output, re.M).group(1))
    assert accuracy > 0.9, output[-2000:]


@pytest.mark.leveldb
def test_siamese_notebook_plots_the_trained_embedding(tmp_path):
    # It reads the 10,000 images of MNIST's test split, and the weights of
    # iteration 50,000 of the siamese tutorial: trained here for 20
    # iterations, under the name the notebook loads.
    root = tutorial_root(tmp_path, 'examples/siamese', 'data/mnist')
    write_synthetic_mnist(root / 'data' / 'mnist', test_count=10000)
    run(root, './examples/siamese/create_mnist_siamese.sh')
    siamese = root / 'examples' / 'siamese'
    shorten_solver(siamese / 'mnist_siamese_solver.prototxt', max_iter=20,
                   test_interval=20, test_iter=2, snapshot=20, solver_mode='CPU')
    run(root, './examples/siamese/train_mnist_siamese.sh')
    (siamese / 'mnist_siamese_iter_50000.caffemodel').symlink_to('mnist_siamese_iter_20.caffemodel')
    output = run_notebook(siamese / 'mnist_siamese.ipynb', siamese,
                          epilogue='print("features:", feat.shape, np.isfinite(feat).all())\n')
    assert 'features: (10000, 2) True' in output


@pytest.fixture(scope='module')
def caffenet_stand_ins(tmp_path_factory):
    """What scripts/download_model_binary.py models/bvlc_reference_caffenet
    and data/ilsvrc12/get_ilsvrc_aux.sh download (CaffeNet's weights, 233 MB;
    ImageNet's labels and mean), as stand-ins of the same shapes: random
    weights, 1000 labels, the mean of python/caffe/imagenet."""
    folder = tmp_path_factory.mktemp('caffenet')
    net = caffe.Net(str(caffe_root() / 'models/bvlc_reference_caffenet/deploy.prototxt'),
                    caffe.TEST)
    rng = np.random.default_rng(4)
    for blobs in net.params.values():
        for blob in blobs:
            blob.data[...] = rng.normal(0, 0.01, blob.data.shape)
    net.save(str(folder / 'bvlc_reference_caffenet.caffemodel'))
    del net
    (folder / 'synset_words.txt').write_text(
        ''.join(f'n{i:08d} class {i}, stand-in\n' for i in range(1000)))
    mean = np.load(caffe_root() / 'python/caffe/imagenet/ilsvrc_2012_mean.npy')
    (folder / 'imagenet_mean.binaryproto').write_bytes(
        caffe.io.array_to_blobproto(mean[np.newaxis]).SerializeToString())
    return folder


def caffenet_root(tmp_path, stand_ins):
    root = tutorial_root(tmp_path, 'examples/images', 'models/bvlc_reference_caffenet')
    (root / 'models/bvlc_reference_caffenet/bvlc_reference_caffenet.caffemodel').symlink_to(
        stand_ins / 'bvlc_reference_caffenet.caffemodel')
    (root / 'data' / 'ilsvrc12').mkdir()
    for name in ('synset_words.txt', 'imagenet_mean.binaryproto'):
        shutil.copy2(stand_ins / name, root / 'data' / 'ilsvrc12')
    return root


def test_classification_notebook(tmp_path, caffenet_stand_ins):
    # With stand-ins of the downloads, where the notebook looks for them; up
    # to the cell that downloads an image from the URL the reader pastes in.
    root = caffenet_root(tmp_path, caffenet_stand_ins)
    shutil.copy2(caffe_root() / 'examples' / '00-classification.ipynb', root / 'examples')
    output = run_notebook(root / 'examples' / '00-classification.ipynb', root / 'examples',
                          stop_before='my_image_url',
                          epilogue='print("top:", labels[top_inds[0]], output_prob.shape)\n')
    assert 'CaffeNet found.' in output
    # ImageNet's mean pixel, BGR (NumPy 2 shows the type of each value).
    assert re.search(r"mean-subtracted values: \[\('B', (np.float64\()?104\.0[0-9]+\)?\), "
                     r"\('G', (np.float64\()?116\.6[0-9]+\)?\), "
                     r"\('R', (np.float64\()?122\.6[0-9]+\)?\)\]", output), output
    assert re.search(r'^predicted class is: \d+$', output, re.M), output
    assert 'conv1\t(50, 96, 55, 55)' in output and 'fc8\t(1000, 4096) (1000,)' in output
    assert re.search(r'^top: n\d{8} class \d+, stand-in \(1000,\)$', output, re.M), output
    if build_option('CPU_ONLY') == 'ON':
        assert ('caffe.set_device(0): this Caffe was built CPU-only (without CUDA); use '
                'caffe.set_mode_cpu()') in output


@pytest.mark.opencv
def test_cpp_classification_example(tmp_path, caffenet_stand_ins):
    # examples/cpp_classification/readme.md's command, as written.
    root = caffenet_root(tmp_path, caffenet_stand_ins)
    output = run(root, './build/examples/cpp_classification/classification.bin',
                 'models/bvlc_reference_caffenet/deploy.prototxt',
                 'models/bvlc_reference_caffenet/bvlc_reference_caffenet.caffemodel',
                 'data/ilsvrc12/imagenet_mean.binaryproto', 'data/ilsvrc12/synset_words.txt',
                 'examples/images/cat.jpg').stdout
    lines = output.splitlines()
    assert lines[0] == '---------- Prediction for examples/images/cat.jpg ----------', output
    top = [re.fullmatch(r'(0\.\d{4}) - "n\d{8} class \d+, stand-in"', line) for line in lines[1:]]
    assert len(top) == 5 and all(top), output
    probabilities = [float(m.group(1)) for m in top]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1


def test_net_surgery_notebook(tmp_path, caffenet_stand_ins):
    # It edits a convolution's filters by hand, then casts CaffeNet's fully
    # connected layers (stand-in weights) as convolutions and runs the
    # result over a larger image: a map of 8x8 predictions.
    root = caffenet_root(tmp_path, caffenet_stand_ins)
    shutil.copytree(caffe_root() / 'examples' / 'net_surgery', root / 'examples' / 'net_surgery')
    shutil.copy2(caffe_root() / 'examples' / 'net_surgery.ipynb', root / 'examples')
    output = run_notebook(
        root / 'examples' / 'net_surgery.ipynb', root / 'examples',
        epilogue='print("transplanted:", all(np.array_equal(conv_params[c][0].ravel(), '
                 'fc_params[f][0].ravel()) for f, c in zip(params, params_full_conv)), '
                 'out["prob"][0].argmax(axis=0).shape)\n')
    # The first filter's bias set to 1 moves its output's mean by 1 (both
    # printed to 2 decimals).
    pre, post = (float(re.search(rf'^{when}-surgery output mean (-?[0-9.]+)$', output,
                                 re.M).group(1)) for when in ('pre', 'post'))
    assert post - pre == pytest.approx(1, abs=0.011), output
    assert 'fc6 weights are (4096, 9216) dimensional and biases are (4096,) dimensional' in output
    assert ('fc6-conv weights are (4096, 256, 6, 6) dimensional and biases are (4096,) '
            'dimensional') in output
    assert 'transplanted: True (8, 8)' in output
    assert (root / 'examples/net_surgery/bvlc_caffenet_full_conv.caffemodel').exists()


WEB_DEMO_SESSION = '''
import app
app.UPLOAD_FOLDER = {uploads!r}
app.app.clf = app.ImagenetClassifier(**dict(app.ImagenetClassifier.default_args,
                                            gpu_mode=False))
client = app.app.test_client()
for name, response in [
        ('index', client.get('/')),
        ('url', client.get('/classify_url', query_string={{'imageurl': {image_url!r}}})),
        ('bad url', client.get('/classify_url', query_string={{'imageurl': 'file:///nowhere.jpg'}})),
        ('upload', client.post('/classify_upload', data={{
            'imagefile': (open({image!r}, 'rb'), 'cat.jpg')}})),
        ]:
    print('==', name, response.status_code)
    print(response.get_data(as_text=True))
'''


def test_web_demo(tmp_path, caffenet_stand_ins):
    # app.py's ImagenetClassifier reads the files get_ilsvrc_aux.sh and the
    # model zoo download; the bet file is a pickle of ImageNet's hierarchy.
    root = caffenet_root(tmp_path, caffenet_stand_ins)
    shutil.copytree(caffe_root() / 'examples' / 'web_demo', root / 'examples' / 'web_demo')
    nodes = 1010  # ImageNet's 1000 leaves and a few of their ancestors
    rng = np.random.default_rng(5)
    bet = {'words': [f'node {i}' for i in range(nodes)],
           'probmat': rng.random((nodes, 1000)), 'idmapping': np.arange(1000),
           'infogain': rng.random(nodes), 'preferences': rng.random(nodes)}
    with open(root / 'data' / 'ilsvrc12' / 'imagenet.bet.pickle', 'wb') as f:
        pickle.dump(bet, f, protocol=2)  # as Python 2 wrote it
    uploads = tmp_path / 'uploads'
    uploads.mkdir()
    image = root / 'examples' / 'images' / 'cat.jpg'
    session = WEB_DEMO_SESSION.format(uploads=str(uploads), image=str(image),
                                      image_url=image.as_uri())
    result = subprocess.run([sys.executable, '-c', session], cwd=root / 'examples' / 'web_demo',
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    pages = dict(part.split('\n', 1) for part in result.stdout.split('== ')[1:])
    assert sorted(pages) == ['bad url 200', 'index 200', 'upload 200', 'url 200'], result.stdout
    assert 'Caffe Demos' in pages['index 200']
    assert 'Cannot open image from URL.' in pages['bad url 200']
    for page in (pages['url 200'], pages['upload 200']):
        assert 'CNN took' in page, page
        # Five labels of each kind: synsets' names, and the hierarchy's.
        assert len(re.findall(r'>class \d+<', page)) == 5, page
        assert len(re.findall(r'>node \d+<', page)) == 5, page
    assert f'src={image.as_uri()}' in pages['url 200']
    assert 'src=data:image/png;base64,' in pages['upload 200']
    assert [p.name.endswith('cat.jpg') for p in uploads.iterdir()] == [True]
