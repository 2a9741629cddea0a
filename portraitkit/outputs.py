"""Stage outputs that never destroy what a user owns and survive any interruption.

Every stage checks its output with :func:`check_output` (a folder) or :func:`check_file_output`
(one file) *before any work*, then writes the folder inside :func:`stage_output`:

    check_output(out, "curate", inputs=[annotations, images])      # first thing the stage does
    ...                                                             # the computation
    with stage_output(out, "curate", inputs=[annotations, images]) as tmp:
        write_parquet(tmp / "manifest.parquet", ...)

Ownership: a stage replaces an existing folder only when it holds the marker ``MARKER``
(``{"stage": "<name>"}``, no version or time so outputs stay byte-identical) naming the same
stage, or when it is empty. A single file is replaced only when the stage wrote it (a JSON
carrying ``"portraitkit_stage": "<name>"``, or what ``owned`` recognises). Everything else,
``.``, the repository root and folders overlapping an input, is refused in one line.

Interruptions: the folder is built in a hidden sibling ``.<name>.portraitkit-tmp-<pid>-<hex>``
that carries the marker from its first moment and is ``flock``-ed while its run is alive. The
swap is one ``renameat2(RENAME_EXCHANGE)`` (Linux) or, where that is missing, two renames through
``.<name>.portraitkit-old``, with SIGINT/SIGTERM blocked. A SIGKILL at any point leaves either
the previous output or the new one in place, or (between the two fallback renames) the previous
one under the ``-old`` name; the next run of any stage on that folder restores it and removes
dead temp folders (our name *and* marker, or empty, *and* no live lock), nothing else.
Folders are removed marker last, so a removal cut short by SIGKILL is still recognised as ours.
A child process forked inside the ``with`` block (a process pool) closes its copies of the locks
at once (``os.register_at_fork``): a worker orphaned by a SIGKILL of its parent does not keep the
dead run's temp folder "alive".
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import secrets
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Callable, Iterable, Iterator

from portraitkit.errors import UserError

MARKER = ".portraitkit-stage.json"
FILE_KEY = "portraitkit_stage"  # the key a single-file JSON output carries
TMP_INFIX = ".portraitkit-tmp-"
OLD_SUFFIX = ".portraitkit-old"

PathLike = str | os.PathLike
# Test seams: force the two-rename swap, run code between its two renames, and after the swap
# (before the previous output is removed).
_FORCE_FALLBACK = False
_between_renames: Callable[[], None] | None = None
_after_swap: Callable[[], None] | None = None


# Lock descriptors this process holds; a forked child closes its copies (the lock stays the parent's).
_LOCK_FDS: set[int] = set()


def _close_locks_in_child() -> None:
    for fd in list(_LOCK_FDS):
        with contextlib.suppress(OSError):
            os.close(fd)
    _LOCK_FDS.clear()


os.register_at_fork(after_in_child=_close_locks_in_child)


def _lock_fd(path: Path, flags: int = fcntl.LOCK_EX) -> int:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    _LOCK_FDS.add(fd)
    try:
        fcntl.flock(fd, flags)
    except BaseException:
        _unlock_fd(fd)
        raise
    return fd


def _unlock_fd(fd: int) -> None:
    _LOCK_FDS.discard(fd)
    os.close(fd)  # closing releases the lock


# ---------------------------------------------------------------- checks


def _real(p: PathLike) -> Path:
    return Path(os.path.realpath(os.fspath(p)))


def _inside(a: Path, b: Path) -> bool:
    """``a`` is strictly inside ``b``."""
    return b in a.parents


def read_marker(folder: Path) -> str | None:
    """The stage named by ``folder``'s marker, or None when there is none (or it is not ours)."""
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    stage = data.get("stage") if isinstance(data, dict) else None
    return stage if isinstance(stage, str) else None


def marker_text(stage: str) -> str:
    return json.dumps({"stage": stage}) + "\n"


def _common_refusals(real: Path, label: str, inputs: Iterable[PathLike | None], what: str) -> None:
    cwd = _real(os.getcwd())
    if real == cwd:
        raise UserError(f"{label}: is the current folder; give a new or empty {what}")
    if _inside(cwd, real):
        raise UserError(f"{label}: contains the current folder; give a new or empty {what}")
    if real.parent == real:
        raise UserError(f"{label}: is the filesystem root")
    if real.is_dir() and ((real / ".git").exists() or (real / "dvc.yaml").exists()):
        raise UserError(f"{label}: is a repository root (holds .git or dvc.yaml); give a {what} inside it")
    for inp in inputs:
        if inp is None:
            continue
        ri = _real(inp)
        if real == ri:
            raise UserError(f"{label}: is the input {inp}; writing it would destroy the input")
        if _inside(ri, real):
            raise UserError(f"{label}: contains the input {inp}; writing it would destroy the input")
        if _inside(real, ri):
            raise UserError(f"{label}: is inside the input {inp}; write outputs outside the inputs")
    # the nearest existing ancestor must be a writable folder (we create the rest)
    anc = real.parent
    while not anc.exists() and not anc.is_symlink():
        anc = anc.parent
    if not anc.is_dir():
        raise UserError(f"{label}: {anc} is a file, not a folder")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise UserError(f"{label}: cannot write in {anc} (read-only or no permission)")


