"""The generated tables of README.md and docs/results.md, from results/<profile>/<notebook>.json.

    cnn-course report                          # rewrite every generated block of the docs
    cnn-course report --check                  # exit 1 if one is out of date
    cnn-course report refresh --profile lite   # rerun the notebooks into results/, then the tables

A learner's run writes to my_results/ (ignored by git); only `refresh` (or running the notebooks
with CNNLIB_RESULTS_DIR=results by hand) changes the committed results/.

The tables live between `<!-- NAME:start -->` / `<!-- NAME:end -->` markers; nothing outside them
is touched. `report` and `report --check` cover the docs' other generated blocks too (the download
table, INSTRUCTORS.md's blocks): see `cnnlib.tools.docs`.
"""

import argparse
import json
import os
import pathlib
import platform
import re
import shutil
import subprocess
import sys
import tempfile

from cnnlib.runtime.course import NOTEBOOKS
from cnnlib.runtime.locations import private_temp_dir, require_course_root
from cnnlib.runtime.profiles import PROFILES
from cnnlib.runtime.session import write_atomically
from cnnlib.tools.files import replace_file, shown


def course_folder():
    """The course checkout (`cnnlib.runtime.locations.course_root`), or one sentence saying the
    command needs one (an installed wheel has no results/ or README.md of its own)."""
    return require_course_root("cnn-course report")


def machine():
    """What the benchmarks ran on, e.g. '2 CPU cores, Intel(R) Xeon(R) Processor (x86_64)': the
    processor's name matters, since the same code runs at very different speeds on different ones."""
    model = platform.processor() or "unknown processor"
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):  # Linux names the processor here
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPU cores, {model} ({platform.machine()})"


# Which tables each document holds.
DOCUMENTS = {"README.md": ("notebooks",), "docs/results.md": ("results", "benchmark")}


class ReportError(Exception):
    """The results or a document cannot be read: one sentence for the maintainer."""


