"""Data-parallel training across processes: `mpirun -np N caffe train`.

Every test launches real ranks with Open MPI's mpirun on this machine (more
ranks than cores is allowed) and trains a small convolutional net on the CPU
from an LMDB whose images carry their own index in two pixels, so a layer
can tell which items a rank read.
"""
import json
import os
import re
import shlex
import shutil
import struct
import subprocess
import textwrap

import numpy as np
import pytest

import caffe

# conftest.py skips these in a build without MPI or LMDB.
pytestmark = [pytest.mark.mpi, pytest.mark.lmdb]

ITEMS = 512
BATCH = 8  # per rank

# The data layer: LMDB (Data) or a list of image files (ImageData).
DATA = '''layer {{ name: "data" type: "Data" top: "data" top: "label"
  transform_param {{ scale: 0.00390625 }}
  data_param {{ source: "{source}" batch_size: {batch} backend: LMDB }} }}'''
IMAGE_DATA = '''layer {{ name: "data" type: "ImageData" top: "data" top: "label"
  transform_param {{ scale: 0.00390625 }}
  image_data_param {{ source: "{source}" batch_size: {batch} is_color: false }} }}'''

NET = '''
name: "tiny"
{data}
{extra}
layer {{ name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param {{ num_output: {filters} kernel_size: 5 stride: 2
                      weight_filler {{ type: "xavier" }} }} }}
layer {{ name: "relu" type: "ReLU" bottom: "conv" top: "conv" }}
layer {{ name: "ip" type: "InnerProduct" bottom: "conv" top: "ip"
  inner_product_param {{ num_output: 10 weight_filler {{ type: "xavier" }} }} }}
layer {{ name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }}
'''

# A layer beside the net that records what its rank sees: solver rank and
# count, its process, and the index of every item it is given. It can also
# fail, hang or send its process a signal on one rank at one forward pass.
PROBE_LAYER = '''
import json, os, signal, time
import caffe


class Probe(caffe.Layer):
    def setup(self, bottom, top):
        self.config = json.loads(self.param_str)
        self.forwards = 0
        self.seen = []

    def reshape(self, bottom, top):
        pass

    def forward(self, bottom, top):
        pixels = bottom[0].data[:, 0, 0, :2] * 256
        self.seen += [int(round(a)) + 256 * int(round(b)) for a, b in pixels]
        with open(self.config["out"] + ".%d" % self.solver_rank, "w") as f:
            json.dump({"rank": self.solver_rank, "count": self.solver_count,
                       "pid": os.getpid(), "items": self.seen}, f)
        self.forwards += 1
        act = self.config.get("act")
        if act and self.solver_rank == act["rank"] and self.forwards == act["forward"]:
            if act["what"] == "raise":
                raise RuntimeError("injected failure on rank %d" % self.solver_rank)
            if act["what"] == "hang":
                time.sleep(3600)
            if act["what"] == "sighup":
                os.kill(os.getpid(), signal.SIGHUP)

    def backward(self, top, propagate_down, bottom):
        pass
'''

PROBE = '''layer {{ name: "probe" type: "Python" bottom: "data"
  python_param {{ module: "mpi_probe" layer: "Probe" param_str: '{config}' }} }}'''

SOLVER = '''
net: "{net}"
base_lr: 0.05
momentum: 0.9
weight_decay: 0.0005
lr_policy: "fixed"
max_iter: {iters}
display: 1
snapshot: {snapshot}
snapshot_after_train: true
snapshot_prefix: "{prefix}"
random_seed: 1
solver_mode: CPU
'''


def build_file(*parts):
    build = os.environ.get('CAFFE_BUILD')
    if not build:
        pytest.skip('CAFFE_BUILD names no build folder')
    return os.path.join(build, *parts)