def check_output(
    out: PathLike,
    stage: str,
    inputs: Iterable[PathLike | None] = (),
    *,
    option: str = "--out",
    legacy: Callable[[Path], bool] | None = None,
) -> Path:
    """Refuse an output folder ``stage`` may not replace (one-line UserError); return its real path.

    Also finishes what an interrupted earlier run left (restores a half-done swap, removes dead
    temp folders), so the ownership check sees the last good output. ``legacy`` may accept a
    marker-less folder written by a version of the stage from before the marker existed.
    """
    label = f"{option} {out}"
    real = _real(out)
    _common_refusals(real, label, list(inputs), "folder")
    if real.parent.is_dir():
        with _parent_lock(real.parent):
            done = recover(real)
        for line in done:
            print(f"{label}: an earlier run was interrupted: {line}", file=sys.stderr)
    _check_owner(real, label, stage, legacy)
    return real


def _check_owner(real: Path, label: str, stage: str, legacy: Callable[[Path], bool] | None) -> None:
    if real.exists():
        if not real.is_dir():
            raise UserError(f"{label}: is an existing file; give a folder")
        if any(real.iterdir()):
            owner = read_marker(real)
            if owner is None and not (legacy is not None and legacy(real)):
                raise UserError(
                    f"{label}: exists and holds files portraitkit did not write (no {MARKER}); "
                    "give a new or empty folder (or remove it yourself)"
                )
            if owner is not None and owner != stage:
                raise UserError(f"{label}: was written by `portraitkit {owner}`, not `portraitkit {stage}`; give another folder")


def check_file_output(
    path: PathLike,
    stage: str,
    inputs: Iterable[PathLike | None] = (),
    *,
    option: str,
    owned: Callable[[Path], bool] | None = None,
) -> Path:
    """Refuse a single output file ``stage`` may not replace; return its real path.

    An existing file is replaced only when it is empty or ``owned`` says the stage wrote it
    (default: a JSON object whose ``"portraitkit_stage"`` is ``stage``).
    """
    label = f"{option} {path}"
    real = _real(path)
    _common_refusals(real, label, list(inputs), "file")
    if real.is_dir():
        raise UserError(f"{label}: is a folder; give a file path")
    if real.exists():
        ok = (owned or (lambda p: owned_json(p, stage)))(real)
        if not ok and real.stat().st_size:
            raise UserError(f"{label}: exists and was not written by `portraitkit {stage}`; give a new file (or remove it yourself)")
    return real


def owned_json(path: Path, stage: str) -> bool:
    try:
        data = json.loads(Path(path).read_bytes())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get(FILE_KEY) == stage


def stage_json(stage: str, obj: dict) -> dict:
    """``obj`` with the ownership key first (what :func:`check_file_output` recognises)."""
    return {FILE_KEY: stage, **{k: v for k, v in obj.items() if k != FILE_KEY}}


# ---------------------------------------------------------------- leftovers of interrupted runs


@contextlib.contextmanager
def _parent_lock(parent: Path) -> Iterator[None]:
    """Serialise recovery and swaps of the outputs in ``parent`` between processes."""
    fd = _lock_fd(parent)
    try:
        yield
    finally:
        _unlock_fd(fd)


def _remove_tree(folder: Path) -> None:
    """Remove one of our folders, its marker last (a cut-short removal stays recognisable)."""
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return
    for entry in entries:
        if entry.name == MARKER:
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(folder / MARKER)
    with contextlib.suppress(OSError):
        os.rmdir(folder)


def _is_ours_or_empty(folder: Path) -> bool:
    if folder.is_symlink() or not folder.is_dir():
        return False
    return read_marker(folder) is not None or not any(folder.iterdir())


