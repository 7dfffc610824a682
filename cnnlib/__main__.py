"""cnn-course: every command of the course behind one name (also `python -m cnnlib`)."""

import importlib
import importlib.util
import sys

from cnnlib.runtime import hosted, locations
from cnnlib.runtime.env import tolerate_any_output_encoding

# command: (module whose main(argv) runs it, words put before the user's arguments, summary)
COMMANDS = {
    "lab": ("cnnlib.tools.lab", [], "open the course in JupyterLab"),
    "cache": ("cnnlib.tools.cache", [], "the download cache: status, fill, verify, pack, unpack"),
    "site": ("cnnlib.tools.site", [], "build the course website"),
    "student": ("cnnlib.labs.__main__", ["student"], "the notebooks without solutions"),
    "grade": ("cnnlib.labs.__main__", ["grade"], "grade submitted notebooks"),
    "exercises": ("cnnlib.labs.__main__", ["exercises"], "list every exercise"),
    "key": ("cnnlib.labs.__main__", ["key"], "a printable answer key from the solutions"),
    "report": ("cnnlib.tools.report", [], "tables from results/: refresh, check"),
    "distributed": ("cnnlib.tools.distributed", [], "multi-worker training"),
    "bootstrap": ("cnnlib.tools.bootstrap", [], "write the notebooks' Colab/Kaggle install cell"),
}

# Commands that work only in a checkout of the course (what they read there), unless the user
# names the folder with the option given.
NEEDS_CHECKOUT = {
    "lab": ("its notebooks", None),
    "site": ("website/ and notebooks/", None),
    "report": ("results/ and README.md", "--root"),
    "bootstrap": ("pyproject.toml and notebooks/", None),
}
# Commands that need an extra of the package: (extra, modules it brings that they import).
NEEDS_EXTRA = {
    "site": ("site", ("sphinx", "myst_nb", "nbformat", "nbclient", "nbconvert")),
    "grade": ("grade", ("nbformat", "nbclient", "ipykernel", "nbconvert")),
    "bootstrap": ("test", ("nbformat",)),
}


def usage():
    width = max(map(len, COMMANDS))
    lines = ["usage: cnn-course COMMAND [ARGUMENTS …]", "", "commands:"]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, _, summary) in COMMANDS.items()]
    lines += ["", "`cnn-course COMMAND --help` describes a command's arguments."]
    return "\n".join(lines)


def _install_command(extra):
    """How to add `extra` where this package came from: the checkout, or the repository's tag."""
    if locations.course_root() is not None:
        return f"pip install -e '.[{extra}]'"
    address, version = hosted.installed_project()
    if address and version and not hosted.is_placeholder(address):
        return f"pip install '{hosted.PACKAGE}[{extra}] @ git+{address}@{hosted.git_ref(version)}'"
    return f"pip install -e '.[{extra}]' in a checkout of the course"


def missing_requirement(name, arguments):
    """One sentence saying what `cnn-course name` lacks here (a checkout, an extra), or None."""
    if name in NEEDS_CHECKOUT and locations.course_root() is None:
        reads, option = NEEDS_CHECKOUT[name]
        if option is None or option not in arguments:
            address, _ = hosted.installed_project()
            clone = (
                f"git clone {address}"
                if address and not hosted.is_placeholder(address)
                else "clone the course's repository first"
            )
            named = f" or name one with {option}" if option else ""
            return (
                f"cnn-course {name} works in a checkout of the course, where it reads {reads}: "
                f"run it from inside one{named} ({clone})."
            )
    if name in NEEDS_EXTRA:
        extra, modules = NEEDS_EXTRA[name]
        absent = [module for module in modules if importlib.util.find_spec(module) is None]
        if absent:
            return (
                f"cnn-course {name} needs the package's {extra!r} extra ({', '.join(absent)} "
                f"not installed): {_install_command(extra)}."
            )
    return None


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
    if not {"-h", "--help"} & set(rest):
        problem = missing_requirement(name, rest)
        if problem:
            print(problem, file=sys.stderr)
            return 2
    module, before, _ = COMMANDS[name]
    return importlib.import_module(module).main([*before, *rest]) or 0


if __name__ == "__main__":
    sys.exit(main())
