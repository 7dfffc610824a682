"""Training that survives a kernel restart: `model.fit` with a backup at the end of every epoch.

Keras's `BackupAndRestore` callback saves the weights, the optimizer state and the epoch number
after each epoch; when `fit` starts again with the same backup folder it restores them and goes
on from the next epoch. A `CSVLogger` beside it keeps the per-epoch metrics, so the history that
comes back covers every epoch, also those run before the restart.

A backup resumes only the training it was made for: ``setup.json`` beside it records the model
(architecture and weight shapes), the optimizer and its settings, the loss, the data (size and a
cheap fingerprint), the batch size and the epochs. A backup of another setup, or one that cannot
be read, is announced in one sentence and training starts from scratch. Only the files this
module writes (``backup/``, ``history.csv``, ``setup.json``, ``.lock``) are ever deleted, never the
folder's other contents.

Three more things keep the history honest. A second process (another kernel running the same
notebook) that finds the folder in use trains without a backup and says so, instead of both
writing one backup. The epoch's CSV row is written before its backup, so a kill between the two
repeats an epoch (its row is then kept once) rather than losing one. And a model whose previous
training in this kernel was interrupted before its first backup gets back the weights it had
when that training began, with one sentence, instead of silently continuing half-trained.
"""

import csv
import hashlib
import io
import json
import os
import pathlib
import shutil
import stat
import weakref

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; a second process is not detected there
    fcntl = None

import numpy as np

from cnnlib.runtime import locations
from cnnlib.runtime.locations import CHECKPOINT_FOLDER  # noqa: F401  (ignored by git, see .gitignore)

BACKUP, HISTORY, SETUP, LOCK = "backup", "history.csv", "setup.json", ".lock"
_warned_folders = set()
_unfinished = weakref.WeakKeyDictionary()  # model → its variables when a fit began (until it ends)


def checkpoint_dir(notebook, profile, name):
    """checkpoints/<notebook>/<profile>/<name> in the course folder, else under
    `locations.checkpoint_base()` (next to the notebook on a hosted runtime, the user's cache folder
    elsewhere).

    The user's cache folder also takes over, with one sentence, when the course folder is
    read-only (a shared or mounted checkout), and when a folder on the way belongs to another
    account or others may write to it (a checkout shared by a group): someone who can write there
    could plant a link where a backup or history.csv goes, and the training would write through it.
    The folders are made private to the user (mode 0700).
    """
    for label, value in (("notebook", notebook), ("profile", profile), ("name", name)):
        if (
            not isinstance(value, str)
            or not value
            or "/" in value
            or "\\" in value
            or value.startswith(".")
        ):
            raise ValueError(f"{label} must be a plain folder name, got {value!r}")
    # checkpoints/ in the course folder; outside one, cnn-course-runs/ on Colab and Kaggle (the
    # set-up message says so), else the user's cache folder.
    preferred = locations.checkpoint_base()
    fallback = locations.user_cache_dir() / CHECKPOINT_FOLDER
    base, problem = preferred, None
    if not locations.writable(preferred):
        problem = locations.why_not_writable(preferred)
    else:
        problem = _not_private(preferred, (notebook, profile, name))
    if problem and preferred != fallback:
        base = fallback
        if preferred not in _warned_folders:
            _warned_folders.add(preferred)
            print(
                f"⚠ Cannot write checkpoints to {preferred} ({problem}); keeping them in {base} instead."
            )
    return base / notebook / profile / name


def _not_private(base, parts):
    """Why the folders base/parts[0]/… cannot hold this user's checkpoints safely (None when they
    can): each existing one must be a real folder of this user that no one else may write to.
    Missing ones are made with mode 0700; the user's own folders are made private."""
    if not hasattr(os, "getuid"):
        return None
    folder = base
    for part in (None, *parts):
        folder = folder if part is None else folder / part
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            pass
        except OSError:
            return None  # not ours to make: resumable_fit then trains without a backup
        info = os.lstat(folder)
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
            return f"{folder} is a link or not a folder"
        if info.st_uid != os.getuid():
            return f"{folder} belongs to another user"
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            try:
                os.chmod(folder, stat.S_IMODE(info.st_mode) & ~(stat.S_IWGRP | stat.S_IWOTH))
            except OSError:
                return f"others may write to {folder}"
    return None


