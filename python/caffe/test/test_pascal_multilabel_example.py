"""The Python data layer of examples/pascal-multilabel-with-datalayer.ipynb
(examples/pycaffe/layers/pascal_multilabel_datalayers.py,
patches/0043-pascal-multilabel-example-python-3.patch) on a tiny
PASCAL-style folder: each image arrives resized, in BGR less the mean, with
the classes its annotation names."""
import os
import sys

import numpy as np
import pytest

import caffe
from tutorials import PASCAL_CLASSES, write_pascal

pytestmark = pytest.mark.python_layer  # conftest.py skips it without them

# Image index -> the classes of its objects (one twice).
IMAGES = {'2007_000001': ['dog', 'person'], '2007_000002': ['car'],
          '2007_000003': ['cat', 'cat', 'tvmonitor']}

NET = '''name: "pascal"
layer {{ name: "data" type: "Python" top: "data" top: "label"
  python_param {{ module: "pascal_multilabel_datalayers"
    layer: "PascalMultilabelDataLayerSync"
    param_str: "{{'split': 'train', 'pascal_root': '{root}', 'im_shape': [24, 32], 'batch_size': 3}}" }} }}
'''


@pytest.fixture
def example_path():
    root = os.environ.get('CAFFE_ROOT')
    if not root:
        pytest.skip('CAFFE_ROOT (env.sh) names no Caffe tree')
    folders = [os.path.join(root, 'examples', 'pycaffe', 'layers'),
               os.path.join(root, 'examples', 'pycaffe')]
    sys.path[:0] = folders
    yield
    for folder in folders:
        sys.path.remove(folder)


def test_layer_reads_images_and_their_classes(example_path, tmp_path):
    Image = pytest.importorskip('PIL.Image')
    pytest.importorskip('skimage')
    write_pascal(tmp_path, {'train': IMAGES})
    # Lossless JPEG is not a thing: compare with what the decoder gives back.
    pictures = {index: Image.open(tmp_path / 'JPEGImages' / f'{index}.jpg').convert('RGB')
                for index in IMAGES}
    prototxt = tmp_path / 'net.prototxt'
    prototxt.write_text(NET.format(root=tmp_path))

    caffe.set_mode_cpu()
    net = caffe.Net(str(prototxt), caffe.TRAIN)
    net.forward()
    assert net.blobs['data'].data.shape == (3, 3, 24, 32)
    assert net.blobs['label'].data.shape == (3, 20)
    for row, (index, names) in enumerate(IMAGES.items()):
        expected = np.zeros(20, np.float32)
        expected[[PASCAL_CLASSES.index(n) for n in set(names)]] = 1
        np.testing.assert_array_equal(net.blobs['label'].data[row], expected, err_msg=index)
        # Resized (width 32, height 24), BGR, less 128, maybe mirrored.
        resized = np.asarray(pictures[index].resize((32, 24), Image.BILINEAR), np.float32)
        bgr = (resized[:, :, ::-1] - 128).transpose(2, 0, 1)
        data = net.blobs['data'].data[row]
        assert (np.array_equal(data, bgr) or np.array_equal(data, bgr[:, :, ::-1])), index
