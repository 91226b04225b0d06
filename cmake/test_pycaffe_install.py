"""CTest install.pycaffe: pycaffe installs into a virtual environment.

Makes the wheel (as target pycaffe_wheel does) into a temporary folder,
installs it with pip into a fresh virtual environment, and from a folder
outside the source and build trees, with no PYTHONPATH:
- `import caffe` comes from the environment, with the libcaffe bundled in
  the wheel, and runs a net whose values are checked;
- with Python layers, a Python layer runs in pycaffe, and the caffe tool's
  embedded Python takes the active environment ($VIRTUAL_ENV) as its own.
NumPy and protobuf come from this interpreter's environment through a .pth
file: the test needs no network.
"""
import argparse
import glob
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import textwrap

import google.protobuf
import numpy

# CTest's SKIP_RETURN_CODE for this test.
SKIPPED = 77

NET = '''
name: "installed"
layer { name: "x" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 } } }
layer { name: "ip" type: "InnerProduct" bottom: "x" top: "ip"
  inner_product_param { num_output: 2
    weight_filler { type: "constant" value: 1 }
    bias_filler { type: "constant" value: 0.5 } } }
'''

PROBE = '''
import json, os, sys
import numpy as np
import caffe

package = os.path.dirname(caffe.__file__)
assert package.startswith(sys.prefix + os.sep), (caffe.__file__, sys.prefix)
with open('/proc/self/maps') as maps:
    libcaffe = {line.split()[-1] for line in maps if 'libcaffe.so' in line}
assert libcaffe == {os.path.join(package, 'libcaffe.so.1.0.0')}, libcaffe

from caffe.proto import caffe_pb2
caffe.set_mode_cpu()
net = caffe.Net('net.prototxt', caffe.TEST)
net.blobs['x'].data[...] = np.arange(1, 7).reshape(2, 3)
out = net.forward()['ip']
# Row sums plus the bias, small integers: exact in float.
assert out.tolist() == [[6.5, 6.5], [15.5, 15.5]], out
print(json.dumps({'package': package, 'layers': len(caffe.layer_type_list()),
                  'python_layer': 'Python' in caffe.layer_type_list()}))
'''

PYTHON_LAYER_NET = '''
name: "python_layer"
layer { name: "data" type: "DummyData" top: "a" top: "b"
  dummy_data_param { shape { dim: 4 dim: 3 } shape { dim: 4 dim: 3 }
    data_filler { type: "constant" value: 2 } data_filler { type: "constant" value: 1 } } }
layer { name: "loss" type: "Python" bottom: "a" bottom: "b" top: "loss" loss_weight: 1
  python_param { module: "%s" layer: "%s" param_str: "%s" } }
'''

PYTHON_LAYER_PROBE = '''
import caffe
caffe.set_mode_cpu()
net = caffe.Net('python_layer.prototxt', caffe.TRAIN)
loss = float(net.forward()['loss'])
# sum((2 - 1)^2) / (2 * 4) over 4 x 3 elements
assert abs(loss - 1.5) < 1e-6, loss
print('python layer ok')
'''

WHERE_AM_I = '''
import json, sys
import caffe


class WhereAmI(caffe.Layer):
    """Records the interpreter it runs in; a scalar loss of 0."""

    def setup(self, bottom, top):
        with open(self.param_str, 'w') as f:
            json.dump({'prefix': sys.prefix, 'caffe': caffe.__file__}, f)

    def reshape(self, bottom, top):
        top[0].reshape()

    def forward(self, bottom, top):
        top[0].data[...] = 0

    def backward(self, top, propagate_down, bottom):
        pass
'''