def saved_epoch(folder):
    """How many epochs the backup in `folder` has completed (0 when there is none or it is unreadable)."""
    metadata = pathlib.Path(folder) / BACKUP / "training_metadata.json"
    try:
        return int(json.loads(metadata.read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _read_history(path):
    """The per-epoch metrics of history.csv; an epoch written twice (run again after a kill
    between its row and its backup) counts once, with its last row."""
    rows = {}
    with open(path, newline="") as file:
        for row in csv.DictReader(file):
            rows[int(row["epoch"])] = row
    history = {}
    for _, row in sorted(rows.items()):
        for key, value in row.items():
            if key != "epoch" and value not in ("NA", None):  # NA: a metric not computed
                history.setdefault(key, []).append(float(value))
    return history


# ---------------------------------------------------------------------------------------------
# What a backup was made for
# ---------------------------------------------------------------------------------------------


def _without_names(value):
    """A layer config without its (session-dependent) names, so a rebuilt model compares equal."""
    if isinstance(value, dict):
        return {k: _without_names(v) for k, v in sorted(value.items()) if k not in ("name", "seed")}
    if isinstance(value, (list, tuple)):
        return [_without_names(v) for v in value]
    return value


def _layers(model):
    for layer in model.layers:
        yield layer
        if (
            hasattr(layer, "layers") and layer.layers
        ):  # a nested model, e.g. VGG16 inside a transfer model
            yield from _layers(layer)


def _digest(value):
    text = json.dumps(value, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _architecture(model):
    layers = []
    for layer in _layers(model):
        config = None  # a nested model counts through its own layers, listed after it
        if not getattr(layer, "layers", None):
            try:
                config = _without_names(layer.get_config())
            except Exception:  # a custom layer without get_config: its class still counts
                config = None
        layers.append([type(layer).__name__, config])
    return _digest(layers)


def _weights(model):
    return [[list(w.shape), bool(w.trainable)] for w in model.weights]


def _plain_number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def _optimizer(model):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None, None, None
    try:
        config = optimizer.get_config()
    except Exception:
        config = {}
    rate = config.pop("learning_rate", None)
    return (
        type(optimizer).__name__,
        _plain_number(rate) if not isinstance(rate, dict) else rate,
        _without_names(config),
    )


def _loss(model):
    loss = getattr(model, "loss", None)
    if loss is None or isinstance(loss, str):
        return loss
    if callable(loss) and hasattr(loss, "get_config"):
        return [type(loss).__name__, _without_names(loss.get_config())]
    return getattr(loss, "__name__", type(loss).__name__)


def data_fingerprint(x):
    """Shape, dtype and a hash of a sample of at most ~100,000 values (cheap even for all of MNIST)."""
    if x is None:
        return None
    if hasattr(x, "element_spec"):  # a tf.data.Dataset: its structure and length, not its content
        cardinality = int(x.cardinality()) if hasattr(x, "cardinality") else None
        return f"dataset {x.element_spec!r}, {cardinality} batches"
    array = np.asarray(x)
    flat = array.reshape(-1)
    step = max(1, flat.size // 100_000)
    sample = np.ascontiguousarray(flat[::step])
    digest = hashlib.sha256(sample.tobytes()).hexdigest()[:12]
    return f"{'×'.join(map(str, array.shape))} {array.dtype}, sample hash {digest}"


# fit's arguments that change nothing the backup holds
_NOT_SETUP = ("callbacks", "verbose")


def _fit_argument(value):
    """A readable, comparable stand-in for one of fit's arguments (arrays by fingerprint)."""
    if isinstance(value, (list, tuple)):
        return [_fit_argument(v) for v in value]
    if isinstance(value, dict):
        return {
            str(k): _fit_argument(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))
        }
    if hasattr(value, "element_spec") or (hasattr(value, "shape") and hasattr(value, "dtype")):
        return data_fingerprint(value)
    return value


def training_setup(model, x, y, epochs, fit_kwargs):
    """Everything a backup must agree with to be resumed, as a flat dict of readable values:
    the model, its optimizer and loss, the data, and every argument of fit that shapes the
    training (validation data, class and sample weights, shuffling, batch size, …)."""
    optimizer, rate, optimizer_settings = _optimizer(model)
    setup = {  # the model's name is not in it: Keras numbers unnamed models anew in every session
        "architecture": _architecture(model),
        "weight shapes": _digest(_weights(model)),
        "optimizer": optimizer,
        "learning rate": rate,
        "optimizer settings": _digest(optimizer_settings),
        "loss": _digest(_loss(model)) if not isinstance(_loss(model), str) else _loss(model),
        "training data": data_fingerprint(x),
        "labels": data_fingerprint(y),
        "batch size": fit_kwargs.get("batch_size"),
        "epochs": epochs,
        "validation split": fit_kwargs.get("validation_split"),
    }
    for key, value in sorted(fit_kwargs.items()):
        if key not in _NOT_SETUP and key not in ("batch_size", "validation_split"):
            setup[key.replace("_", " ")] = _fit_argument(value)
    return json.loads(json.dumps(setup, default=repr))  # as it reads back from setup.json


def _describe_differences(saved, current):
    changes = []
    for key, now in current.items():
        before = saved.get(key)
        if before == now:
            continue
        if (
            key
            in ("architecture", "weight shapes", "optimizer settings", "training data", "labels")
            or isinstance(before, (dict, list))
            or isinstance(now, (dict, list))
            or len(_short(before)) > 30
            or len(_short(now)) > 30
        ):
            changes.append(f"{key} changed")
        else:
            changes.append(f"{key} {_short(before)} → {_short(now)}")
    return ", ".join(changes)


def _short(value):
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _remove_own_files(folder):
    """Delete what resumable_fit wrote in `folder` (and `folder` itself once empty); nothing else."""
    shutil.rmtree(folder / BACKUP, ignore_errors=True)
    for name in (HISTORY, SETUP, LOCK):
        (folder / name).unlink(missing_ok=True)
    try:
        folder.rmdir()  # only succeeds when nothing else is in it
    except OSError:
        pass


def _snapshot(model):
    variables = list(model.weights) + list(getattr(model.optimizer, "variables", []) or [])
    return [(v, np.array(v.numpy())) for v in variables]


def _backup_loads(model, folder):
    """True when the backed-up weights load into `model` (restoring them if they do not)."""
    weights = folder / BACKUP / "latest.weights.h5"
    if not weights.exists():
        return True
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    saved = _snapshot(model)
    try:
        model.load_weights(str(weights))
        return True
    except Exception:
        for variable, value in saved:
            variable.assign(value)
        return False


def _usable_backup(model, folder, setup):
    """The number of epochs to resume from, or 0 after announcing why the backup in `folder` is not used."""
    if not (folder / BACKUP).exists():
        return 0
    label = f"The saved training of {model.name} in {folder}"
    try:
        saved = json.loads((folder / SETUP).read_text())
        if not isinstance(saved, dict):
            raise ValueError("not a dict")
    except (OSError, ValueError):
        print(
            f"{label} does not say what setup it was made for (setup.json missing or unreadable); starting from scratch."
        )
        return 0
    if saved != setup:
        print(
            f"{label.replace(' in ' + str(folder), '')} was for a different setup "
            f"({_describe_differences(saved, setup)}); starting from scratch."
        )
        return 0
    done = saved_epoch(folder)
    if not done or not _backup_loads(model, folder):
        print(f"{label} cannot be read (a damaged or incomplete backup); starting from scratch.")
        return 0
    return done


def _lock(folder):
    """An open lock file on `folder` held by this process, or None when another process holds it."""
    handle = open(folder / LOCK, "a")
    if fcntl is None:
        return handle
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def _restart_if_interrupted(model, done):
    """Put back the weights a model had when its previous, interrupted fit began (no backup)."""
    started = _unfinished.get(model)
    if started is None or done:
        return  # a fresh model, or the backup's weights are about to be restored
    for variable, value in started:
        variable.assign(value)
    print(
        f"The previous training of {model.name} in this kernel was interrupted before its first "
        "backup: its weights are put back to where that training began, so it starts from scratch."
    )


def resumable_fit(model, x, y, folder, epochs, **fit_kwargs):
    """`model.fit(x, y, epochs=epochs, **fit_kwargs)` that backs up to `folder` after every epoch.

    Calling it again after an interruption (a crash, a kernel restart) with a freshly built model
    and the same `folder` resumes at the first unfinished epoch — only when model, optimizer, loss,
    data and every argument of fit are those of the backup; otherwise one sentence says what
    changed and training starts from scratch. Returns the `History` of the call, whose `.history`
    lists all epochs, those before the interruption included.
    """
    import keras

    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    folder = pathlib.Path(folder)
    if not model.built:
        model.build((None, *x.shape[1:]))  # BackupAndRestore needs the weights to exist
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    setup = training_setup(model, x, y, epochs, fit_kwargs)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = _lock(folder)
    except OSError as error:
        return _fit_without_backup(model, x, y, folder, epochs, fit_kwargs, error)
    if lock is None:
        print(
            f"⚠ Another process is training into {folder} (a second kernel running this notebook?); "
            f"this one trains {model.name} without a backup, so an interruption starts it over."
        )
        return model.fit(x, y, epochs=epochs, **fit_kwargs)
    with lock:
        done = _usable_backup(model, folder, setup)
        _restart_if_interrupted(model, done)
        if done:
            print(
                f"Resuming {model.name} from the backup in {folder}: {done} of {epochs} epochs already done."
            )
        else:
            for own in (folder / BACKUP, folder / HISTORY, folder / SETUP):  # only our files go
                if own.is_dir():
                    shutil.rmtree(own)
                elif own.exists():
                    own.unlink()
        try:
            (folder / SETUP).write_text(json.dumps(setup, indent=1) + "\n")
        except OSError as error:
            return _fit_without_backup(model, x, y, folder, epochs, fit_kwargs, error)
        log = folder / HISTORY
        callbacks = [
            # The row first, then the backup: a kill between them repeats an epoch, loses none.
            keras.callbacks.CSVLogger(str(log), append=True),
            _backup_callback(keras)(backup_dir=str(folder / BACKUP)),
            *fit_kwargs.pop("callbacks", []),
        ]
        if model not in _unfinished:
            _unfinished[model] = _snapshot(model)
        user_callbacks = callbacks[2:]
        try:
            history = model.fit(x, y, epochs=epochs, callbacks=callbacks, **fit_kwargs)
            history.history = _read_history(log)
        except OSError as error:  # the disk filled up while writing a backup or its row
            history = _finish_without_backup(
                model, x, y, folder, epochs, fit_kwargs, user_callbacks, error
            )
        _unfinished.pop(model, None)
        _remove_own_files(folder)  # training completed: the backup has done its job
    return history


def _write_replacing(path, data):
    """`data` to `path` through a temporary file beside it and a rename: a failed write (a full
    disk) leaves the previous backup whole."""
    path = pathlib.Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _weights_in_memory(model):
    """The bytes of `model.save_weights(...)`'s .weights.h5 file, made in memory: HDF5 then never
    holds a file on disk, so a full disk is a plain OSError from our own write, and no half-written
    HDF5 file is left for h5py to close at exit (which crashed the process: SIGSEGV)."""
    from keras.src.saving import saving_lib  # the in-memory form of save_weights (no public API)

    buffer = io.BytesIO()
    store = saving_lib.H5IOStore(buffer, mode="w")
    try:
        saving_lib._save_state(
            model, weights_store=store, assets_store=None, inner_path="", visited_saveables=set()
        )
    finally:
        store.close()
    return buffer.getvalue()


def _backup_callback(keras):
    """Keras's BackupAndRestore (looked up now, so a test may stand in for it) whose backup is
    made in memory and written with a temporary file and a rename."""

    class Backup(keras.callbacks.BackupAndRestore):
        def _save_model(self):
            try:
                weights = _weights_in_memory(self.model)
            except (ImportError, AttributeError):  # a Keras without those internals
                return super()._save_model()
            os.makedirs(self.backup_dir, exist_ok=True)
            _write_replacing(self._weights_path, weights)
            metadata = {"epoch": self._current_epoch, "batch": self._last_batch_seen}
            _write_replacing(self._training_metadata_path, json.dumps(metadata).encode())

    return Backup


def _finish_without_backup(model, x, y, folder, epochs, fit_kwargs, callbacks, error):
    """Go on from the last epoch history.csv recorded, without backups, after a write failed."""
    try:
        before = _read_history(folder / HISTORY)
    except (OSError, ValueError, KeyError):
        before = {}
    done = len(next(iter(before.values()), []))
    print(
        f"⚠ Could not write the backup of {model.name} to {folder} ({error.strerror or error}): "
        f"the disk may be full. Training goes on from epoch {done + 1} without backups "
        "(an interruption now starts it over); free some space for the next run."
    )
    history = model.fit(x, y, epochs=epochs, initial_epoch=done, callbacks=callbacks, **fit_kwargs)
    history.history = {key: before.get(key, []) + values for key, values in history.history.items()}
    return history


def _fit_without_backup(model, x, y, folder, epochs, fit_kwargs, error):
    print(
        f"⚠ Cannot write a backup to {folder} ({locations.why_not_writable(folder)}: {type(error).__name__}); "
        f"training without one (an interruption will start {model.name} over)."
    )
    return model.fit(x, y, epochs=epochs, **fit_kwargs)


def train(run, model, x, y, name=None, **fit_kwargs):
    """Fit `model` for the notebook's run: resumable when the profile asks for checkpoints.

    `name` (default: the model's name) keeps the backups of several models apart.
    """
    if run.settings.checkpoints:
        folder = checkpoint_dir(run.notebook, run.profile, name or model.name)
        history = resumable_fit(model, x, y, folder, **fit_kwargs)
        for parent in (
            folder.parent,
            folder.parent.parent,
        ):  # the profile's and notebook's folders, once empty
            if parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
        return history
    return model.fit(x, y, **fit_kwargs)
