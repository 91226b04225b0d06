"""scripts/gpu-check against a fake recipe: the one command a short GPU lease
runs must keep its deadline, report what failed, skip the sanitizers a device
refuses, and leave few files in $OUT (the device tool brings back at most 8).

The fake `run` does what the bundle's adapted `run` does for each step: it
prints "NAME: rc N" lines and writes its logs into $OUT. FAKE_<STEP> tells it
how the step goes: "fail", "sleep", "refuse" (a sanitizer's device refusal)
or, by default, a pass.
"""
import os
import re
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "gpu-check"

FAKE_RUN = r"""#!/usr/bin/env bash
# Fake of the bundle's adapted run; the real one has a "pycheck)" step.
for step in "$@"; do
  tool=${SANITIZE_TOOLS:-}
  name=$step; [ "$step" = sanitize ] && name=$tool
  mode=$(printenv "FAKE_${name^^}" || true)
  echo "$step $tool ${GRAD_FILTER:-} ${NVIDIA_TF32_OVERRIDE:-}" >> "$FAKE_CALLS"
  [ "$mode" = sleep ] && sleep 300
  [ "$mode" = buildfail ] && { echo "error: the build failed"; exit 1; }
  rc=0; [ "$mode" = fail ] && rc=1
  case $step in
    build) echo "built" ;;
    ours|fast|grad)
      echo "gtest $step: rc $rc, 7 ok" > "$OUT/gtest-$step.log"
      [ $rc = 0 ] || echo "[  FAILED  ] CuDNNConvolutionLayerTest/0.TestSimple$step, where TypeParam = float (3 ms)" >> "$OUT/gtest-$step.log"
      cat "$OUT/gtest-$step.log" ;;
    layers|train) echo "$step table" > "$OUT/$step.log"; echo "$step: rc $rc" ;;
    sanitize)
      if [ "$mode" = refuse ]; then
        echo "========= Device not supported" > "$OUT/sanitize-$tool.log"; rc=1
      elif [ "$mode" = absent ]; then
        echo "sanitize: skipped, no compute-sanitizer (PATH or beside nvcc)"; continue
      else
        echo "ERROR SUMMARY: 0 errors" > "$OUT/sanitize-$tool.log"
      fi
      echo "$tool: rc $rc" ;;
    *) echo "$step: rc $rc" ;;
  esac
done
"""


@pytest.fixture
def bundle(tmp_path):
    directory = tmp_path / "bundle"
    directory.mkdir()
    (directory / "run").write_text(FAKE_RUN)
    return directory


def gpu_check(tmp_path, bundle, *steps, seconds=300, **fake):
    out = tmp_path / "out"
    calls = tmp_path / "calls"
    calls.write_text("")
    env = dict(os.environ, GPU_CHECK_BUNDLE=str(bundle), OUT=str(out),
               GPU_CHECK_SECONDS=str(seconds), FAKE_CALLS=str(calls))
    env.update({"FAKE_" + step.upper(): mode for step, mode in fake.items()})
    began = time.monotonic()
    result = subprocess.run(["bash", str(SCRIPT), *steps], env=env,
                            capture_output=True, text=True, timeout=600)
    result.seconds = time.monotonic() - began
    result.summary = (out / "summary.txt").read_text()
    result.files = sorted(p.name for p in out.iterdir())
    result.calls = calls.read_text().split("\n")[:-1]
    return result


def test_everything_passes_and_few_files_come_back(tmp_path, bundle):
    result = gpu_check(tmp_path, bundle)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "== tf32: not needed" in result.summary
    for step in ("build", "ours", "layers", "train", "fast", "cudnn", "pycheck",
                 "memcheck", "pytest", "racecheck", "initcheck", "synccheck", "demo"):
        assert f"== {step}: passed" in result.summary
    assert result.files == ["layers.log", "logs.tar.gz", "summary.txt", "train.log"]
    with tarfile.open(tmp_path / "out" / "logs.tar.gz") as logs:
        names = {Path(name).name for name in logs.getnames()}
    assert {"gtest-ours.log", "sanitize-memcheck.log", "step-pytest.txt"} <= names
    # cudnn is the recipe's grad step over the cuDNN layers and ours only.
    cudnn, = [call for call in result.calls if call.startswith("grad")]
    assert "*CuDNN*" in cudnn and "*BlankSquare*Gradient*" in cudnn
    assert result.summary == result.stdout


def test_a_failed_case_fails_the_check_and_is_named(tmp_path, bundle):
    result = gpu_check(tmp_path, bundle, "build", "ours", "train", ours="fail")
    assert result.returncode == 1
    assert "== ours: failed" in result.summary
    assert "== train: passed" in result.summary
    assert "failed: ours;" in result.summary


def test_failed_cudnn_cases_run_again_without_tf32(tmp_path, bundle):
    result = gpu_check(tmp_path, bundle, "fast", "tf32", fast="fail")
    assert "== fast: failed" in result.summary
    rerun = result.calls[-1].split()
    assert rerun == ["grad", "CuDNNConvolutionLayerTest/0.TestSimplefast", "0"]
    assert "== tf32: passed" in result.summary
    with tarfile.open(tmp_path / "out" / "logs.tar.gz") as logs:
        names = {Path(name).name for name in logs.getnames()}
    assert {"gtest-fast.log", "gtest-tf32.log"} <= names


def test_a_failed_build_stops_the_check(tmp_path, bundle):
    result = gpu_check(tmp_path, bundle, "build", "ours", build="buildfail")
    assert result.returncode == 1
    assert "the build failed; nothing else can run" in result.summary
    assert [call.split()[0] for call in result.calls] == ["build"]


@pytest.mark.parametrize("sanitizer", ["refuse", "absent"])
def test_a_refused_or_missing_sanitizer_skips_the_others(tmp_path, bundle, sanitizer):
    result = gpu_check(tmp_path, bundle, "memcheck", "racecheck", "pytest",
                       memcheck=sanitizer)
    assert ("== memcheck: failed" if sanitizer == "refuse"
            else "== memcheck: skipped") in result.summary
    assert "== racecheck: not run (compute-sanitizer is missing or refused the device)" \
        in result.summary
    assert result.returncode == (1 if sanitizer == "refuse" else 0)
    assert "== pytest: passed" in result.summary
    assert [call.split()[0] for call in result.calls] == ["sanitize", "pytest"]
    assert result.files == ["logs.tar.gz", "summary.txt"]


def test_the_deadline_stops_a_step_and_skips_the_rest(tmp_path, bundle):
    # 55 s in all, 20 kept for packing: ours gets 35 s, then nothing is left.
    result = gpu_check(tmp_path, bundle, "ours", "fast", seconds=55, ours="sleep")
    assert re.search(r"== ours: stopped at its limit of 3[45] s", result.summary)
    assert "== fast: not run" in result.summary
    assert result.returncode == 1
    assert result.seconds < 55
