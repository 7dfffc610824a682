"""The course as a static website: every notebook executed and exported to HTML, plus an index.

    python -m cnnlib.tools.site OUTDIR                  # execute (ci profile) and export; about 3 min
    python -m cnnlib.tools.site OUTDIR --profile lite   # the lite profile's outputs instead

The pages are the student versions (no solutions: the site is for reading the course, not for
copying answers), executed offline, exported with nbconvert's own HTML template (figures are
embedded, so the folder is self-contained), each with a bar linking to the index and to the
previous and next notebook, and a banner wherever a stand-in or a rehearsal replaced real data or
weights. Nothing is downloaded at build time. To publish, copy OUTDIR to any static host (GitHub
Pages, an intranet web server) or open OUTDIR/index.html directly.
"""

import argparse
import html
import os
import pathlib
import sys
import tempfile
import time

NOTICES = {
    "REHEARSAL": "REHEARSAL: this page was built from rehearsal files that only mimic the real "
    "data and weights; none of its numbers is a result.",
    "STAND-IN": "STAND-IN: the real data or pretrained weights were not available when this page "
    "was built, so parts of it ran on a stand-in; numbers marked STAND-IN are not results.",
}
STYLE = (
    "<style>.course-bar{font:15px system-ui,sans-serif;padding:8px 16px;background:#f3f4f6;"
    "border-bottom:1px solid #d1d5db;display:flex;gap:24px}.course-bar a{text-decoration:none}"
    ".course-notice{font:15px system-ui,sans-serif;padding:10px 16px;background:#fff4d6;"
    "border-bottom:2px solid #e0a800;color:#5c4400}</style>"
)


def _outputs_text(notebook):
    return "".join(
        str(output.get("text", "")) + str(output.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )


def notices_for(notebook):
    """{marker: message} for the banners a page needs: a stand-in or a rehearsal shows at the top."""
    text = _outputs_text(notebook)
    return {marker: message for marker, message in NOTICES.items() if marker in text}


def _bar(stems, index):
    previous = (
        f'<a href="{stems[index - 1]}.html">← {stems[index - 1]}</a>'
        if index > 0
        else "<span></span>"
    )
    following = (
        f'<a href="{stems[index + 1]}.html">{stems[index + 1]} →</a>'
        if index + 1 < len(stems)
        else ""
    )
    return (
        f'<nav class="course-bar">{previous}<a href="index.html">All notebooks</a>{following}</nav>'
    )


def export_page(notebook, stems, index, notices):
    """One notebook as a self-contained HTML page with the course's navigation bar and banners."""
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    exporter = HTMLExporter(template_name="lab")
    # The pages come from the student versions already; this keeps a solution out whatever the input.
    exporter.register_preprocessor(
        TagRemovePreprocessor(remove_cell_tags={"solution"}), enabled=True
    )
    body, _ = exporter.from_notebook_node(notebook)
    for stem in stems:  # links between notebooks point to their pages on the site
        body = body.replace(f'href="{stem}.ipynb', f'href="{stem}.html')
    banners = "".join(
        f'<div class="course-notice">⚠ {html.escape(n)}</div>' for n in notices.values()
    )
    header = STYLE + _bar(stems, index) + banners
    opening = body.index(">", body.index("<body")) + 1
    return body[:opening] + header + body[opening:]


def index_page(stems, profile, built, notices):
    from cnnlib.runtime.course import NOTEBOOKS

    rows = "".join(
        f'<tr><td>{stem[:2]}</td><td><a href="{stem}.html">{html.escape(stem[3:].replace("_", " "))}</a></td>'
        f"<td>{html.escape(NOTEBOOKS.get(stem, ''))}</td>"
        f"<td>{'⚠ ' + ', '.join(notices[stem]) if notices[stem] else ''}</td></tr>"
        for stem in stems
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Convolutional neural networks, hands on</title>"
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
        "table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:6px 10px;text-align:left}</style>"
        "</head><body><h1>Convolutional neural networks, hands on</h1>"
        "<p>A course in Jupyter notebooks, Keras 3 on TensorFlow: from what a computer sees in a photo "
        "to fine-tuning VGG16. Read the notebooks in order; to run them and do the exercises, clone the "
        "repository and follow its README.</p>"
        f"<table><tr><th>#</th><th>notebook</th><th>what you learn</th><th>notes</th></tr>{rows}</table>"
        f"<p><small>Built {html.escape(built)} from the notebooks executed in the <code>{html.escape(profile)}</code> "
        "profile, offline, without the solutions of the exercises.</small></p></body></html>"
    )


def build_site(executed_dir, out_dir, profile="ci"):
    """Export every executed notebook of `executed_dir` into `out_dir`; return the pages written."""
    import nbformat

    paths = sorted(pathlib.Path(executed_dir).glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no executed course notebooks (NN_name.ipynb) in {executed_dir}")
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stems = [p.stem for p in paths]
    notebooks = {p.stem: nbformat.read(p, as_version=4) for p in paths}
    notices = {stem: notices_for(notebook) for stem, notebook in notebooks.items()}
    written = []
    for index, stem in enumerate(stems):
        page = out_dir / f"{stem}.html"
        page.write_text(export_page(notebooks[stem], stems, index, notices[stem]), encoding="utf-8")
        written.append(page)
    index = out_dir / "index.html"
    index.write_text(
        index_page(stems, profile, time.strftime("%Y-%m-%d %H:%M"), notices), encoding="utf-8"
    )
    return [index, *written]


def execute(notebook, folder, extra_env=None, timeout=3600):
    """Run `notebook` (an nbformat node, changed in place) in a fresh kernel started in `folder`.

    `extra_env` is added to this process's environment for the kernel only, so nothing here has
    to change os.environ and put it back.
    """
    from nbclient import NotebookClient

    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute(env={**os.environ, **(extra_env or {})})
    return notebook


def execute_student_versions(source_dir, work_dir, profile):
    """Write the student versions into `work_dir` and execute each in place (offline)."""
    import nbformat

    from cnnlib.labs.student import write_student_versions

    env = {
        "CNNLIB_PROFILE": profile,
        "CNNLIB_OFFLINE": os.environ.get("CNNLIB_OFFLINE", "1"),
        "CNNLIB_RESULTS_DIR": str(pathlib.Path(work_dir) / "results"),
    }
    for path in write_student_versions(source_dir, work_dir):
        print(f"  executing {path.name}", flush=True)
        notebook = execute(nbformat.read(path, as_version=4), source_dir, env)
        nbformat.write(notebook, path)


def main(argv=None):
    from cnnlib.runtime.session import course_root

    parser = argparse.ArgumentParser(
        prog="python -m cnnlib.tools.site", description=__doc__.splitlines()[0]
    )
    parser.add_argument("outdir", type=pathlib.Path)
    parser.add_argument("--profile", choices=("ci", "lite", "full"), default="ci")
    args = parser.parse_args(argv)
    root = course_root() or pathlib.Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory(prefix="course-site-") as work:
        print(f"Executing the student notebooks in the {args.profile} profile:")
        execute_student_versions(root / "notebooks", work, args.profile)
        pages = build_site(work, args.outdir, args.profile)
    print(f"Wrote {len(pages)} pages to {args.outdir}; open {args.outdir / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