def _read_json(path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ReportError(
            f"{shown(path)} cannot be read as JSON ({shown(error)}); restore it from git"
        ) from None


# What a results file (written by Run.record) must hold for the tables.
RESULT_FIELDS = {"device": str, "seconds": (int, float), "data_source": str, "metrics": dict}


def _check_result(path, result):
    if not isinstance(result, dict):
        raise ReportError(
            f"{shown(path)} holds a JSON {type(result).__name__}, not a notebook's results (an object); "
            "restore it from git"
        )
    for field, kind in RESULT_FIELDS.items():
        if not isinstance(result.get(field), kind) or isinstance(result.get(field), bool):
            raise ReportError(
                f"{shown(path)} has no valid {field!r} (a results file written by a notebook has one); "
                "restore it from git"
            )
    return result


def load_results(results_dir):
    """{profile: {notebook: result}} from results/<profile>/*.json; a folder without any results
    is an error (tables made from it would be empty), so is a file that is not a notebook's result."""
    results_dir = pathlib.Path(results_dir)
    if not results_dir.is_dir():
        raise ReportError(f"there is no results folder at {results_dir}")
    found = {}
    for profile in PROFILES:
        for path in sorted((results_dir / profile).glob("*.json")):
            found.setdefault(profile, {})[path.stem] = _check_result(path, _read_json(path))
    if not found:
        raise ReportError(
            f"{results_dir} holds no results (results/<profile>/<notebook>.json), so the tables "
            "would be emptied: point --results at the course's results/ folder, or make them with "
            "`cnn-course report refresh`"
        )
    return found


def _cell(value):
    """Text for a Markdown table cell: a `|` would end the cell, a line break the row."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _format(value):
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return " / ".join(map(_format, value))
    if isinstance(value, dict):
        return ", ".join(f"{key} {_format(item)}" for key, item in value.items())
    return str(value)


def course_times(results_dir):
    """{profile: entry} from results/benchmark/course_times.json (benchmarks/course_times.py)."""
    path = pathlib.Path(results_dir) / "benchmark" / "course_times.json"
    if not path.exists():
        return {}
    times = _read_json(path)
    profiles = times.get("profiles", {}) if isinstance(times, dict) else None
    if not isinstance(profiles, dict):
        raise ReportError(f"{shown(path)} has no 'profiles' object; restore it from git")
    return profiles


def _minutes(seconds):
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def notebook_table(results_dir):
    """Lessons and whole-notebook times per profile, from the course-time benchmark."""
    times = course_times(results_dir)
    header = (
        "| notebook | what you learn | "
        + " | ".join(f"time, {p}" for p in PROFILES)
        + " | kernel memory, ci / lite |"
    )
    rows = [header, "|" + " --- |" * (3 + len(PROFILES))]
    for stem, lesson in NOTEBOOKS.items():
        cells = []
        for profile in PROFILES:
            seconds = times.get(profile, {}).get("notebooks", {}).get(stem)
            cells.append(_minutes(seconds) if seconds is not None else "not measured")
        peaks = [times.get(p, {}).get("kernel_peak_mb", {}).get(stem) for p in ("ci", "lite")]
        cells.append(
            " / ".join(f"{mb / 1000:.1f} GB" if mb else "—" for mb in peaks)
            if any(peaks)
            else "not measured"
        )
        rows.append(
            f"| [{stem}](notebooks/{stem}.ipynb) | {_cell(lesson)} | " + " | ".join(cells) + " |"
        )
    totals = [_minutes(times[p]["total_seconds"]) if p in times else "—" for p in PROFILES]
    rows.append("| **whole course** | | " + " | ".join(f"**{t}**" for t in totals) + " | |")
    notes = [
        f"`{p}`: {t['machine']}, {t['network']}, {t['recorded'][:16]} (load average {t['load_average_1_5_15_min']})"
        for p, t in times.items()
    ]
    if notes:
        rows += [
            "",
            "Measured by `benchmarks/course_times.py` (one process per notebook): "
            + "; ".join(notes)
            + ".",
        ]
    return "\n".join(rows)


def results_table(results):
    rows = [
        "| notebook | profile | device | main work | data | headline figures |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for profile in PROFILES:
        for stem, result in sorted(results.get(profile, {}).items()):
            figures = "; ".join(
                f"{key} = {_format(value)}" for key, value in result["metrics"].items()
            )
            rows.append(
                f"| {stem} | {profile} | {_cell(result['device'])} | {result['seconds']:.0f} s | "
                f"{_cell(result['data_source'])} | {_cell(figures)} |"
            )
    return "\n".join(rows)


def benchmark_table(results_dir):
    path = results_dir / "benchmark" / "conv_benchmark.json"
    if not path.exists():
        return "Not measured yet: run `python benchmarks/conv_benchmark.py`."
    bench = _read_json(path)
    rows = [
        f"Measured on {bench['machine']}, {bench['recorded'][:16]}"
        + (
            f" (load average {bench['load_average_1_5_15_min']})"
            if "load_average_1_5_15_min" in bench
            else ""
        )
        + f", NumPy {bench['numpy']}"
        + (f" ({bench['numpy_blas']})" if "numpy_blas" in bench else "")
        + f", TensorFlow {bench['tensorflow']}; best of several runs taken in turns:",
        "",
        "| case | naive loop | vectorised NumPy | tf.nn.conv2d | loop ÷ vectorised | vectorised ÷ TensorFlow "
        "| conv2d's matmul alone ÷ TensorFlow |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for case in bench["cases"]:
        matmul = (
            f"{case['matmul_alone_over_tensorflow']:.2f}× ({case['matmul_alone_ms']:.2f} ms)"
            if "matmul_alone_ms" in case
            else "not measured"
        )
        rows.append(
            f"| {case['case']} | {case['loop_ms']:,.0f} ms | {case['vectorised_ms']:.2f} ms | {case['tensorflow_ms']:.2f} ms | "
            f"{case['loop_over_vectorised']:,}× | {case['vectorised_over_tensorflow']:.2f}× | {matmul} |"
        )
    return "\n".join(rows)


def replace_block(text, name, table, document):
    """`text` with `table` between its `<!-- NAME:start -->` / `<!-- NAME:end -->` markers;
    ReportError naming `document` when they are missing."""
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
    if not pattern.search(text):
        raise ReportError(f"{document} has no <!-- {name}:start --> … <!-- {name}:end --> markers")
    return pattern.sub(lambda m: m.group(1) + table + "\n" + m.group(2), text)


def render(document, text, results_dir):
    """`text` of `document` (a key of DOCUMENTS) with its generated tables rebuilt from `results_dir`."""
    results_dir = pathlib.Path(results_dir)
    results = load_results(results_dir)
    tables = {
        "notebooks": lambda: notebook_table(results_dir),
        "benchmark": lambda: benchmark_table(results_dir),
        "results": lambda: results_table(results),
    }
    for name in DOCUMENTS[document]:
        text = replace_block(text, name, tables[name](), document)
    return text


def refresh(profiles, notebooks=(), results_dir=None):
    """Run the notebooks (all, or those named) in each profile with their results going to the
    committed results/ folder; return pytest's exit code (0 when every notebook passed)."""
    root = course_folder()
    results_dir = pathlib.Path(results_dir or root / "results")
    # The new results wait in the user's private temporary folder, never in the checkout: a
    # refresh that is killed leaves nothing there for git to show.
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="results-refresh-", dir=private_temp_dir()))
    try:
        return _refresh_through(root, scratch, profiles, notebooks, results_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _refresh_through(root, scratch, profiles, notebooks, results_dir):
    shutil.copytree(results_dir, scratch, dirs_exist_ok=True)
    paths = [
        str(root / "notebooks" / (name if name.endswith(".ipynb") else name + ".ipynb"))
        for name in notebooks
    ]
    for profile in profiles:
        env = dict(os.environ, CNNLIB_PROFILE=profile, CNNLIB_RESULTS_DIR=str(scratch))
        print(f"Running the notebooks in the {profile} profile; results go to {results_dir}")
        # -n 0: one notebook at a time, so the times the notebooks record are not shared.
        command = [sys.executable, "-m", "pytest", "-n", "0", "-q"]
        code = subprocess.call([*command, *(paths or [str(root / "notebooks")])], cwd=root, env=env)
        if code:
            print(
                f"The {profile} run failed (pytest exit code {code}); {results_dir} and the "
                "tables are left as they were."
            )
            return code
    # Every run passed: the new results replace the old ones in one step per file.
    for path in sorted(scratch.rglob("*.json")):
        target = results_dir / path.relative_to(scratch)
        target.parent.mkdir(parents=True, exist_ok=True)
        replace_file(target, path.read_bytes())  # beside the target, then renamed: atomic
    return 0


def refresh_main(argv):
    parser = argparse.ArgumentParser(
        prog="cnn-course report refresh",
        description="Maintainers: rerun the notebooks into the committed results/ and rewrite the tables.",
    )
    parser.add_argument(
        "--profile",
        action="append",
        choices=list(PROFILES),
        help="repeat for several; default lite",
    )
    parser.add_argument("notebooks", nargs="*", help="notebook stems (default: all)")
    args = parser.parse_args(argv)
    code = refresh(args.profile or ["lite"], args.notebooks)
    return code or main([])


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["refresh"]:
        return refresh_main(argv[1:])
    parser = argparse.ArgumentParser(prog="cnn-course report", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--results", type=pathlib.Path, help="the results folder (default: results/ of the course)"
    )
    parser.add_argument(
        "--root", type=pathlib.Path, help="the course folder (default: the one you are in)"
    )
    parser.add_argument(
        "--check", action="store_true", help="only report whether the tables are up to date"
    )
    args = parser.parse_args(argv)
    from cnnlib.tools import docs

    args.root = args.root or course_folder()
    args.results = args.results or args.root / "results"

    try:  # every generated block of the docs, these tables included (cnnlib/tools/docs.py)
        texts = docs.updated(args.root, args.results)
        stale = [document for document, (old, new) in texts.items() if old != new]
        if not args.check:
            for document in stale:
                write_atomically(args.root / document, texts[document][1])
    except (docs.DocsError, OSError) as error:
        print(f"cnn-course report: {error}", file=sys.stderr)
        return 2
    if args.check:
        if stale:
            print(f"{', '.join(stale)} out of date with {args.results}: run cnn-course report")
            return 1
        print(f"Every generated block matches its source ({args.results} for the tables)")
        return 0
    print(f"Updated the generated blocks of {', '.join(stale) or 'no file (all were current)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
