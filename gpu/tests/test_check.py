"""gpu/check against a fake gpu/run, on a machine without a GPU: the check
passes only where every step ran and passed, and says which did not and why
(GPU cases left out, none run, a step cut by the deadline or never started,
a benchmark target not met, a sanitizer missing); it keeps its deadline and
leaves few files in $OUT.

The fake `run` prints what gpu/run prints for each step ("NAME: rc N", the
test binary's and benchmarks' lines) and writes its logs into $OUT.
FAKE_<STEP> says how the step goes: by default it passes; "fail" (a case
fails), "nogpu" (the test driver found no device and left the GPU cases
out), "nocases" (the filter matched no case), "missed" (a benchmark target
NOT met), "sleep" (FAKE_SLEEP seconds, default 300), "buildfail", and for
sanitizers "refuse" (gVisor's answer) or "absent".
"""
import os
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

CHECK = Path(__file__).resolve().parents[1] / "check"

FAKE_RUN = r"""#!/usr/bin/env bash
gtest_output() {  # MODE RC: what test.testbin and the test driver print
  case $1 in
    nogpu) echo "No CUDA device: leaving out 40 GPU test cases."
           echo "[==========] 12 tests from 3 test cases ran. (5 ms total)" ;;
    nocases) echo "CUDA devices: 1, testing on 0: Fake H100"
             echo "[==========] 0 tests from 0 test cases ran. (0 ms total)" ;;
    *) echo "CUDA devices: 1, testing on 0: Fake H100"
       [ "$2" = 0 ] ||
         echo "[  FAILED  ] CuDNNConvolutionLayerTest/0.TestSimple$step, where TypeParam = float (3 ms)"
       echo "[==========] 52 tests from 3 test cases ran. (5 ms total)" ;;
  esac
}
for step in "$@"; do
  tool=${SANITIZE_TOOLS:-}
  name=$step; [ "$step" = sanitize ] && name=$tool
  mode=$(printenv "FAKE_${name^^}" || true)
  echo "$step $tool ${GRAD_FILTER:-} ${NVIDIA_TF32_OVERRIDE:-}" >> "$FAKE_CALLS"
  [ "$mode" = sleep ] && sleep "${FAKE_SLEEP:-300}"
  [ "$mode" = buildfail ] && { echo "error: the build failed"; exit 1; }
  rc=0; [ "$mode" = fail ] && rc=1
  case $step in
    build) echo "built" ;;
    ours|fast|grad)
      gtest_output "$mode" $rc > "$OUT/gtest-$step.log"
      echo "gtest $step: rc $rc, 52 cases passed" ;;
    layers|train)
      target=met; [ "$mode" = missed ] && target="NOT met"
      echo "$step table: in place 0.31 of a copy (target <= 0.30: $target)" | tee "$OUT/$step.log"
      echo "$step: rc $rc" ;;
    sanitize)
      case $mode in
        refuse) echo "========= Device not supported" > "$OUT/sanitize-$tool.log"; rc=1 ;;
        absent) echo "compute-sanitizer: skipped, no compute-sanitizer (PATH or beside nvcc)"
                continue ;;
        *) { gtest_output "$mode" $rc; echo "ERROR SUMMARY: 0 errors"; } > "$OUT/sanitize-$tool.log" ;;
      esac
      echo "$tool: rc $rc" ;;
    *) echo "$step: rc $rc" ;;
  esac
done
"""

DEFAULT_STEPS = ["build", "ours", "fast", "cudnn", "pycheck", "pytest", "mpi", "memcheck",
                 "racecheck", "initcheck", "synccheck", "layers", "train"]


@pytest.fixture
def fake(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "proj.tar.gz").write_bytes(b"")
    (bundle / "commit").write_text("abc1234\n")
    run = tmp_path / "run"
    run.write_text(FAKE_RUN)
    return bundle, run


def gpu_check(tmp_path, fake, *steps, seconds=120, reserve=1, least=2, **modes):
    bundle, run = fake
    out = tmp_path / "out"
    calls = tmp_path / "calls"
    calls.write_text("")
    env = dict(os.environ, GPU_BUNDLE=str(bundle), GPU_CHECK_RUN=str(run), OUT=str(out),
               GPU_CHECK_SECONDS=str(seconds), GPU_CHECK_RESERVE=str(reserve),
               GPU_CHECK_LEAST=str(least),
               FAKE_CALLS=str(calls), FAKE_SLEEP=str(modes.pop("sleep_seconds", 300)))
    env.update({"FAKE_" + step.upper(): mode for step, mode in modes.items()})
    began = time.monotonic()
    result = subprocess.run(["bash", str(CHECK), *steps], env=env,
                            capture_output=True, text=True, timeout=120)
    result.seconds = time.monotonic() - began
    result.summary = (out / "summary.txt").read_text()
    result.files = sorted(p.name for p in out.iterdir())
    result.calls = calls.read_text().split("\n")[:-1]
    return result


