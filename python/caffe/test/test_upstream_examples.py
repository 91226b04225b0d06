"""Upstream's examples beyond its training scripts: the notebooks, cell by
cell as Jupyter runs them, from a copy of their folders laid out as
$CAFFE_ROOT is (their `sys.path.insert(0, caffe_root + 'python')` finds the
merged package, linked to the build): 01-learning-lenet and the siamese
embedding (patches/0050-lenet-and-siamese-notebooks-python-3.patch),
00-classification (patches/0051-classification-notebook-python-3.patch),
net_surgery (patches/0052-net-surgery-notebook-python-3.patch),
02-fine-tuning (patches/0055-fine-tuning-notebook-python-3.patch, with the
fork's examples/finetune_flickr_style/assemble_data.py) and the PASCAL
multilabel data layer's (patches/0056-pascal-multilabel-notebook-python-3.patch);
fine-tuning from the command line as examples/finetune_flickr_style/readme.md
says; the C++ classification example's command; the web demo
(patches/0053-web-demo-python-3.patch) through Flask's test client. Data is
synthetic; what the examples download (CaffeNet's weights, ImageNet's
labels, mean and bet file, Flickr Style's images) are stand-ins of the same
shapes, fetched from file:// URLs where the examples fetch them.
"""
import gzip
import json
import pickle
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

import caffe
from conftest import build_option
from tutorials import (PASCAL_CLASSES, caffe_root, run, shorten_solver, sha1,
                       tutorial_root, write_pascal, write_synthetic_mnist)


# IPython expands a `!` line before the shell sees it: {expression} and
# $name from the notebook's namespace, $$ for a dollar; where that fails it
# runs the line as written.
NOTEBOOK_SHELL = r'''
def __notebook_shell(command, namespace):
    import re, subprocess
    try:
        expanded = re.sub(r'\{([^{}]+)\}', lambda m: str(eval(m.group(1), namespace)), command)
        expanded = re.sub(r'\$\$|\$([A-Za-z_]\w*)',
                          lambda m: str(namespace[m.group(1)]) if m.group(1) else '$', expanded)
    except Exception:
        expanded = command
    subprocess.run(expanded, shell=True)
'''


def run_notebook(notebook, cwd, epilogue='', stop_before=None, replace=None, env=None):
    """Runs a notebook's code cells in order as one Python process started
    in `cwd`, as Jupyter's kernel runs them: `!command` lines (with their
    backslash continuations) through the shell in the working directory of
    the moment, after IPython's expansion (their exit status ignored, as
    Jupyter ignores it: net_surgery shows a `diff`), IPython's magics
    (%matplotlib inline, %timeit) left out, figures drawn by Agg; up to the
    first cell holding `stop_before`, then `epilogue`. `replace` maps text
    of the cells, each of which must be there, to what runs instead (fewer
    iterations, smaller batches); `env` adds to its environment. Returns
    what it printed."""
    sources = [''.join(cell['source']) for cell in json.loads(Path(notebook).read_text())['cells']
               if cell['cell_type'] == 'code']
    for old in replace or {}:
        assert any(old in source for source in sources), f'{notebook} has no {old!r}'
    lines = [NOTEBOOK_SHELL]
    for source in sources:
        if stop_before and stop_before in source:
            break
        for old, new in (replace or {}).items():
            source = source.replace(old, new)
        source_lines = iter(source.splitlines())
        for line in source_lines:
            code = line.lstrip()
            indent = line[:len(line) - len(code)]
            if code.startswith('!'):
                while code.endswith('\\'):
                    code = code[:-1] + ' ' + next(source_lines).strip()
                lines.append(f'{indent}__notebook_shell({code[1:]!r}, globals())')
            elif not code.startswith('%'):
                lines.append(line)
    path = Path(cwd) / '.notebook.py'
    path.write_text('\n'.join(lines) + '\n' + epilogue)
    return run(cwd, sys.executable, str(path), env=dict(env or {}, MPLBACKEND='Agg')).stdout


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


