"""Regenerate the README's tables from results/<profile>/<notebook>.json and results/benchmark/.

    python -m cnnlib.tools.report                          # rewrite the tables in README.md
    python -m cnnlib.tools.report --check                  # exit 1 if README.md is out of date
    python -m cnnlib.tools.report refresh --profile lite   # rerun the notebooks into results/, then the tables

A learner's run writes to my_results/ (ignored by git); only `refresh` (or running the notebooks
with CNNLIB_RESULTS_DIR=results by hand) changes the committed results/.

The tables live between `<!-- NAME:start -->` / `<!-- NAME:end -->` markers, NAME being
notebooks, benchmark or results; nothing outside them is touched.
"""

import argparse
import json
import os
import pathlib
import platform
import re
import subprocess
import sys

from cnnlib.runtime.profiles import PROFILES

ROOT = pathlib.Path(__file__).resolve().parents[2]

# What each notebook teaches, for the README's notebook table.
LESSONS = {
    "01_image_as_matrix": "pixels as numbers, channels, tensors and batches; why dense layers don't scale",
    "02_convolution": "the sliding window, kernels on a real photo, multi-channel filters, weight sharing, learned filters",
    "03_padding_and_stride": "output sizes, zero padding, strides, dilation, receptive fields",
    "04_pooling": "max / average / global pooling, what pooling buys and loses, conv-ReLU-pool blocks",
    "05_lenet5_mnist": "LeNet-5 and a modern LeNet on MNIST vs an MLP; training curves, errors, filters, feature maps",
    "06_architectures_after_lenet": "AlexNet, ZFNet, GoogLeNet's Inception module, vanishing gradients and ResNet, DenseNet",
    "07_vgg16_transfer_learning": "VGG16 on ImageNet photos, what its layers see, feature extraction and fine-tuning",
}


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


def load_results(results_dir):
    """{profile: {notebook: result}} from results/<profile>/*.json."""
    found = {}
    for profile in PROFILES:
        for path in sorted((results_dir / profile).glob("*.json")):
            found.setdefault(profile, {})[path.stem] = json.loads(path.read_text())
    return found


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
    path = results_dir / "benchmark" / "course_times.json"
    return json.loads(path.read_text()).get("profiles", {}) if path.exists() else {}


def _minutes(seconds):
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def notebook_table(results_dir):
    """Lessons and whole-notebook times per profile, from the course-time benchmark."""
    times = course_times(results_dir)
    header = "| notebook | what you learn | " + " | ".join(f"time, {p}" for p in PROFILES) + " |"
    rows = [header, "|" + " --- |" * (2 + len(PROFILES))]
    for path in sorted(
        (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")
    ):  # lessons, not a start page
        cells = []
        for profile in PROFILES:
            seconds = times.get(profile, {}).get("notebooks", {}).get(path.stem)
            cells.append(_minutes(seconds) if seconds is not None else "not measured")
        rows.append(
            f"| [{path.stem}](notebooks/{path.name}) | {LESSONS.get(path.stem, '')} | "
            + " | ".join(cells)
            + " |"
        )
    totals = [_minutes(times[p]["total_seconds"]) if p in times else "—" for p in PROFILES]
    rows.append("| **whole course** | | " + " | ".join(f"**{t}**" for t in totals) + " |")
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
                f"| {stem} | {profile} | {result['device']} | {result['seconds']:.0f} s | "
                f"{result['data_source']} | {figures} |"
            )
    return "\n".join(rows)


def benchmark_table(results_dir):
    path = results_dir / "benchmark" / "conv_benchmark.json"
    if not path.exists():
        return "Not measured yet: run `python benchmarks/conv_benchmark.py`."
    bench = json.loads(path.read_text())
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


def _replace(text, name, table):
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"README.md has no <!-- {name}:start --> … <!-- {name}:end --> markers")
    return pattern.sub(lambda m: m.group(1) + table + "\n" + m.group(2), text)


def render(readme_text, results_dir):
    """The README text with its three generated tables rebuilt from `results_dir`."""
    results = load_results(results_dir)
    text = _replace(readme_text, "notebooks", notebook_table(results_dir))
    text = _replace(text, "benchmark", benchmark_table(results_dir))
    return _replace(text, "results", results_table(results))


def refresh(profiles, notebooks=(), results_dir=None):
    """Run the notebooks (all, or those named) in each profile with their results going to the
    committed results/ folder; return pytest's exit code (0 when every notebook passed)."""
    results_dir = pathlib.Path(results_dir or ROOT / "results")
    paths = [
        str(ROOT / "notebooks" / (name if name.endswith(".ipynb") else name + ".ipynb"))
        for name in notebooks
    ]
    for profile in profiles:
        env = dict(os.environ, CNNLIB_PROFILE=profile, CNNLIB_RESULTS_DIR=str(results_dir))
        print(f"Running the notebooks in the {profile} profile; results go to {results_dir}")
        code = subprocess.call(
            # -n 0: one notebook at a time, so the times the notebooks record are not shared.
            [
                sys.executable,
                "-m",
                "pytest",
                "-n",
                "0",
                "-q",
                *(paths or [str(ROOT / "notebooks")]),
            ],
            cwd=ROOT,
            env=env,
        )
        if code:
            print(f"The {profile} run failed (pytest exit code {code}); README.md left as it was.")
            return code
    return 0


def refresh_main(argv):
    parser = argparse.ArgumentParser(
        prog="python -m cnnlib.tools.report refresh",
        description="Maintainers: rerun the notebooks into the committed results/ and rewrite README.md's tables.",
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=pathlib.Path, default=ROOT / "results")
    parser.add_argument("--readme", type=pathlib.Path, default=ROOT / "README.md")
    parser.add_argument(
        "--check", action="store_true", help="only report whether README.md is up to date"
    )
    args = parser.parse_args(argv)
    current = args.readme.read_text()
    updated = render(current, args.results)
    if args.check:
        if updated != current:
            print(
                f"{args.readme} is out of date with {args.results}: run python -m cnnlib.tools.report"
            )
            return 1
        print(f"{args.readme} matches {args.results}")
        return 0
    args.readme.write_text(updated)
    print(f"Updated the tables in {args.readme} from {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
