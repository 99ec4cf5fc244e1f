"""Slots of the shared connection counts, as the gunicorn master hands them out. The balancing
itself is tested with live servers in tests/ops/test_gunicorn.py."""

import types

from wsi_blueprint.worker_balance import WorkerBalance


def test_each_worker_gets_its_own_slot_and_a_replacement_reuses_a_freed_one():
    balance = WorkerBalance()
    master = types.SimpleNamespace(WORKERS={})
    workers = []
    for pid in (101, 102, 103):
        worker = types.SimpleNamespace(pid=pid)
        balance.pre_fork(master, worker)
        master.WORKERS[pid] = worker
        workers.append(worker)
    assert [w.balance_slot for w in workers] == [0, 1, 2]
    balance.child_exit(master, master.WORKERS.pop(102))
    replacement = types.SimpleNamespace(pid=104)
    balance.pre_fork(master, replacement)
    assert replacement.balance_slot == 1


def test_only_workers_taking_connections_count_towards_the_fewest():
    balance = WorkerBalance()
    assert balance.fewest() == 0  # no worker yet: nothing to defer to
    balance._set(0, 4)
    assert balance.fewest() == 4  # slot 1 is free or still loading its app: not counted
    balance._set(1, 2)
    assert balance.fewest() == 2
    balance._set(1, -1)           # it exited
    assert balance.fewest() == 4