def items():
    """ITEMS 28x28 images and their labels; item i has i in pixels (0, 0) and
    (0, 1) and a bar whose row encodes its label, so the net can learn."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, ITEMS).astype(np.uint8)
    images = (rng.random((ITEMS, 28, 28)) * 60).astype(np.uint8)
    for i, label in enumerate(labels):
        images[i, 4 + 2 * label:6 + 2 * label, 4:24] += 150
        images[i, 0, 0], images[i, 0, 1] = i % 256, i // 256
    return images, labels


@pytest.fixture(scope='module')
def db(tmp_path_factory):
    """The items in an LMDB, in order."""
    folder = tmp_path_factory.mktemp('mpi_data')
    images, labels = items()
    (folder / 'images').write_bytes(struct.pack('>iiii', 2051, ITEMS, 28, 28) +
                                    images.tobytes())
    (folder / 'labels').write_bytes(struct.pack('>ii', 2049, ITEMS) + labels.tobytes())
    subprocess.run([build_file('examples', 'mnist', 'convert_mnist_data'),
                    str(folder / 'images'), str(folder / 'labels'), str(folder / 'db'),
                    '--backend=lmdb'], check=True, capture_output=True)
    return folder / 'db'


@pytest.fixture(scope='module')
def image_list(tmp_path_factory):
    """The items as PGM files, listed in order for the ImageData layer."""
    folder = tmp_path_factory.mktemp('mpi_images')
    images, labels = items()
    lines = []
    for i, (image, label) in enumerate(zip(images, labels)):
        path = folder / f'{i}.pgm'
        path.write_bytes(b'P5 28 28 255\n' + image.tobytes())
        lines.append(f'{path} {label}\n')
    (folder / 'list.txt').write_text(''.join(lines))
    return folder / 'list.txt'


class Job:
    """A training job's files in one folder; runs with or without mpirun."""

    def __init__(self, folder, db, batch=BATCH, iters=5, snapshot=0, filters=4,
                 probe=None, name='job'):
        self.folder = folder
        self.prefix = folder / name
        extra = ''
        if probe is not None:
            probe = dict(probe, out=str(folder / 'seen'))
            extra = PROBE.format(config=json.dumps(probe))
        self.net = folder / f'{name}_net.prototxt'
        data = (IMAGE_DATA if db.suffix == '.txt' else DATA).format(source=db, batch=batch)
        self.net.write_text(NET.format(data=data, filters=filters, extra=extra))
        self.solver = folder / f'{name}_solver.prototxt'
        self.solver.write_text(SOLVER.format(net=self.net, iters=iters, snapshot=snapshot,
                                             prefix=self.prefix))
        if probe is not None:
            (folder / 'mpi_probe.py').write_text(textwrap.dedent(PROBE_LAYER))

    def command(self, *extra):
        return [build_file('tools', 'caffe'), 'train', '--solver', str(self.solver),
                *extra]

    def weights(self, iteration):
        net = caffe.Net(str(self.net), caffe.TEST,
                        weights=f'{self.prefix}_iter_{iteration}.caffemodel')
        return {name: [blob.data.copy() for blob in blobs]
                for name, blobs in net.params.items()}

    def seen(self, rank):
        return json.loads((self.folder / f'seen.{rank}').read_text())