def _is_dead(folder: Path) -> bool:
    """No live run holds ``folder``'s lock (a killed process's lock is released by the kernel)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def recover(dest: Path) -> list[str]:
    """Restore an interrupted swap and remove dead temp folders of ``dest``; what was done.

    Call with the parent lock held. Touches only siblings named by this module.
    """
    done: list[str] = []
    parent, name = dest.parent, dest.name
    old = parent / f".{name}{OLD_SUFFIX}"
    if old.is_dir() and not old.is_symlink():
        if not dest.exists() and not dest.is_symlink():
            os.rename(old, dest)  # killed between the two renames: the previous output comes back
            done.append(f"restored {dest} from {old.name}")
        elif _is_ours_or_empty(old):
            _remove_tree(old)
            done.append(f"removed {old.name}")
    prefix = f".{name}{TMP_INFIX}"
    for entry in parent.iterdir():
        if entry.name.startswith(prefix) and _is_ours_or_empty(entry) and _is_dead(entry):
            _remove_tree(entry)
            done.append(f"removed {entry.name}")
    return done


# ---------------------------------------------------------------- the swap


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _rename_exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two existing paths; False where the system cannot."""
    if _FORCE_FALLBACK:
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _swap(tmp: Path, dest: Path) -> Path | None:
    """Put ``tmp`` at ``dest``; return where the previous output now is (to delete), if any."""
    if not dest.exists():
        os.rename(tmp, dest)
        return None
    if _rename_exchange(tmp, dest):
        return tmp  # tmp's name now holds the previous output
    old = dest.parent / f".{dest.name}{OLD_SUFFIX}"
    os.rename(dest, old)
    if _between_renames is not None:
        _between_renames()
    os.rename(tmp, dest)
    return old


@contextlib.contextmanager
def _blocked_signals() -> Iterator[None]:
    """Hold SIGINT/SIGTERM until the block ends, then deliver them.

    In the main thread the Python handlers are swapped for ones that only record the signal:
    Python runs handlers in the main thread whichever thread the kernel chose, so a thread mask
    alone would not keep a signal delivered to a torch or Arrow thread out of the swap. Elsewhere
    (no handlers can be set) the thread's signal mask is used.
    """
    sigs = (signal.SIGINT, signal.SIGTERM)
    if threading.current_thread() is not threading.main_thread():
        previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
        return
    pending: list[int] = []
    previous = {s: signal.getsignal(s) for s in sigs}
    for s in sigs:
        signal.signal(s, lambda signum, frame: pending.append(signum))  # noqa: ARG005
    try:
        yield
    finally:
        for _ in range(4):  # a few bytecodes: a signal caught in C is handed to the recorder now
            pass
        for s in sigs:
            signal.signal(s, previous[s] if previous[s] is not None else signal.SIG_DFL)
        for s in dict.fromkeys(pending):
            signal.raise_signal(s)  # the stage's own reaction, now that the output is whole


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """SIGTERM raises SystemExit(143) while the temp folder exists, so ``finally`` removes it."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return

    def handler(signum, frame):  # noqa: ARG001
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def stage_output(
    out: PathLike,
    stage: str,
    inputs: Iterable[PathLike | None] = (),
    *,
    option: str = "--out",
    legacy: Callable[[Path], bool] | None = None,
) -> Iterator[Path]:
    """Yield an empty temp folder beside ``out``; on success it replaces ``out`` atomically.

    Checks ``out`` again (the stage checked it before its work; the folder may have changed
    since). On an exception, Ctrl-C or SIGTERM the temp folder is removed and ``out`` is
    untouched; after a SIGKILL the next run removes it.
    """
    inputs = list(inputs)
    dest = check_output(out, stage, inputs, option=option, legacy=legacy)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{option} {out}: cannot create {dest.parent} ({exc.strerror})") from None
    tmp = dest.parent / f".{dest.name}{TMP_INFIX}{os.getpid()}-{secrets.token_hex(4)}"
    # created and locked under the parent lock: another run's recovery never sees it unlocked
    with _parent_lock(dest.parent):
        os.mkdir(tmp)  # umask applies: the output gets the permissions a normal mkdir would
        lock = _lock_fd(tmp)
    try:
        (tmp / MARKER).write_text(marker_text(stage), encoding="utf-8")
        with _sigterm_unwinds():
            yield tmp
            with _parent_lock(dest.parent), _blocked_signals():
                # the ownership check again, now under the lock: nothing foreign is replaced
                recover(dest)
                _check_owner(dest, f"{option} {out}", stage, legacy)
                (tmp / MARKER).write_text(marker_text(stage), encoding="utf-8")  # in case the body removed it
                try:
                    previous = _swap(tmp, dest)
                except OSError as exc:
                    raise UserError(f"{option} {out}: cannot replace it ({exc.strerror})") from None
                if _after_swap is not None:
                    _after_swap()
                if previous is not None:
                    _remove_tree(previous)
    finally:
        _unlock_fd(lock)
        if tmp.exists():
            _remove_tree(tmp)
