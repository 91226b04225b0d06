"""Caffe's classic data pipeline through its command-line tools, as a user
runs it: image files -> convert_imageset -> LMDB -> compute_image_mean ->
`caffe train` with the mean file -> extract_features -> LMDB of features,
which a Data layer reads back. Each step is checked against what NumPy or
pycaffe computes from the same inputs."""
import os
import subprocess

import numpy as np
import pytest

import caffe
from caffe.proto import caffe_pb2

pytestmark = [pytest.mark.lmdb, pytest.mark.opencv]

SIZE = 16
LABELS = [0, 1, 2, 0, 1, 2]

NET = '''name: "pipeline"
layer {{ name: "data" type: "Data" top: "data" top: "label"
  transform_param {{ mean_file: "mean.binaryproto" scale: 0.0078125 }}
  data_param {{ source: "images_db" batch_size: 3 backend: LMDB }} }}
layer {{ name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
  inner_product_param {{ num_output: 3 weight_filler {{ type: "xavier" }} }} }}
{loss}
'''
LOSS = '''layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }'''

SOLVER = '''net: "train.prototxt"
base_lr: 0.01
lr_policy: "fixed"
max_iter: 4
display: 1
snapshot: 4
snapshot_prefix: "model"
random_seed: 1
solver_mode: CPU
'''


def run(args, cwd):
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, GLOG_logtostderr='1'))
    assert result.returncode == 0, result.stderr[-3000:]


def test_images_to_features(tmp_path, build_tool):
    skimage_io = pytest.importorskip('skimage.io')
    rng = np.random.default_rng(1701)
    images = rng.integers(0, 256, (len(LABELS), SIZE, SIZE, 3), dtype=np.uint8)
    with open(tmp_path / 'list.txt', 'w') as f:
        for i, (image, label) in enumerate(zip(images, LABELS)):
            skimage_io.imsave(str(tmp_path / f'image{i}.png'), image, check_contrast=False)
            f.write(f'image{i}.png {label}\n')

    run([build_tool('convert_imageset'), '--backend=lmdb', './', 'list.txt', 'images_db'],
        tmp_path)
    run([build_tool('compute_image_mean'), '--backend=lmdb', 'images_db', 'mean.binaryproto'],
        tmp_path)
    blob = caffe_pb2.BlobProto()
    blob.ParseFromString((tmp_path / 'mean.binaryproto').read_bytes())
    mean = caffe.io.blobproto_to_array(blob)[0]
    # OpenCV reads BGR; Caffe stores channels first.
    bgr = images[..., ::-1].transpose(0, 3, 1, 2).astype(np.float64)
    np.testing.assert_allclose(mean, bgr.mean(axis=0), rtol=1e-6)

    (tmp_path / 'train.prototxt').write_text(NET.format(loss=LOSS))
    (tmp_path / 'features.prototxt').write_text(NET.format(loss=''))
    (tmp_path / 'solver.prototxt').write_text(SOLVER)
    run([build_tool('caffe'), 'train', '--solver', 'solver.prototxt'], tmp_path)
    weights = tmp_path / 'model_iter_4.caffemodel'
    assert weights.is_file()

    # Both batches through pycaffe: the data layer subtracts the mean and
    # scales, the trained weights do the rest.
    caffe.set_mode_cpu()
    cwd = os.getcwd()
    os.chdir(tmp_path)  # the nets name their files relative to it
    try:
        net = caffe.Net('features.prototxt', str(weights), caffe.TEST)
        batches = []
        for _ in range(2):
            net.forward()
            batches.append(net.blobs['data'].data.copy())
        expected_data = (bgr - mean) * 0.0078125
        np.testing.assert_allclose(np.concatenate(batches), expected_data, atol=1e-6)
        w, b = (p.data for p in net.params['ip'])
        expected = expected_data.reshape(len(LABELS), -1) @ w.T + b

        run([build_tool('extract_features'), str(weights), 'features.prototxt', 'ip',
             'features_db', '2', 'lmdb', 'CPU'], tmp_path)
        # The features as a Data layer reads them (float data, 3 x 1 x 1).
        (tmp_path / 'read.prototxt').write_text(
            'layer { name: "f" type: "Data" top: "f" top: "l" '
            'data_param { source: "features_db" batch_size: 6 backend: LMDB } }')
        features = caffe.Net('read.prototxt', caffe.TEST)
        features.forward()
    finally:
        os.chdir(cwd)
    np.testing.assert_allclose(features.blobs['f'].data.reshape(len(LABELS), -1), expected,
                               rtol=1e-4, atol=1e-5)