def flickr_style_stand_in(root, tmp_path):
    """examples/finetune_flickr_style/flickr_style.csv.gz laid out as Flickr
    Style's list (index, image_url, page_url, label, _split) with file://
    URLs: six images of each of the first five styles and one of each of
    five others, a URL that leads nowhere and a file that is no image.
    Returns the lines assemble_data.py must write for the first five styles
    (train.txt's and test.txt's)."""
    from PIL import Image
    folder = tmp_path / 'flickr'
    folder.mkdir()
    rng = np.random.default_rng(6)
    rows, expected = [], {'train': [], 'test': []}
    images = root / 'data' / 'flickr_style' / 'images'
    for i, label in enumerate([k for k in range(5) for _ in range(6)] + list(range(5, 10))):
        split = 'test' if i % 3 == 2 else 'train'
        name = f'{7000 + i}_0123abcd.jpg'
        Image.fromarray(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)).save(folder / name)
        rows.append(((folder / name).as_uri(), label, split))
        if label < 5:
            expected[split].append(f'{images / name} {label}')
    (folder / 'broken_0123abcd.jpg').write_text('<html>Not Found</html>')
    rows += [((folder / 'gone_0123abcd.jpg').as_uri(), 0, 'train'),
             ((folder / 'broken_0123abcd.jpg').as_uri(), 1, 'test')]
    with gzip.open(root / 'examples/finetune_flickr_style/flickr_style.csv.gz', 'wt') as f:
        f.write(',image_url,page_url,label,_split\n')
        for i, (url, label, split) in enumerate(rows):
            f.write(f'{i},{url},https://www.flickr.com/photos/{i},{label},{split}\n')
    return expected


