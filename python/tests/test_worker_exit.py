"""The Python worker outlives no geobatch: when geobatch is killed outright its pipes close
before the worker is handed to another parent, so a worker may meet the end of its requests,
or a closed pipe for its reply, while its parent still looks alive. It then waits for the
parent to change and removes its folder (CI once found a killed run's folder left: a step
that ended in that window replied into the closed pipe and the worker died of it)."""

import os
import subprocess
import sys
import textwrap
import time

import pytest

import geobatch.worker

# A stand-in for geobatch: starts the worker in its own process group as geobatch does,
# waits for it to be ready, does what `how` says to its pipes, lingers, and ends.
PARENT = textwrap.dedent(
    """
    import os, subprocess, sys, time
    folder, how = sys.argv[1], sys.argv[2]
    env = dict(os.environ, GEOBATCH_PARENT=str(os.getpid()), GEOBATCH_WORKER_DIR=folder)
    w = subprocess.Popen([sys.executable, "-u", "-m", "geobatch.worker"], env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, process_group=0)
    print(w.pid, flush=True)
    assert b"ready" in w.stdout.readline()
    if how == "reply":      # the reply meets a closed pipe
        w.stdout.close()
        w.stdin.write(b'{"op": "no-such-request"}\\n')
        w.stdin.flush()
    else:                   # a request cut short, then the requests end
        w.stdin.write(b'{"op": "tra')
        w.stdin.close()
    time.sleep(0.5)
    os._exit(0)
    """
)


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("how", ["reply", "cut"])
def test_a_worker_whose_geobatch_ends_in_the_window_removes_its_folder(tmp_path, how):
    pytest.importorskip("numpy")
    folder = tmp_path / "geobatch-python-test"
    folder.mkdir()
    (folder / "geobatch_worker.py").write_text("# the worker's copy\n")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(geobatch.worker.__file__)))
    parent = subprocess.run(
        [sys.executable, "-c", PARENT, str(folder), how],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    worker = int(parent.stdout.split()[0])
    deadline = time.monotonic() + 10
    while (folder.exists() or _alive(worker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = folder.exists()
    if _alive(worker):
        os.kill(worker, 9)
        pytest.fail(f"the worker outlived its parent ({how})")
    assert not left, f"the worker's folder is left ({how}): {parent.stderr}"
