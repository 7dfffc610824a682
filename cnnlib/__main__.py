"""cnn-course: every command of the course behind one name (also `python -m cnnlib`)."""

import importlib
import sys

from cnnlib.runtime.env import tolerate_any_output_encoding

# command: (module whose main(argv) runs it, words put before the user's arguments, summary)
COMMANDS = {
    "lab": ("cnnlib.tools.lab", [], "open the course in JupyterLab"),
    "cache": ("cnnlib.tools.cache", [], "the download cache: status, fill, verify, pack, unpack"),
    "site": ("cnnlib.tools.site", [], "build the course website"),
    "student": ("cnnlib.labs.__main__", ["student"], "the notebooks without solutions"),
    "grade": ("cnnlib.labs.__main__", ["grade"], "grade submitted notebooks"),
    "exercises": ("cnnlib.labs.__main__", ["list"], "list every exercise"),
    "key": ("cnnlib.labs.__main__", ["key"], "a printable answer key from the solutions"),
    "report": ("cnnlib.tools.report", [], "tables from results/: refresh, check"),
    "distributed": ("cnnlib.tools.distributed", [], "multi-worker training"),
    "bootstrap": ("cnnlib.tools.bootstrap", [], "write the notebooks' Colab/Kaggle install cell"),
}


def usage():
    width = max(map(len, COMMANDS))
    lines = ["usage: cnn-course COMMAND [ARGUMENTS …]", "", "commands:"]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, _, summary) in COMMANDS.items()]
    lines += ["", "`cnn-course COMMAND --help` describes a command's arguments."]
    return "\n".join(lines)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    tolerate_any_output_encoding()  # ✓ and ✗ reach any terminal or log, whatever its encoding
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"cnn-course: no command {name!r}.\n\n{usage()}", file=sys.stderr)
        return 2
    module, before, _ = COMMANDS[name]
    return importlib.import_module(module).main([*before, *rest]) or 0


if __name__ == "__main__":
    sys.exit(main())