def environment(folder):
    env = {k: v for k, v in os.environ.items() if k not in ('VIRTUAL_ENV', 'CAFFE_PYTHON')}
    pycaffe_dir = os.path.dirname(os.path.dirname(caffe.__file__))
    env.update(PYTHONPATH=os.pathsep.join([str(folder), pycaffe_dir]),
               GLOG_logtostderr='1', OPENBLAS_NUM_THREADS='1',
               # Open MPI refuses root unless told; CI runs as root.
               OMPI_ALLOW_RUN_AS_ROOT='1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM='1')
    return env


def mpirun(folder, ranks, *commands, timeout=120):
    """Runs `commands` (one per rank, or one for all) under mpirun."""
    launcher = shutil.which('mpirun')
    if not launcher:
        pytest.skip('mpirun is not installed (openmpi-bin)')
    args = [launcher, '--oversubscribe', '-np', str(ranks)]
    if len(commands) == 1:
        args += commands[0]
    else:
        # One program whose ranks each run their own command. mpirun's MPMD
        # form (`-np 1 A : -np 1 B`) crashes Open MPI 5.0's mpirun as Debian
        # 13 packages it (open-mpi/ompi#13303).
        assert len(commands) == ranks, 'one command per rank'
        cases = ' '.join(f'{rank}) exec {shlex.join(command)} ;;'
                         for rank, command in enumerate(commands))
        args += ['/bin/sh', '-c', f'case "${{OMPI_COMM_WORLD_RANK:-$PMIX_RANK}}" in {cases} '
                 '*) echo "mpirun set no rank this test knows" >&2; exit 2 ;; esac']
    return subprocess.run(args, env=environment(folder), capture_output=True, text=True,
                          timeout=timeout)


class Machines:
    """Two hosts on this machine: network namespaces that share no network
    stack, joined by a veth pair (10.77.0.1 and 10.77.0.2), each with a
    host name of its own (a UTS namespace). mpirun, on the first, starts the
    second's ranks through an rsh agent, as it would over ssh, with the
    environment ssh would give them plus what `-x` passes; the ranks can
    only reach each other over TCP through the veth pair."""

    ADDRESSES = ('10.77.0.1', '10.77.0.2')

    def __init__(self, folder):
        tag = str(os.getpid())
        self.namespaces = [f'caffe{tag}{host}' for host in 'ab']
        self.agent = folder / 'rsh'
        hosts = ' '.join(f'{address}) ns={ns} ;;'
                         for address, ns in zip(self.ADDRESSES, self.namespaces))
        self.agent.write_text(textwrap.dedent(f"""\
            #!/bin/sh
            # Open MPI's rsh agent: "ssh HOST COMMAND" as COMMAND on HOST (its
            # network namespace and host name), with a fresh login's environment.
            case $1 in {hosts} *) echo "rsh: no host $1" >&2; exit 255 ;; esac
            shift
            exec ip netns exec "$ns" unshare --uts env -i PATH="$PATH" HOME="$HOME" \\
              /bin/sh -c "hostname $ns && $*"
            """))
        self.agent.chmod(0o755)
        self.ends = ends = [f'cf{tag}{host}' for host in 'ab']
        commands = [['ip', 'netns', 'add', ns] for ns in self.namespaces]
        commands.append(['ip', 'link', 'add', ends[0], 'type', 'veth', 'peer', 'name', ends[1]])
        for ns, end, address in zip(self.namespaces, ends, self.ADDRESSES):
            commands += [['ip', 'link', 'set', end, 'netns', ns],
                         ['ip', '-n', ns, 'addr', 'add', f'{address}/24', 'dev', end],
                         ['ip', '-n', ns, 'link', 'set', end, 'up'],
                         ['ip', '-n', ns, 'link', 'set', 'lo', 'up']]
        for command in commands:
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                self.remove()
                unavailable(f'no network namespaces here ({shlex.join(command)}: '
                            f'{result.stderr.strip()})')

    def remove(self):
        for ns in self.namespaces:  # the veth pair goes with them
            subprocess.run(['ip', 'netns', 'delete', ns], capture_output=True)

    def mpirun(self, folder, command, timeout=120):
        """One rank on each host; rank r writes its host's addresses to
        folder/host.r (`hosts` reads them)."""
        launcher = shutil.which('mpirun')
        if not launcher:
            pytest.skip('mpirun is not installed (openmpi-bin)')
        env = environment(folder)
        # Open MPI 4 reads OMPI_MCA_*; Open MPI 5's launcher (PRRTE) reads
        # PRTE_MCA_*. TCP between the ranks, through the veth pair only.
        env.update(OMPI_MCA_plm_rsh_agent=str(self.agent), PRTE_MCA_plm_ssh_agent=str(self.agent),
                   OMPI_MCA_pml='ob1', OMPI_MCA_btl='tcp,self',
                   OMPI_MCA_btl_tcp_if_include='10.77.0.0/24')
        # mpirun knows its own host by name (Open MPI 5 would not take the
        # address for it), the other by address, as the agent does.
        first = self.namespaces[0]
        args = ['ip', 'netns', 'exec', first, 'unshare', '--uts', '/bin/sh', '-c',
                f'hostname {first} && exec "$@"', 'sh',
                launcher, '-np', '2', '-H', f'{first}:1,{self.ADDRESSES[1]}:1']
        for name in ('PYTHONPATH', 'GLOG_logtostderr', 'OPENBLAS_NUM_THREADS'):
            args += ['-x', name]
        rank = '${OMPI_COMM_WORLD_RANK:-$PMIX_RANK}'
        args += ['/bin/sh', '-c', f'{shutil.which("ip")} -brief -4 address show '
                 f'>{folder}/host.{rank} && exec {shlex.join(command)}']
        return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)

    def received(self, host):
        """Bytes that host's end of the veth pair has received."""
        stats = subprocess.run(['ip', '-n', self.namespaces[host], '-s', '-j', 'link', 'show',
                                'dev', self.ends[host]], capture_output=True, text=True,
                               check=True)
        return json.loads(stats.stdout)[0]['stats64']['rx']['bytes']

    def hosts(self, folder):
        """The address of each rank's host, by rank."""
        found = [re.findall(r'10\.77\.0\.\d', (folder / f'host.{rank}').read_text())
                 for rank in range(2)]
        return [address for addresses in found for address in addresses]


