"""Inside the sandbox: run one submission in record mode, then produce its answers.

Started by the grader as ``python runner.py`` (a script, so nothing of cnnlib is imported here)
inside bubblewrap. The grader and this runner talk over the runner's own stdin and stdout, in
frames (a JSON header line ``{"name": …, "size": n}`` and n bytes):

1. the runner executes the notebook (`submission.ipynb` in its scratch folder) cell by cell in a
   kernel with ``CNNLIB_LABS_MODE=record``, every cell even after one fails, then sends the
   executed notebook (frame ``executed.ipynb``) and a frame ``ran``. A cell that ends the kernel
   (``os._exit``, a crash, ``exit()``) would lose every answer recorded before it: the notebook
   is run again from the start, in a fresh kernel, without that cell (at most RERUNS times), and
   ``ran`` names the cells skipped. A kernel killed by SIGKILL (the memory limit) is not;
2. only then does the grader send the trials (frames ``trials/…``, then ``go``);
3. the runner runs one more cell in the same kernel, ``submit.produce_all(trials, values)``, and
   sends every file the kernel wrote into the values folder (frames ``values/…``), then ``end``.

Before the kernel starts, the runner moves its stdin and stdout to private descriptors and makes
itself undumpable: the kernel inherits /dev/null and cannot open the runner's descriptors through
/proc, so nothing the student's code prints can pose as a frame. Everything the runner sends is
still read by the grader as untrusted (sizes capped, names checked, values parsed strictly).
"""

import json
import os
import sys

HEADER_LIMIT = 4096
RERUNS = 3  # at most this many cells that end the kernel are skipped, one more run each
PRODUCE_CELL = (
    "from cnnlib.labs import submit as _cnnlib_submit\n"
    "_cnnlib_submit.produce_all({trials!r}, {values!r})"
)


