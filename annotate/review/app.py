"""Launch the FiftyOne App on a review dataset, bound to 127.0.0.1 unless asked otherwise."""

from __future__ import annotations

import errno
import os
import signal
import socket
import threading
from typing import Any, Callable

from portraitkit.errors import UserError


def check_media(ds: Any) -> None:
    """Fail with one line when images or masks moved since the build (the App would show holes)."""
    missing: list[str] = []
    total = 0
    for path in ds.values("filepath"):
        total += 1
        if not os.path.isfile(path):
            missing.append(path)
    if missing:
        raise UserError(
            f"dataset {ds.name!r}: {len(missing)} of {total} images moved since the build "
            f"(first: {missing[0]}); rerun `portraitkit review build --images NEW_FOLDER`"
        )
    schema = ds.get_field_schema()
    for field in ("segmentation", "predictions"):
        if field not in schema:
            continue
        paths = [p for p in ds.values(f"{field}.mask_path") if p]
        gone = [p for p in paths if not os.path.isfile(p)]
        if gone:
            raise UserError(
                f"dataset {ds.name!r}: {len(gone)} {field} masks are missing (first: {gone[0]}); "
                "rerun `portraitkit review build`"
            )


def check_port(address: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((address, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UserError(f"port {port} on {address} is already in use; pass --port") from None
            raise UserError(f"cannot bind the App to {address}:{port}: {exc.strerror}") from None


def app_url(address: str, port: int) -> str:
    host = "127.0.0.1" if address in ("0.0.0.0", "") else ("[::1]" if address == "::" else address)
    return f"http://{host}:{port}/"


def launch(
    name: str,
    port: int,
    address: str,
    echo: Callable[[str], None],
    view: str | None = None,
    wait: bool = True,
) -> Any:
    """Start the App on dataset ``name`` (optionally one of its saved views); with ``wait``,
    block until Ctrl-C or SIGTERM, then close it."""
    from portraitkit.annotate.review.database import load_dataset

    ds = load_dataset(name)
    target = None
    if view is not None:
        saved = ds.list_saved_views()
        if view not in saved:
            raise UserError(
                f"dataset {name!r}: no saved view {view!r} (saved views: {', '.join(sorted(saved)) or 'none'})"
            )
        target = ds.load_saved_view(view)
    check_media(ds)
    check_port(address, port)
    import fiftyone as fo

    session = fo.launch_app(ds, view=target, port=port, address=address, remote=True, auto=False)
    shown = f"view {view!r} of dataset {name!r} ({len(target)} samples)" if target is not None else (
        f"dataset {name!r} ({len(ds)} samples)"
    )
    echo(f"FiftyOne App on {shown}: {app_url(address, port)}")
    if address in ("0.0.0.0", "::"):
        echo(f"bound to {address}: reachable from other machines on port {port}")
    echo("press Ctrl-C to stop")
    if not wait:
        return session
    restore = _stop_on_signals()
    try:
        session.wait(-1)
    except KeyboardInterrupt:
        pass
    finally:
        echo("stopping the App")
        session.close()
        fo.close_app()
        restore()
    return None


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _stop_on_signals() -> Callable[[], None]:
    """Ctrl-C (SIGINT) and SIGTERM stop the App cleanly, even where SIGINT was ignored at start
    (a background job of a non-interactive shell). Returns a function restoring the old handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    old = {sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, handler in old.items():
            signal.signal(sig, handler)

    return restore
