"""What the repository's code and docs name must exist: a patch named by its
file name is in patches/ and in series, a path in backticks is a file of
the repository or of the merged tree (upstream's files included), and a
patch is never named by a bare number, which says nothing to a reader.

Run by CTest (repo.references) with CAFFE_ROOT set to the merged tree.
"""
import os
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Where readers look: the fork's docs, code, build and tools.
SEARCHED = ['README.md', 'docs', 'src', 'include', 'python', 'scripts', 'gpu', 'cmake',
            'benchmarks', 'examples', 'tools', 'patches', 'data', 'docker', '.ci',
            'CMakeLists.txt', 'Makefile', 'Makefile.config.example']
TEXT_SUFFIXES = {'.md', '.cpp', '.hpp', '.cu', '.cuh', '.py', '.cmake', '.txt', '.in',
                 '.patch', '.sh', '.example', '', '.prototxt', '.ipynb'}

PATCH_NAME = re.compile(r'\b(\d{4}-[a-z0-9][a-z0-9.+-]*?)\.patch\b')
BARE_PATCH_NUMBER = re.compile(r'\bpatch(?:es)?/?\s?(\d{4})\b(?!-)', re.IGNORECASE)
# `path/with/a/slash.ext` in backticks, under one of the repository's folders.
BACKTICK_PATH = re.compile(
    r'`((?:src|include|python|scripts|gpu|docs|cmake|benchmarks|examples|tools|patches|data|'
    r'docker|upstream|\.ci)/[A-Za-z0-9_./{},*+-]+)`')


def tracked_files():
    """The repository's text files under SEARCHED (git may not be installed:
    a walk of the tree, without what builds and virtual environments add)."""
    files = []
    for name in SEARCHED:
        top = REPO / name
        if top.is_file():
            files.append(top)
            continue
        for folder, subfolders, names in os.walk(top):
            subfolders[:] = [d for d in subfolders if d not in ('__pycache__', '.pytest_cache')]
            files.extend(Path(folder) / n for n in names)
    return sorted(path for path in files
                  if path.suffix in TEXT_SUFFIXES and path.is_file())


def lines_of(path):
    try:
        text = path.read_text(encoding='utf-8')
    except UnicodeDecodeError:
        return []
    return text.splitlines()


def merged_root():
    root = os.environ.get('CAFFE_ROOT')
    if not root:
        pytest.fail('CAFFE_ROOT must name the merged tree (CTest sets it)')
    return Path(root)


def expand(path):
    """`a/{b,c}.cpp` names a/b.cpp and a/c.cpp."""
    match = re.search(r'\{([^{}]*)\}', path)
    if not match:
        return [path]
    return [expanded for choice in match.group(1).split(',')
            for expanded in expand(path[:match.start()] + choice + path[match.end():])]


def test_named_patches_exist_and_are_in_series():
    series = {line.strip() for line in (REPO / 'patches' / 'series').read_text().splitlines()
              if line.strip() and not line.startswith('#')}
    missing = []
    for path in tracked_files():
        for number, line in enumerate(lines_of(path), 1):
            for match in PATCH_NAME.finditer(line):
                name = match.group(1) + '.patch'
                if name not in series or not (REPO / 'patches' / name).is_file():
                    missing.append(f'{path.relative_to(REPO)}:{number}: {name}')
    assert not missing, 'patches named but not in patches/series:\n' + '\n'.join(missing)


def test_series_lists_every_patch_once():
    listed = [line.strip() for line in (REPO / 'patches' / 'series').read_text().splitlines()
              if line.strip() and not line.startswith('#')]
    assert len(listed) == len(set(listed)), 'a patch is listed twice in series'
    on_disk = {p.name for p in (REPO / 'patches').glob('*.patch')}
    assert set(listed) == on_disk, (f'not in series: {sorted(on_disk - set(listed))}; '
                                    f'in series, not on disk: {sorted(set(listed) - on_disk)}')


def test_patches_are_named_by_file_name_not_number():
    bare = []
    for path in tracked_files():
        for number, line in enumerate(lines_of(path), 1):
            if BARE_PATCH_NUMBER.search(line):
                bare.append(f'{path.relative_to(REPO)}:{number}: {line.strip()}')
    assert not bare, 'patches named by a bare number:\n' + '\n'.join(bare)


def test_paths_in_backticks_exist():
    root = merged_root()
    missing = []
    for path in tracked_files():
        if path.suffix == '.patch':
            continue  # a patch quotes upstream's text as it was
        for number, line in enumerate(lines_of(path), 1):
            for match in BACKTICK_PATH.finditer(line):
                for named in expand(match.group(1)):
                    named = named.rstrip('.,')
                    if '*' in named:
                        found = any(REPO.glob(named)) or any(root.glob(named))
                    else:
                        found = (REPO / named).exists() or (root / named).exists()
                    if not found:
                        missing.append(f'{path.relative_to(REPO)}:{number}: {named}')
    assert not missing, 'paths named in backticks that do not exist:\n' + '\n'.join(missing)