def unavailable(reason):
    """Skips, except in CI (CI=true), whose machines must run this test."""
    if os.environ.get('CI') == 'true':
        pytest.fail(f'{reason}; CI runs as root with iproute2 (scripts/setup)')
    pytest.skip(reason)


@pytest.fixture
def machines(tmp_path):
    if os.geteuid() != 0 or not shutil.which('ip'):
        unavailable('network namespaces need root and iproute2')
    hosts = Machines(tmp_path)
    yield hosts
    hosts.remove()


def alone(folder, command, timeout=120):
    return subprocess.run(command, env=environment(folder), capture_output=True,
                          text=True, timeout=timeout)


def max_difference(a, b):
    return max(float(np.abs(x - y).max()) for name in a for x, y in zip(a[name], b[name]))


def test_two_ranks_train_as_one_process_on_their_union(db, tmp_path):
    """Two ranks of batch 8 read disjoint halves of each 16 items, average
    their gradients and so take the steps of one process with batch 16.

    Tolerance: the two runs sum the same 16 per-item gradients in another
    order (8 + 8 vs 16) in float32; over 5 momentum SGD steps the weights
    (about 0.1 to 0.4 in size) differed by at most 3e-8 when measured. 1e-5
    leaves room for other BLAS blockings and is still 1000 times below the
    difference that training on only half the data makes (checked below).
    """
    two = Job(tmp_path, db, name='two')
    result = mpirun(tmp_path, 2, two.command())
    assert result.returncode == 0, result.stderr[-4000:]
    # Only rank 0 displays, tests and snapshots.
    assert len(re.findall(r'\] Iteration 4 \(', result.stderr)) == 1
    assert sorted(p.name for p in tmp_path.glob('two_iter_*')) == [
        'two_iter_5.caffemodel', 'two_iter_5.solverstate']
    one = Job(tmp_path, db, batch=2 * BATCH, name='one')
    result = alone(tmp_path, one.command())
    assert result.returncode == 0, result.stderr[-4000:]
    half = Job(tmp_path, db, name='half')
    result = alone(tmp_path, half.command())
    assert result.returncode == 0, result.stderr[-4000:]

    assert max_difference(two.weights(5), one.weights(5)) < 1e-5
    # The check can fail: one process on 8 items per step ends elsewhere.
    assert max_difference(half.weights(5), one.weights(5)) > 1e-3