def test_everything_passes_correctness_first_and_few_files_come_back(tmp_path, fake):
    result = gpu_check(tmp_path, fake)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "== tf32: not needed" in result.summary
    for step in DEFAULT_STEPS:
        assert f"== {step}: passed" in result.summary
    assert "gpu/check: passed, every step ran" in result.summary
    assert "gpu/check of abc1234" in result.summary
    assert result.files == ["layers.log", "logs.tar.gz", "summary.txt", "train.log"]
    with tarfile.open(tmp_path / "out" / "logs.tar.gz") as logs:
        names = set(logs.getnames())
    assert {"./ours/gtest-ours.log", "./memcheck/sanitize-memcheck.log",
            "./pytest/step.txt"} <= names
    # Benchmarks run after every correctness step, the MPI run and sanitizers included.
    order = [call.split()[1] if call.startswith("sanitize") else call.split()[0]
             for call in result.calls]
    assert order == ["build", "ours", "fast", "grad", "pycheck", "pytest", "mpi", "memcheck",
                     "racecheck", "initcheck", "synccheck", "layers", "train"]
    # cudnn is run's grad step over the cuDNN layers and ours only.
    cudnn, = [call for call in result.calls if call.startswith("grad")]
    assert "*CuDNN*" in cudnn and "*BlankSquare*Gradient*" in cudnn
    assert result.summary == result.stdout


def test_a_failed_case_fails_the_check_and_is_named(tmp_path, fake):
    result = gpu_check(tmp_path, fake, "build", "ours", "train", ours="fail")
    assert result.returncode == 1
    assert "== ours: failed: gtest ours: rc 1" in result.summary
    assert "== train: passed" in result.summary
    assert "failed: ours (gtest ours: rc 1" in result.summary
    assert "gpu/check: FAILED (1 failed, 0 not run)" in result.summary


@pytest.mark.parametrize("step", ["ours", "memcheck"])
def test_gpu_cases_left_out_fail_the_step_though_the_binary_passed(tmp_path, fake, step):
    result = gpu_check(tmp_path, fake, step, "pytest", **{step: "nogpu"})
    assert result.returncode == 1
    assert f"== {step}: failed:" in result.summary
    assert "40 GPU cases left out (the test binary found no GPU)" in result.summary
    assert "== pytest: passed" in result.summary
    assert f"failed: {step} (" in result.summary


def test_a_test_binary_that_ran_no_case_fails_the_step(tmp_path, fake):
    result = gpu_check(tmp_path, fake, "fast", "cudnn", cudnn="nocases", grad="nocases")
    assert result.returncode == 1
    assert "== fast: passed" in result.summary
    assert "== cudnn: failed: gtest-grad.log: no test case ran" in result.summary


def test_a_missed_benchmark_target_fails_the_step(tmp_path, fake):
    result = gpu_check(tmp_path, fake, "ours", "layers", "train", layers="missed")
    assert result.returncode == 1
    assert "== layers: failed: 1 benchmark targets NOT met" in result.summary
    assert "== train: passed" in result.summary
    assert "failed: layers (1 benchmark targets NOT met)" in result.summary
    assert "NOT met" in (tmp_path / "out" / "layers.log").read_text()


def test_failed_cudnn_cases_run_again_without_tf32(tmp_path, fake):
    result = gpu_check(tmp_path, fake, "fast", "tf32", fast="fail")
    assert "== fast: failed" in result.summary
    rerun = result.calls[-1].split()
    assert rerun == ["grad", "CuDNNConvolutionLayerTest/0.TestSimplefast", "0"]
    assert "== tf32: passed" in result.summary
    with tarfile.open(tmp_path / "out" / "logs.tar.gz") as logs:
        names = set(logs.getnames())
    assert {"./fast/gtest-fast.log", "./tf32/gtest-grad.log"} <= names


def test_a_failed_build_stops_the_check(tmp_path, fake):
    result = gpu_check(tmp_path, fake, "build", "ours", build="buildfail")
    assert result.returncode == 1
    assert "the build failed; nothing else can run" in result.summary
    assert [call.split()[0] for call in result.calls] == ["build"]


@pytest.mark.parametrize("sanitizer", ["refuse", "absent"])
def test_a_refused_or_missing_sanitizer_fails_and_skips_the_others(tmp_path, fake, sanitizer):
    result = gpu_check(tmp_path, fake, "memcheck", "racecheck", "pytest", memcheck=sanitizer)
    assert result.returncode == 1
    assert ("== memcheck: failed: memcheck: rc 1" if sanitizer == "refuse"
            else "== memcheck: not run (compute-sanitizer: skipped") in result.summary
    assert "== racecheck: not run (compute-sanitizer is missing or refused the device)" \
        in result.summary
    assert "not run: racecheck (no compute-sanitizer)" in result.summary
    assert "== pytest: passed" in result.summary
    assert [call.split()[0] for call in result.calls] == ["sanitize", "pytest"]
    assert result.files == ["logs.tar.gz", "summary.txt"]


def test_a_step_the_deadline_leaves_no_time_for_is_a_failure(tmp_path, fake):
    # 6 s in all, 1 kept for packing: ours takes 3 s, leaving 2 s, less
    # than the 3 s worth starting fast with.
    result = gpu_check(tmp_path, fake, "ours", "fast", seconds=6, least=3,
                       ours="sleep", sleep_seconds=3)
    assert "== ours: passed" in result.summary
    assert "== fast: not run" in result.summary
    assert "not run: fast (deadline)" in result.summary
    assert "gpu/check: FAILED (0 failed, 1 not run)" in result.summary
    assert "in a later call: gpu/check fast" in result.summary
    assert result.returncode == 1


def test_the_deadline_stops_a_step_and_skips_the_rest(tmp_path, fake):
    # 5 s in all, 1 kept for packing: ours gets 4 s, then nothing is left.
    result = gpu_check(tmp_path, fake, "ours", "fast", seconds=5, least=2, ours="sleep")
    assert "== ours: failed: stopped at its limit of 4 s" in result.summary \
        or "== ours: failed: stopped at its limit of 3 s" in result.summary
    assert "== fast: not run" in result.summary
    assert result.returncode == 1
    assert result.seconds < 10
