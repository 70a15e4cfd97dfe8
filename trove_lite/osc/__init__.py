"""Online schema migration engine (gh-ost model): triggerless, binlog-based, atomic cut-over.

Library API (what the guest agent drives)::

    from trove_lite.osc.context import MigrationRequest, Tunables
    from trove_lite.osc.migrator import Migration

    req = MigrationRequest(database="test", table="t", alter="add column c int",
                           host="127.0.0.1", port=3306, user="u", password="p",
                           allow_on_master=True)
    m = Migration(req, Tunables({"chunk-size": 1000,
                                 "postpone-cut-over-flag-file": "/path/flag"}))
    m.start()              # runs in its own thread; m.run() blocks instead
    m.status()             # dict: rows_copied, rows_estimate, dml_applied, backlog, state,
                           #       phase, eta_seconds, cut_over_lock_seconds, result
    m.throttle(); m.no_throttle()
    m.unpostpone()         # proceed to cut-over although the postpone flag file exists
    m.panic()              # abort at the next check (< 0.1 s while copying); tables left
    m.wait(timeout)        # True once finished; then m.error is None on success, else a
                           # MigrationError whose .message is gh-ost's text

Tunables can be changed from any thread (``tunables.set_chunk_size(n)``, ...).
The command line ``trove-lite-osc`` (also ``python -m trove_lite.osc``) accepts
gh-ost's flags and is a thin layer over this API (see cli.py). Modules, one job
each: flags, context, parser, sql (pure builders), inspector, streamer, applier,
cutover, throttler, migrator, server (control socket), hooks, status.

Test lever: env TROVE_LITE_OSC_TEST_PAUSE=<phase>:<seconds> (phases ``row-copy``,
``cut-over-rename-blocked``) sleeps at that point, to kill sessions in tests.
"""
