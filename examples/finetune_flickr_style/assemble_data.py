#!/usr/bin/env python3
# Derived from BVLC Caffe 99bd997
# examples/finetune_flickr_style/assemble_data.py; this fork's changes: it
# runs under Python 3 (upstream's failed every download there and wrote
# empty train.txt and test.txt) and reads the list with csv instead of
# pandas, choosing the same rows for a seed; it says how many images failed
# and why, removes what a failed download left, and stops with an error
# when no image could be had.
"""
Form a subset of the Flickr Style data, download images to dirname, and write
Caffe ImagesDataLayer training file.
"""
import os
import csv
import gzip
import urllib.request
import hashlib
import argparse
import numpy as np
from skimage import io
import multiprocessing

# Flickr returns a special image if the request is unavailable.
MISSING_IMAGE_SHA1 = '6a92790b1c2a301c6e7ddef645dca1f53ea97ac2'

example_dirname = os.path.abspath(os.path.dirname(__file__))
caffe_dirname = os.path.abspath(os.path.join(example_dirname, '../..'))
training_dirname = os.path.join(caffe_dirname, 'data/flickr_style')


def download_image(args_tuple):
    "For use with multiprocessing map. Returns None, or why it failed."
    url, filename = args_tuple
    try:
        if not os.path.exists(filename):
            urllib.request.urlretrieve(url, filename)
        with open(filename, 'rb') as f:
            if hashlib.sha1(f.read()).hexdigest() == MISSING_IMAGE_SHA1:
                raise ValueError('Flickr says the image is unavailable')
        io.imread(filename)
        return None
    except KeyboardInterrupt:
        raise Exception()  # multiprocessing doesn't catch keyboard exceptions
    except Exception as error:
        # Remove what was kept, so that the next run fetches it again.
        if os.path.exists(filename):
            os.remove(filename)
        return '{}: {}'.format(url, (str(error) or repr(error)).splitlines()[0])


if __name__ == '__main__':
    parser = argparse.ArgumentParser(
        description='Download a subset of Flickr Style to a directory')
    parser.add_argument(
        '-s', '--seed', type=int, default=0,
        help="random seed")
    parser.add_argument(
        '-i', '--images', type=int, default=-1,
        help="number of images to use (-1 for all [default])",
    )
    parser.add_argument(
        '-w', '--workers', type=int, default=-1,
        help="num workers used to download images. -x uses (all - x) cores [-1 default]."
    )
    parser.add_argument(
        '-l', '--labels', type=int, default=0,
        help="if set to a positive value, only sample images from the first number of labels."
    )

    args = parser.parse_args()
    np.random.seed(args.seed)

    # Read data, shuffle order, and subsample (the rows pandas chose, for
    # the same seed, when this script used it).
    csv_filename = os.path.join(example_dirname, 'flickr_style.csv.gz')
    with gzip.open(csv_filename, 'rt', newline='') as f:
        rows = list(csv.DictReader(f))
    rows = [rows[i] for i in np.random.permutation(len(rows))]
    if args.labels > 0:
        rows = [row for row in rows if int(row['label']) < args.labels]
    if args.images > 0 and args.images < len(rows):
        rows = rows[:args.images]

    # Make directory for images and get local filenames.
    images_dirname = os.path.join(training_dirname, 'images')
    if not os.path.exists(images_dirname):
        os.makedirs(images_dirname)
    for row in rows:
        row['image_filename'] = os.path.join(
            images_dirname, row['image_url'].split('/')[-1])

    # Download images.
    num_workers = args.workers
    if num_workers <= 0:
        num_workers = multiprocessing.cpu_count() + num_workers
    num_workers = max(num_workers, 1)
    print('Downloading {} images with {} workers...'.format(
        len(rows), num_workers))
    with multiprocessing.Pool(processes=num_workers) as pool:
        failures = pool.map(
            download_image, [(row['image_url'], row['image_filename'])
                             for row in rows])

    # Only keep rows with valid images, and write out training file lists.
    reasons = [reason for reason in failures if reason is not None]
    if reasons:
        print('{} of {} images could not be used, e.g. {}'.format(
            len(reasons), len(rows), reasons[0]))
    rows = [row for row, reason in zip(rows, failures) if reason is None]
    if not rows:
        raise SystemExit('assemble_data.py: no image was downloaded; '
                         'train.txt and test.txt are not written')
    for split in ['train', 'test']:
        filename = os.path.join(training_dirname, '{}.txt'.format(split))
        with open(filename, 'w') as f:
            for row in rows:
                if row['_split'] == split:
                    f.write('{} {}\n'.format(row['image_filename'], row['label']))
    print('Writing train/val for {} successfully downloaded images.'.format(
        len(rows)))
