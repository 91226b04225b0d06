"""Packs an installed pycaffe into a wheel (run by cmake/MakeWheel.cmake).

The wheel holds the caffe package and, beside _caffe.so, the libcaffe it
links (found through _caffe.so's RPATH $ORIGIN), so that `pip install` of it
gives a pycaffe that works wherever it lands. The system libraries libcaffe
needs (protobuf, glog, Boost, BLAS, ...) come from the system, as for the
caffe tools. When the caffe tool's embedded Python imports this pycaffe, the
loader reuses the libcaffe the tool already loaded (same soname), so one
process never holds two copies.

Written with the standard library only: building the wheel needs no
network and no build backend.
"""
import argparse
import base64
import hashlib
import os
import sys
import sysconfig
import zipfile

import numpy


def record_hash(data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=')
    return 'sha256=' + digest.decode()


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--package', required=True, help='the installed caffe package folder')
    p.add_argument('--library', required=True, help='libcaffe.so.<version> to bundle')
    p.add_argument('--version', required=True)
    p.add_argument('--out-dir', required=True)
    args = p.parse_args()

    python_tag = f'cp{sys.version_info.major}{sys.version_info.minor}'
    platform = sysconfig.get_platform().replace('-', '_').replace('.', '_')
    tag = f'{python_tag}-{python_tag}-{platform}'
    dist_info = f'caffe-{args.version}.dist-info'
    numpy_major = int(numpy.__version__.split('.')[0])

    members = []  # (name in the wheel, path on disk or None, bytes or None)
    for folder, dirs, files in os.walk(args.package):
        dirs[:] = sorted(d for d in dirs if d != '__pycache__')
        for name in sorted(files):
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, os.path.dirname(args.package))
            members.append((rel.replace(os.sep, '/'), path, None))
    members.append((f'caffe/{os.path.basename(args.library)}', args.library, None))

    metadata = '\n'.join([
        'Metadata-Version: 2.1',
        'Name: caffe',
        f'Version: {args.version}',
        'Summary: pycaffe, the Python interface of this Caffe fork',
        f'Requires-Python: =={sys.version_info.major}.{sys.version_info.minor}.*',
        # _caffe.so is compiled against this NumPy major version's ABI.
        f'Requires-Dist: numpy>={numpy_major}',
        'Requires-Dist: protobuf>=3.20',
        '', ''])
    wheel = '\n'.join([
        'Wheel-Version: 1.0',
        'Generator: caffe cmake/make_wheel.py',
        'Root-Is-Purelib: false',
        f'Tag: {tag}',
        '', ''])
    members += [(f'{dist_info}/METADATA', None, metadata.encode()),
                (f'{dist_info}/WHEEL', None, wheel.encode()),
                (f'{dist_info}/top_level.txt', None, b'caffe\n')]

    os.makedirs(args.out_dir, exist_ok=True)
    target = os.path.join(args.out_dir, f'caffe-{args.version}-{tag}.whl')
    partial = target + '.partial'
    records = []
    with zipfile.ZipFile(partial, 'w', zipfile.ZIP_DEFLATED) as whl:
        for name, path, data in members:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            mode = 0o644
            if path is not None:
                with open(path, 'rb') as f:
                    data = f.read()
                mode = os.stat(path).st_mode & 0o777
            info.external_attr = (0o100000 | mode) << 16
            whl.writestr(info, data)
            records.append(f'{name},{record_hash(data)},{len(data)}')
        records.append(f'{dist_info}/RECORD,,')
        info = zipfile.ZipInfo(f'{dist_info}/RECORD', date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o100644 << 16
        whl.writestr(info, '\n'.join(records) + '\n', zipfile.ZIP_DEFLATED)
    os.replace(partial, target)
    print(f'pycaffe wheel: {target}')


if __name__ == '__main__':
    main()
