"""Training that survives a kernel restart: `model.fit` with a backup at the end of every epoch.

Keras's `BackupAndRestore` callback saves the weights, the optimizer state and the epoch number
after each epoch; when `fit` starts again with the same backup folder it restores them and goes
on from the next epoch. A `CSVLogger` beside it keeps the per-epoch metrics, so the history that
comes back covers every epoch, also those run before the restart. Both are deleted once training
completes, so a finished notebook leaves nothing behind.
"""
import csv
import json
import pathlib
import shutil

from cnnlib.runtime import course_root

CHECKPOINT_FOLDER = "checkpoints"  # ignored by git (.gitignore)


def checkpoint_dir(notebook, profile, name):
    """checkpoints/<notebook>/<profile>/<name> in the course folder (else under Keras's cache)."""
    from cnnlib.data import keras_cache_dir

    for label, value in (("notebook", notebook), ("profile", profile), ("name", name)):
        if not isinstance(value, str) or not value or "/" in value or value.startswith("."):
            raise ValueError(f"{label} must be a plain folder name, got {value!r}")
    root = course_root() or keras_cache_dir()
    return root / CHECKPOINT_FOLDER / notebook / profile / name


def saved_epoch(folder):
    """How many epochs the backup in `folder` has completed (0 when there is none)."""
    metadata = pathlib.Path(folder) / "backup" / "training_metadata.json"
    if not metadata.exists():
        return 0
    return int(json.loads(metadata.read_text())["epoch"])


def _read_history(path):
    history = {}
    with open(path, newline="") as file:
        for row in csv.DictReader(file):
            for key, value in row.items():
                if key != "epoch" and value != "NA":  # NA: a metric this run does not compute
                    history.setdefault(key, []).append(float(value))
    return history


def resumable_fit(model, x, y, folder, epochs, **fit_kwargs):
    """`model.fit(x, y, epochs=epochs, **fit_kwargs)` that backs up to `folder` after every epoch.

    Calling it again after an interruption (a crash, a kernel restart) with a freshly built model
    and the same `folder` resumes at the first unfinished epoch. Returns the `History` of the call,
    whose `.history` lists all epochs, those before the interruption included.
    """
    import keras

    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    folder = pathlib.Path(folder)
    done = saved_epoch(folder)
    if done:
        print(f"Resuming {model.name} from the backup in {folder}: {done} of {epochs} epochs already done.")
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "history.csv"
    if not done and log.exists():
        log.unlink()  # a log without a backup belongs to an older, unfinished run
    callbacks = [
        keras.callbacks.BackupAndRestore(backup_dir=str(folder / "backup")),
        keras.callbacks.CSVLogger(str(log), append=True),
        *fit_kwargs.pop("callbacks", []),
    ]
    if not model.built:
        model.build((None, *x.shape[1:]))  # BackupAndRestore needs the weights to exist
    history = model.fit(x, y, epochs=epochs, callbacks=callbacks, **fit_kwargs)
    history.history = _read_history(log)
    shutil.rmtree(folder)  # training completed: the backup has done its job
    return history


def train(run, model, x, y, name=None, **fit_kwargs):
    """Fit `model` for the notebook's run: resumable when the profile asks for checkpoints.

    `name` (default: the model's name) keeps the backups of several models apart.
    """
    if run.settings.checkpoints:
        folder = checkpoint_dir(run.notebook, run.profile, name or model.name)
        history = resumable_fit(model, x, y, folder, **fit_kwargs)
        for parent in (folder.parent, folder.parent.parent):  # the profile's and notebook's folders, once empty
            if parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
        return history
    return model.fit(x, y, **fit_kwargs)