@pytest.mark.opencv
def test_fine_tuning_notebook(tmp_path, caffenet_stand_ins):
    # Its first cells fetch ImageNet's auxiliary files, CaffeNet's weights
    # and Flickr Style's images: stand-ins, through the notebook's own
    # commands. It then trains a style classifier on CaffeNet's features
    # (its convolutions frozen), from CaffeNet and from scratch, then the
    # whole net; 3 iterations of batches of 10 here, not 200 of 50.
    root = tutorial_root(tmp_path / 'root', 'examples/finetune_flickr_style',
                         'models/bvlc_reference_caffenet', 'models/finetune_flickr_style')
    shutil.copy2(caffe_root() / 'examples' / '02-fine-tuning.ipynb', root / 'examples')
    (root / 'data' / 'ilsvrc12').mkdir()
    shutil.copy2(caffe_root() / 'data/ilsvrc12/get_ilsvrc_aux.sh', root / 'data' / 'ilsvrc12')
    (root / 'scripts').mkdir()
    shutil.copy2(caffe_root() / 'scripts/download_model_binary.py', root / 'scripts')
    aux = tmp_path / 'caffe_ilsvrc12.tar.gz'
    with tarfile.open(aux, 'w:gz') as tar:
        for name in ('synset_words.txt', 'imagenet_mean.binaryproto'):
            tar.add(caffenet_stand_ins / name, arcname=name)
    weights = caffenet_stand_ins / 'bvlc_reference_caffenet.caffemodel'
    readme = root / 'models/bvlc_reference_caffenet/readme.md'
    readme.write_text(re.sub(r'^caffemodel_url: .*$', f'caffemodel_url: {weights.as_uri()}',
                             re.sub(r'^sha1: .*$', f'sha1: {sha1(weights)}',
                                    readme.read_text(), flags=re.M), flags=re.M))
    expected = flickr_style_stand_in(root, tmp_path)
    output = run_notebook(
        root / 'examples' / '02-fine-tuning.ipynb', root / 'examples',
        replace={'niter = 200': 'niter = 3', 'batch_size=50': 'batch_size=10',
                 'test_iters=10': 'test_iters=2'},
        env={'ILSVRC12_AUX_URL': aux.as_uri()},
        epilogue='frozen = caffe.Net(style_net(train=False), style_weights, caffe.TEST)\n'
                 'before = imagenet_net.params["conv1"][0].data\n'
                 'print("conv1 kept:", np.array_equal(frozen.params["conv1"][0].data, before))\n'
                 'print("conv1 tuned:", '
                 'not np.array_equal(test_net.params["conv1"][0].data, before))\n')
    # What the notebook's commands fetched and wrote.
    assert sha1(root / 'models/bvlc_reference_caffenet/bvlc_reference_caffenet.caffemodel') \
        == sha1(weights)
    assert (root / 'data/ilsvrc12/synset_words.txt').exists()
    assert 'Downloading 32 images with ' in output
    assert re.search(r'^2 of 32 images could not be used, e\.g\. file://', output, re.M), output
    assert 'Writing train/val for 30 successfully downloaded images.' in output
    for split, lines in expected.items():
        written = (root / f'data/flickr_style/{split}.txt').read_text().splitlines()
        assert sorted(written) == sorted(lines), split
    assert not (root / 'data/flickr_style/images/broken_0123abcd.jpg').exists()
    # Then the notebook itself.
    assert 'Loaded style labels:\nDetailed, Pastel, Melancholy, Noir, HDR' in output
    assert 'top 5 predicted ImageNet labels =' in output
    assert 'top 5 predicted style labels =' in output
    assert output.count('Running solvers for 3 iterations...') == 2, output
    losses = re.findall(r'^  2\) pretrained: loss=(\S+), acc=\s*\d+%; '
                        r'scratch: loss=(\S+), acc=\s*\d+%$', output, re.M)
    assert len(losses) == 1 and all(np.isfinite(float(v)) for v in losses[0]), output
    for when in ('trained from ImageNet', 'trained from   random',
                 'finetuned from ImageNet', 'finetuned from   random'):
        assert re.search(rf'^Accuracy, {when} initialization: \d+\.\d%$', output, re.M), output
    # The first training kept CaffeNet's convolutions; the second tuned them.
    assert 'conv1 kept: True' in output and 'conv1 tuned: True' in output
    if build_option('CPU_ONLY') == 'ON':
        assert ('caffe.set_device(0): this Caffe was built CPU-only (without CUDA); use '
                'caffe.set_mode_cpu() -- running on the CPU') in output


