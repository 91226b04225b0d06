"""Shared pytest settings for pycaffe's tests.

A test (or a module, through ``pytestmark``) marked ``python_layer`` needs
Caffe built with Python layers; in a build without them
(``BUILD_python_layer=OFF``) it is skipped with that reason instead of
aborting the interpreter at "Unknown layer type: Python".
"""
import pytest

import caffe


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'python_layer: needs Caffe built with Python layers '
        '(BUILD_python_layer=ON)')


def pytest_collection_modifyitems(config, items):
    if 'Python' in caffe.layer_type_list():
        return
    skip = pytest.mark.skip(
        reason='Caffe was built without Python layers (BUILD_python_layer=OFF)')
    for item in items:
        if item.get_closest_marker('python_layer'):
            item.add_marker(skip)