def test_two_machines_train_as_one_process_on_their_union(db, tmp_path, machines):
    """The job above with its ranks on two hosts (network namespaces),
    started as on separate machines and exchanging gradients over TCP; the
    tolerance is the one above."""
    two = Job(tmp_path, db, name='two')
    result = machines.mpirun(tmp_path, two.command())
    assert result.returncode == 0, result.stderr[-4000:]
    # Each rank ran on its own host, and knows it is alone there.
    assert machines.hosts(tmp_path) == list(Machines.ADDRESSES)
    assert sorted(re.findall(r'MPI: rank (\d) of 2 \(0 of 1 on this node\)', result.stderr)) \
        == ['0', '1'], result.stderr[-4000:]
    # The gradients crossed the network: in each of the 5 all-reduces rank 1
    # received at least half of the net's 5874 float gradients.
    assert machines.received(1) > 5 * 5874 * 4 // 2
    one = Job(tmp_path, db, batch=2 * BATCH, name='one')
    result = alone(tmp_path, one.command())
    assert result.returncode == 0, result.stderr[-4000:]
    assert max_difference(two.weights(5), one.weights(5)) < 1e-5


@pytest.mark.python_layer
@pytest.mark.parametrize('source', ['db', pytest.param('image_list', marks=pytest.mark.opencv)])
def test_ranks_read_disjoint_shards_and_see_global_ranks(source, request, tmp_path):
    """With an LMDB (Data) or an image list (ImageData,
    patches/0029-image-data-shards-across-solvers.patch)."""
    job = Job(tmp_path, request.getfixturevalue(source), iters=6, probe={})
    result = mpirun(tmp_path, 3, job.command())
    assert result.returncode == 0, result.stderr[-4000:]
    seen = [job.seen(rank) for rank in range(3)]
    assert [s['rank'] for s in seen] == [0, 1, 2]
    assert {s['count'] for s in seen} == {3}
    assert len({s['pid'] for s in seen}) == 3  # an interpreter per rank
    # Rank 0 runs one more forward pass, to display the final loss.
    assert [len(s['items']) for s in seen] == [7 * BATCH, 6 * BATCH, 6 * BATCH]
    # Round robin: rank r reads the items i with i % 3 == r, so in their
    # six training steps the ranks read the first 3 * 6 * 8 items once.
    for rank, s in enumerate(seen):
        assert {i % 3 for i in s['items']} == {rank}
    trained = [i for s in seen for i in s['items'][:6 * BATCH]]
    assert sorted(trained) == list(range(3 * 6 * BATCH))


@pytest.mark.python_layer
def test_a_failing_rank_ends_the_job(db, tmp_path):
    job = Job(tmp_path, db, iters=50,
              probe={'act': {'rank': 1, 'forward': 3, 'what': 'raise'}})
    result = mpirun(tmp_path, 2, job.command(), timeout=60)
    assert result.returncode != 0
    assert 'injected failure on rank 1' in result.stderr
    assert ("Python layer 'probe' (mpi_probe.Probe) failed in forward on solver rank 1 "
            "of 2") in result.stderr, result.stderr[-4000:]
    # mpirun names the rank too: process [[job,1],1] (Open MPI 4) or
    # [prterun-host-pid@1,1] (Open MPI 5).
    assert re.search(r'Process name: \[(\[\d+,1\]|\S+@1),1\]\n\s*Exit code:\s*1',
                     result.stderr), result.stderr[-4000:]
    assert not list(tmp_path.glob('job_iter_50*'))