@pytest.mark.opencv
def test_fine_tuning_from_the_command_line(tmp_path, caffenet_stand_ins):
    # examples/finetune_flickr_style/readme.md: assemble_data.py, then
    # `caffe train -weights` from CaffeNet's (stand-in) weights, on the CPU
    # ("leaving out the -gpu flag"); 2 iterations of batches of 10.
    root = tutorial_root(tmp_path / 'root', 'examples/finetune_flickr_style',
                         'models/bvlc_reference_caffenet', 'models/finetune_flickr_style')
    pretrained = root / 'models/bvlc_reference_caffenet/bvlc_reference_caffenet.caffemodel'
    pretrained.symlink_to(caffenet_stand_ins / 'bvlc_reference_caffenet.caffemodel')
    (root / 'data' / 'ilsvrc12').mkdir()
    shutil.copy2(caffenet_stand_ins / 'imagenet_mean.binaryproto', root / 'data' / 'ilsvrc12')
    flickr_style_stand_in(root, tmp_path)
    output = run(root, sys.executable, 'examples/finetune_flickr_style/assemble_data.py',
                 '--workers=-1', '--images=2000', '--seed', '831486').stdout
    assert 'Writing train/val for 35 successfully downloaded images.' in output, output
    model = root / 'models' / 'finetune_flickr_style'
    shorten_solver(model / 'solver.prototxt', test_iter=1, test_interval=2, display=1,
                   max_iter=2, snapshot=2)
    train_val = model / 'train_val.prototxt'
    assert train_val.read_text().count('batch_size: 50') == 2
    train_val.write_text(train_val.read_text().replace('batch_size: 50', 'batch_size: 10'))
    log = run(root, './build/tools/caffe', 'train', '-solver', str(model / 'solver.prototxt'),
              '-weights', 'models/bvlc_reference_caffenet/bvlc_reference_caffenet.caffemodel'
              ).stderr
    assert 'Finetuning from models/bvlc_reference_caffenet/bvlc_reference_caffenet.caffemodel' \
        in log
    assert 'Ignoring source layer fc8\n' in log, log  # fc8_flickr is new
    assert re.search(r'Iteration 2, Testing net \(#0\)\n.*Test net output #0: accuracy = ',
                     log), log
    # CaffeNet's layers start from its weights (a step of 0.001 moves them
    # little; a new draw of their fillers would differ by about 0.01); the
    # new classifier has the 20 styles.
    tuned = caffe.Net(str(model / 'deploy.prototxt'),
                      str(model / 'finetune_flickr_style_iter_2.caffemodel'), caffe.TEST)
    before = caffe.Net(str(root / 'models/bvlc_reference_caffenet/deploy.prototxt'),
                       str(pretrained), caffe.TEST)
    for layer in ('conv1', 'fc7'):
        change = np.abs(tuned.params[layer][0].data - before.params[layer][0].data).max()
        assert 0 < change < 1e-3, (layer, change)
    assert tuned.params['fc8_flickr'][0].data.shape == (20, 4096)


@pytest.mark.python_layer
def test_pascal_multilabel_notebook(tmp_path, caffenet_stand_ins):
    # CaffeNet fed by the notebook's Python data layer, on a PASCAL VOC
    # folder of 8 training and 5 validation images: batches of 5 (its last
    # cell shows 5 images of one), 2 iterations between checks, not 128 and
    # 100.
    root = caffenet_root(tmp_path, caffenet_stand_ins)
    shutil.copytree(caffe_root() / 'examples' / 'pycaffe', root / 'examples' / 'pycaffe')
    shutil.copy2(caffe_root() / 'examples' / 'pascal-multilabel-with-datalayer.ipynb',
                 root / 'examples')
    train = {f'2008_{i:06d}': [PASCAL_CLASSES[i], PASCAL_CLASSES[19 - i]] for i in range(8)}
    val = {'2009_000001': ['dog', 'person'], '2009_000002': ['car'],
           '2009_000003': ['cat', 'cat', 'tvmonitor'], '2009_000004': ['bird'],
           '2009_000005': ['horse', 'person', 'dog']}
    write_pascal(root / 'data/pascal/VOC2012', {'train': train, 'val': val}, size=(60, 80))
    output = run_notebook(
        root / 'examples' / 'pascal-multilabel-with-datalayer.ipynb', root / 'examples',
        replace={'batch_size = 128': 'batch_size = 5', 'range(6)': 'range(2)',
                 'solver.step(100)': 'solver.step(2)',
                 'check_accuracy(solver.test_nets[0], 50)': 'check_accuracy(solver.test_nets[0], 2)',
                 '5823//128': '3'})
    accuracies = re.findall(r'^itt:(\d+) accuracy:([0-9.]+)$', output, re.M)
    assert [itt for itt, _ in accuracies] == ['100', '200'], output
    assert all(0 <= float(a) <= 1 for _, a in accuracies), output
    # Saying "no class" everywhere: each batch holds the 5 validation images
    # (the layer shuffles them each epoch), which have 2, 1, 2, 1 and 3 of
    # the 20 classes.
    assert 'Baseline accuracy:0.9100' in output, output
    assert (root / 'examples/pascal_multilabel_with_datalayer/solver.prototxt').exists()


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
