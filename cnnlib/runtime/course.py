"""The course's notebooks in teaching order, each with what it teaches in one line, and how long
its lecture takes to read.

The one catalogue read by the README's notebook table, the lab's start page, the website, the
student export and the tests (a test checks it against the files in notebooks/). The reading load
is measured from the notebook files (`reading_load`), never typed: `cnn-course report` writes it
into the README and INSTRUCTORS.md beside the measured running times.
"""

import dataclasses
import json
import pathlib
import re

NOTEBOOKS = {
    "01_image_as_matrix": "pixels as numbers, channels, tensors and batches; why dense layers don't scale",
    "02_convolution": "the sliding window, kernels on a real photo, multi-channel filters, weight sharing, learned filters",
    "03_padding_and_stride": "output sizes, zero padding, strides, dilation, receptive fields",
    "04_pooling": "max / average / global pooling, what pooling buys and loses, conv-ReLU-pool blocks",
    "05_lenet5_mnist": "LeNet-5 and a modern LeNet on MNIST vs an MLP; training curves, errors, filters, feature maps",
    "06_architectures_after_lenet": "AlexNet, ZFNet, GoogLeNet's Inception module, vanishing gradients and ResNet, DenseNet",
    "07_vgg16_transfer_learning": "VGG16 on ImageNet photos, what its layers see, feature extraction and fine-tuning",
}


def notebook_paths(folder):
    """The course notebooks in `folder`, in teaching order (ValueError naming any that is missing)."""
    folder = pathlib.Path(folder)
    paths = [folder / f"{stem}.ipynb" for stem in NOTEBOOKS]
    missing = [path.name for path in paths if not path.is_file()]
    if missing:
        raise ValueError(f"{folder} lacks the course notebooks {', '.join(missing)}")
    return paths


# ---------------------------------------------------------------------------------------------
# Reading load: how long the lecture part of a notebook takes to read, from its words and lines.
# ---------------------------------------------------------------------------------------------
# Planning rates, not measurements of our learners:
# - prose: 200 words a minute, the rate of reading to learn (Carver's "learning" gear, between
#   rauding at 300 and memorising at 138; R. P. Carver, "Reading rate: theory, research, and
#   practical implications", Journal of Reading 36(2), 84-95, 1992);
# - code: 9 s a line, i.e. 400 lines an hour, the fastest pace at which reviewers still read code
#   closely (the Cisco code-review study: J. Cohen, Best Kept Secrets of Peer Code Review,
#   SmartBear, 2006).
WORDS_PER_MINUTE = 200
SECONDS_PER_CODE_LINE = 9
RATE_SOURCE = (
    f"{WORDS_PER_MINUTE} words a minute (reading to learn: Carver, *Journal of Reading* 36, 1992) "
    f"and {SECONDS_PER_CODE_LINE} s per visible code line (400 lines an hour, the pace of careful "
    "code review: Cohen, *Best Kept Secrets of Peer Code Review*, 2006)"
)

# The one aside format of the course: what the lecture decks say, and where they are wrong.
ASIDE = re.compile(r"^```\{admonition\} On the slides[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
_HIDDEN_TAGS = {"verify", "solution", "bootstrap"}
_EXERCISES = re.compile(r"^## Exercises", re.M)
_SECTION = re.compile(r"^## (.+?)\s*$", re.M)
_WORD = re.compile(r"[^\W_]+(?:['’.,-][^\W_]+)*")
_LINK = re.compile(r"(!?)\[([^\]]*)\]\([^)]*\)")  # a link or image: its text is read, not its URL
# HTML comments and tags, fence lines (an aside's "```{admonition} On the slides"), its options
_MARKUP = re.compile(r"<!--.*?-->|</?[A-Za-z][^>]*>|^```[^\n]*$|^:\w+:[^\n]*$", re.S | re.M)


def prose_words(markdown):
    """The words a reader reads in a markdown cell: link and image addresses, HTML tags and
    comments, fence lines and admonition options (`:class: note`) left out; a number or a formula symbol counts
    as a word."""
    text = _MARKUP.sub(" ", _LINK.sub(lambda m: "" if m.group(1) else m.group(2), markdown))
    return len(_WORD.findall(text))


def code_lines(source):
    """The non-blank lines of a code cell (comments included: they are read too)."""
    return sum(1 for line in source.splitlines() if line.strip())


@dataclasses.dataclass(frozen=True)
class ReadingLoad:
    words: int  # the lecture's prose, asides included
    aside_words: int  # of which in the "On the slides" asides
    code_lines: int  # visible lecture code (collapsed checks, the set-up bootstrap left out)

    @property
    def minutes(self):
        """The reading time at the stated rates (RATE_SOURCE), asides included."""
        return self.words / WORDS_PER_MINUTE + self.code_lines * SECONDS_PER_CODE_LINE / 60

    @property
    def minutes_without_asides(self):
        return self.minutes - self.aside_words / WORDS_PER_MINUTE


def section_loads(path):
    """{section: ReadingLoad} of the lecture part of notebook `path` (every cell before
    "## Exercises": the exercises' own text is in their time estimates, cnnlib/labs/plan.py), one
    entry per "## " section in order, the first (key None) for what comes before the first one."""
    cells = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))["cells"]
    counts, section = {None: [0, 0, 0]}, None
    for cell in cells:
        source = "".join(cell["source"])
        metadata = cell.get("metadata", {})
        if cell["cell_type"] == "markdown" and _EXERCISES.search(source):
            break
        if set(metadata.get("tags", [])) & _HIDDEN_TAGS:
            continue
        if cell["cell_type"] == "markdown":
            # A cell may end one section and start the next: split it at its "## " headings.
            starts = [0] + [m.start() for m in _SECTION.finditer(source)] + [len(source)]
            for begin, end in zip(starts, starts[1:]):
                part = source[begin:end]
                heading = _SECTION.match(part)
                if heading:
                    section = heading.group(1)
                    counts.setdefault(section, [0, 0, 0])
                counts[section][0] += prose_words(part)
                counts[section][1] += sum(prose_words(body) for body in ASIDE.findall(part))
        elif cell["cell_type"] == "code" and not metadata.get("jupyter", {}).get("source_hidden"):
            counts[section][2] += code_lines(source)
    return {name: ReadingLoad(*numbers) for name, numbers in counts.items()}


def reading_load(path):
    """The reading load of the lecture part of notebook `path` (see `section_loads`)."""
    loads = section_loads(path).values()
    return ReadingLoad(
        *(sum(getattr(load, f.name) for load in loads) for f in dataclasses.fields(ReadingLoad))
    )
