"""Where a run's results file goes, and that writing it never destroys the previous one."""

import os
import pathlib
import subprocess
import sys
import textwrap

from cnnlib.runtime import locations, session

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_a_full_disk_leaves_the_previous_results_file_whole(tmp_path):
    folder = tmp_path / "results"
    good = '{"metrics": {"accuracy": 0.99}}\n'
    session._write_results(folder, "05_lenet5_mnist", "ci", good)
    # A process allowed to write files of at most 40 bytes: a disk that fills up mid-write.
    script = textwrap.dedent(f"""
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        from cnnlib.runtime import session
        resource.setrlimit(resource.RLIMIT_FSIZE, (40, 40))
        try:
            session._write_results({str(folder)!r}, "05_lenet5_mnist", "ci", "x" * 1000)
        except OSError as error:
            print("failed:", error.errno)
    """)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert "failed:" in done.stdout, done.stderr[-2000:]
    for path in (folder / "05_lenet5_mnist.json", folder / "ci" / "05_lenet5_mnist.json"):
        assert path.read_text() == good
    assert sorted(p.name for p in folder.rglob("*") if p.is_file()) == ["05_lenet5_mnist.json"] * 2


def test_a_results_folder_with_a_tilde_is_in_the_home_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CNNLIB_RESULTS_DIR", "~/course_results")
    assert locations.requested_results_dir() == tmp_path / "course_results"


def test_a_relative_results_folder_outside_the_course_is_absolute(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNLIB_RESULTS_DIR", "out")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(locations, "course_root", lambda: None)
    chosen = locations.requested_results_dir()
    assert chosen == tmp_path / "out" and chosen.is_absolute()


def test_the_course_folder_is_found_from_outside_it(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # not in any course checkout: the package's own checkout counts
    assert locations.course_root() == ROOT