def write_frame(stream, name, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    header = json.dumps({"name": name, "size": len(data)}).encode("utf-8")
    stream.write(header + b"\n" + data)
    stream.flush()


def read_frame(stream, limit):
    """(name, bytes) of the next frame, or None at the end of the stream; ValueError when the
    stream is not made of frames or a frame is larger than `limit` bytes."""
    header = stream.readline(HEADER_LIMIT)
    if not header:
        return None
    if not header.endswith(b"\n"):
        raise ValueError("a frame header was cut off or too long")
    try:
        meta = json.loads(header)
        name, size = meta["name"], meta["size"]
    except (ValueError, KeyError, TypeError):
        raise ValueError("a frame header is not valid") from None
    if not isinstance(name, str) or type(size) is not int or not 0 <= size <= limit:
        raise ValueError(f"a frame is larger than {limit} bytes or badly named")
    data = stream.read(size)
    if len(data) != size:
        raise ValueError("a frame was cut off")
    return name, data


def _private_channels():
    """Move the grader's pipes off descriptors 0 and 1 (the kernel inherits /dev/null there) and
    make this process undumpable, so its descriptors cannot be opened through /proc."""
    receive, send = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    for descriptor in (0, 1, 2):
        os.dup2(null, descriptor)
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except (OSError, AttributeError):
        pass
    return os.fdopen(receive, "rb"), os.fdopen(send, "wb")


def _errors_only(notebook):
    """A copy of the executed notebook with each cell's error and the first few kilobytes of
    what it printed (the grader explains failures with them), nothing else: 50 MB of output or
    a thousand figures do not travel."""
    import copy

    import nbformat

    kept = copy.deepcopy(notebook)
    for cell in kept.cells:
        if cell.get("cell_type") != "code":
            continue
        outputs, printed = [], ""
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                error = {**output, "traceback": [], "evalue": str(output.get("evalue", ""))[:2000]}
                outputs.append(nbformat.from_dict(error))
            elif output.get("output_type") == "stream" and len(printed) < 4096:
                printed += str(output.get("text", ""))
        if printed:
            outputs.insert(0, nbformat.v4.new_output("stream", name="stdout", text=printed[:4096]))
        cell.outputs = outputs
    return kept


def _cell_error(cell):
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return f"{output.get('ename')}: {output.get('evalue')}"
    return None


def main(scratch):
    receive, send = _private_channels()
    try:
        _run(scratch, receive, send)
    except Exception as error:  # told to the grader, which reports it as this student's error
        write_frame(send, "crash", f"{type(error).__name__}: {error}"[:2000])


def _exit_status(client):
    """The ended kernel's exit status (negative: the signal that ended it), or None."""
    process = getattr(getattr(client.km, "provisioner", None), "process", None)
    try:
        return process.poll() if process is not None else None
    except Exception:
        return None


def _ended_output(status):
    """The error output a skipped cell shows in the executed notebook."""
    import nbformat

    how = f"exit status {status}" if status is not None and status >= 0 else f"signal {-status}"
    if status is None:
        how = "no exit status"
    return nbformat.v4.new_output(
        "error",
        ename="KernelEnded",
        evalue=f"the kernel ended in this cell ({how}); the notebook was run again without it",
        traceback=[],
    )


def _run(scratch, receive, send):
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    path = os.path.join(scratch, "submission.ipynb")
    skipped = {}  # {cell index: exit status} of the cells that ended the kernel
    while True:
        notebook = nbformat.read(path, as_version=4)
        client = NotebookClient(
            notebook,
            timeout=None,  # the grader stops the whole sandbox when its time is up
            kernel_name="python3",
            allow_errors=True,  # every exercise gets its chance, as when a learner runs cell by cell
            startup_timeout=600,  # a busy machine; the grader's own deadline still holds
            resources={"metadata": {"path": scratch}},
        )
        died = None
        with client.setup_kernel(env=dict(os.environ)):
            for index, cell in enumerate(notebook.cells):
                if index in skipped:
                    cell.outputs = [_ended_output(skipped[index])]
                    continue
                try:
                    client.execute_cell(cell, index)
                except (DeadKernelError, CellTimeoutError) as error:
                    status = _exit_status(client)
                    died = {"cell": index, "status": status}
                    died["error"] = f"{type(error).__name__}: {error}"[:500]
                    break
            # A kernel that ended on its own (os._exit, a crash, exit()) loses what it recorded:
            # run the notebook again without that cell, so answers recorded before it still count
            # and the trials still come only after a whole run. Not after SIGKILL (the memory
            # limit, or killed from outside) and not without end.
            if died and died["status"] != -9 and len(skipped) < RERUNS:
                skipped[died["cell"]] = died["status"]
                continue
            ended = [{"cell": i, "status": s} for i, s in sorted(skipped.items())]
            write_frame(send, "executed.ipynb", nbformat.writes(_errors_only(notebook)))
            write_frame(send, "ran", json.dumps({"died": died, "skipped": ended}))
            if died:
                return
            _produce(client, notebook, scratch, receive, send)
            return


def _produce(client, notebook, scratch, receive, send):
    """Receive the trials, run the produce cell in the same kernel, send the values."""
    import nbformat
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    trials_dir = os.path.join(scratch, "grading", "trials")
    values_dir = os.path.join(scratch, "grading", "values")
    os.makedirs(trials_dir)
    os.makedirs(values_dir)
    while True:
        frame = read_frame(receive, 256 * 2**20)
        if frame is None or frame[0] == "go":
            break
        name = os.path.basename(frame[0])
        with open(os.path.join(trials_dir, name), "wb") as file:
            file.write(frame[1])
    if frame is None:
        return
    cell = nbformat.v4.new_code_cell(PRODUCE_CELL.format(trials=trials_dir, values=values_dir))
    notebook.cells.append(cell)
    try:
        client.execute_cell(cell, len(notebook.cells) - 1)
        error = _cell_error(cell)
    except (DeadKernelError, CellTimeoutError) as stopped:
        error = f"{type(stopped).__name__}: {stopped}"
    write_frame(send, "produced", json.dumps({"error": error and error[:2000]}))
    for name in sorted(os.listdir(values_dir)):
        file = os.path.join(values_dir, name)
        if os.path.isfile(file) and not os.path.islink(file):
            with open(file, "rb") as handle:
                write_frame(send, f"values/{name}", handle.read())
    write_frame(send, "end", b"")


if __name__ == "__main__":
    main(sys.argv[1])