@pytest.mark.python_layer
def test_a_hung_rank_ends_the_job_by_timeout_naming_it(db, tmp_path):
    job = Job(tmp_path, db, iters=50,
              probe={'act': {'rank': 2, 'forward': 3, 'what': 'hang'}})
    result = mpirun(tmp_path, 3, job.command('--mpi_timeout', '5'), timeout=60)
    assert result.returncode != 0
    # Rank 0 and rank 1 wait at the all-reduce of iteration 2 (the third);
    # each names rank 2, which does not answer, and the other as waiting.
    assert re.search(r'Rank [01] waited \d+ s for the gradient all-reduce at iteration 2 '
                     r'\(--mpi_timeout 5 s\)\. rank 2 did not arrive', result.stderr), \
        result.stderr[-4000:]
    assert re.search(r'waiting as well: [01] at iteration 2\. Ending the job', result.stderr)


def test_a_gpu_named_twice_is_refused_before_any_device_is_touched(db, tmp_path):
    # NCCL would fail with only "invalid usage"; a CPU-only build would
    # stop at the first device call instead of saying what is wrong.
    job = Job(tmp_path, db)
    result = subprocess.run(job.command('--gpu', '1,0,1'), env=environment(tmp_path),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert ('--gpu=1,0,1 names GPU 1 twice; caffe train runs one solver per GPU'
            in result.stderr), result.stderr[-4000:]


def test_ranks_with_different_nets_end_with_a_message(db, tmp_path):
    four = Job(tmp_path, db, name='four')
    five = Job(tmp_path, db, filters=5, name='five')
    result = mpirun(tmp_path, 2, four.command(), five.command(), timeout=60)
    assert result.returncode != 0
    # conv: 4 x 1 x 5 x 5 + 4, ip: 10 x 4*12*12 + 10 values; five filters more.
    values = {f: f * 25 + f + 10 * f * 144 + 10 for f in (4, 5)}
    assert (f'rank 1: its net has 4 learnable blobs with {values[5]} values, '
            f"rank 0's 4 with {values[4]}") in result.stderr, result.stderr[-4000:]
    assert not list(tmp_path.glob('four_iter_*'))


def test_resume_with_another_number_of_ranks(db, tmp_path):
    job = Job(tmp_path, db, iters=4, snapshot=4)
    result = mpirun(tmp_path, 2, job.command())
    assert result.returncode == 0, result.stderr[-4000:]
    first = job.weights(4)

    longer = Job(tmp_path, db, iters=8, snapshot=4)  # the same prefix
    result = mpirun(tmp_path, 3, longer.command('--snapshot', f'{job.prefix}_iter_4.solverstate'))
    assert result.returncode == 0, result.stderr[-4000:]
    assert re.search(r'\] Iteration 7 .*loss = ', result.stderr)
    assert max_difference(longer.weights(8), first) > 1e-4  # it trained on

    # A job of one rank goes the same way.
    result = mpirun(tmp_path, 1, longer.command('--snapshot', f'{job.prefix}_iter_4.solverstate'))
    assert result.returncode == 0, result.stderr[-4000:]
    assert 'MPI: rank 0 of 1' in result.stderr


@pytest.mark.python_layer
def test_a_signal_to_any_rank_stops_every_rank_at_the_same_iteration(db, tmp_path):
    # caffe's default: SIGHUP snapshots, here set to stop; rank 1 receives it.
    job = Job(tmp_path, db, iters=50,
              probe={'act': {'rank': 1, 'forward': 3, 'what': 'sighup'}})
    result = mpirun(tmp_path, 2, job.command('--sighup_effect', 'stop'), timeout=60)
    assert result.returncode == 0, result.stderr[-4000:]
    assert 'Optimization stopped early.' in result.stderr
    # Both ranks did three forward passes: the request was agreed at the
    # exchange of iteration 2 and every rank left the loop there.
    assert [len(job.seen(rank)['items']) for rank in (0, 1)] == [3 * BATCH] * 2
    assert (tmp_path / 'job_iter_3.caffemodel').exists()