def run(command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, **kwargs)
    if result.returncode != 0:
        sys.exit(f'install.pycaffe: {" ".join(map(str, command))} failed '
                 f'({result.returncode}):\n{result.stdout}{result.stderr}')
    return result.stdout


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--cmake', required=True)
    p.add_argument('--make-wheel', required=True, help='build/cmake/MakePycaffeWheel.cmake')
    p.add_argument('--caffe', required=True, help="the build's caffe tool")
    p.add_argument('--python-layer', required=True, help='1 if built with Python layers')
    args = p.parse_args()
    python_layer = args.python_layer == '1'
    if importlib.util.find_spec('pip') is None:
        print(f'install.pycaffe: {sys.executable} has no pip to install the wheel with')
        sys.exit(SKIPPED)

    with tempfile.TemporaryDirectory(prefix='caffe-pycaffe-install-') as tmp:
        run([args.cmake, f'-DSTAGE_DIR={tmp}/stage', f'-DOUT_DIR={tmp}/dist',
             '-P', args.make_wheel])
        wheels = glob.glob(f'{tmp}/dist/caffe-*.whl')
        assert len(wheels) == 1, wheels

        venv = os.path.join(tmp, 'venv')
        run([sys.executable, '-m', 'venv', '--without-pip', venv])
        venv_python = os.path.join(venv, 'bin', 'python')
        site = run([venv_python, '-c',
                    'import sysconfig; print(sysconfig.get_path("purelib"))']).strip()
        dependencies = {os.path.dirname(os.path.dirname(numpy.__file__)),
                        os.path.dirname(os.path.dirname(os.path.dirname(
                            google.protobuf.__file__)))}
        with open(os.path.join(site, 'build_environment.pth'), 'w') as f:
            f.write('\n'.join(sorted(dependencies)) + '\n')
        run([sys.executable, '-m', 'pip', '--python', venv_python, 'install',
             '--no-deps', '--no-index', '--disable-pip-version-check', wheels[0]])

        work = os.path.join(tmp, 'elsewhere')
        os.mkdir(work)
        with open(os.path.join(work, 'net.prototxt'), 'w') as f:
            f.write(NET)
        env = {k: v for k, v in os.environ.items()
               if k not in ('PYTHONPATH', 'CAFFE_ROOT', 'CAFFE_PYTHON', 'VIRTUAL_ENV',
                            'PYTHONHOME')}
        seen = json.loads(run([venv_python, '-c', PROBE], cwd=work, env=env))
        print(f'pycaffe imported from {seen["package"]} ({seen["layers"]} layer types)')

        if not python_layer:
            assert not seen['python_layer']
            print('built without Python layers: Python layer checks left out')
            return
        # A Python layer in pycaffe: the prototype shipped in the wheel.
        with open(os.path.join(work, 'python_layer.prototxt'), 'w') as f:
            f.write(PYTHON_LAYER_NET % ('caffe.prototypes.euclidean_loss',
                                        'EuclideanLossLayer', ''))
        print(run([venv_python, '-c', PYTHON_LAYER_PROBE], cwd=work, env=env).strip())

        # The caffe tool in the activated environment: its embedded Python
        # is the environment's, and imports the environment's pycaffe.
        with open(os.path.join(work, 'where_am_i.py'), 'w') as f:
            f.write(textwrap.dedent(WHERE_AM_I))
        record = os.path.join(work, 'seen.json')
        with open(os.path.join(work, 'cli.prototxt'), 'w') as f:
            f.write(PYTHON_LAYER_NET % ('where_am_i', 'WhereAmI', record))
        cli_env = dict(env, VIRTUAL_ENV=venv, PYTHONPATH=work, GLOG_logtostderr='1',
                       PATH=os.path.join(venv, 'bin') + os.pathsep + env.get('PATH', ''))
        run([args.caffe, 'time', '--model', 'cli.prototxt', '--iterations', '1'],
            cwd=work, env=cli_env)
        with open(record) as f:
            cli = json.load(f)
        assert os.path.realpath(cli['prefix']) == os.path.realpath(venv), cli
        assert cli['caffe'].startswith(site), cli
        print(f'caffe tool with VIRTUAL_ENV: embedded Python prefix {cli["prefix"]}')

        # An environment of another Python version cannot host the embedded
        # interpreter: the tool says so and keeps the build's interpreter.
        other = os.path.join(tmp, 'other-python')
        os.makedirs(os.path.join(other, 'bin'))
        os.symlink(sys.executable, os.path.join(other, 'bin', 'python3'))
        with open(os.path.join(other, 'pyvenv.cfg'), 'w') as f:
            f.write('home = /nowhere\nversion = 3.1.0\n')
        os.remove(record)
        result = subprocess.run(
            [args.caffe, 'time', '--model', 'cli.prototxt', '--iterations', '1'], cwd=work,
            env=dict(cli_env, VIRTUAL_ENV=other, PATH=env.get('PATH', ''),
                     PYTHONPATH=os.pathsep.join([work, site])),
            capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        assert f'ignoring VIRTUAL_ENV={other}' in result.stderr, result.stderr[-3000:]
        with open(record) as f:
            cli = json.load(f)
        assert os.path.realpath(cli['prefix']) == os.path.realpath(sys.prefix), cli
        print(f'caffe tool with VIRTUAL_ENV of another Python: ignored, prefix {cli["prefix"]}')


if __name__ == '__main__':
    main()
