"""The one process pool (portraitkit.pool): ordered results for any worker count, inline for one."""

from __future__ import annotations

import os

import pytest

from portraitkit.pool import START_METHOD, executor, ordered_map

_STATE: dict = {}


def _init(tag: str) -> None:
    _STATE["tag"] = tag


def _work(x: int) -> tuple[int, int, str]:
    # later items finish first when run in parallel: order must still follow the input
    if x < 3:
        import time

        time.sleep(0.05 * (3 - x))
    return x * x, os.getpid(), _STATE.get("tag", "")


def _boom(x: int) -> int:
    if x == 2:
        raise ValueError(f"bad item {x}")
    return x


def test_start_method_is_spawn_everywhere():
    assert START_METHOD == "spawn"
    with executor(1) as ex:
        assert ex._mp_context.get_start_method() == "spawn"


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_results_follow_input_order(workers):
    items = list(range(8))
    seen = []

    def bar(it, desc, total, unit):
        seen.append((desc, total, unit))
        yield from it

    out = list(ordered_map(_work, items, workers, initializer=_init, initargs=("w",), progress=bar, desc="d",
                           unit="img"))
    assert [v for v, _, _ in out] == [x * x for x in items]
    assert all(tag == "w" for _, _, tag in out)  # the initializer ran where the work ran
    assert seen == [("d", 8, "img")]
    pids = {pid for _, pid, _ in out}
    if workers == 1:
        assert pids == {os.getpid()}  # inline: no pool
    else:
        assert os.getpid() not in pids


def test_a_single_item_runs_inline_and_errors_propagate():
    assert [pid for _, pid, _ in ordered_map(_work, [5], workers=4)] == [os.getpid()]
    for workers in (1, 2):
        with pytest.raises(ValueError, match="bad item 2"):
            list(ordered_map(_boom, range(5), workers))


def test_a_started_pool_is_reused():
    with executor(2, initializer=_init, initargs=("pool",)) as ex:
        a = list(ordered_map(_work, range(4), workers=2, pool=ex))
        b = list(ordered_map(_work, range(4), workers=2, pool=ex))
    assert [v for v, _, _ in a] == [v for v, _, _ in b] == [0, 1, 4, 9]
    assert {t for _, _, t in a + b} == {"pool"}
