"""Shared by the Python tests: @case runs a test function at once and counts
it; raises() checks that a call raises ed.Error whose message holds the given
words; finish() prints "N passed, M failed" and exits non-zero on failure."""
import sys
import traceback

import encdec as ed

_count = {"passed": 0, "failed": 0}


def case(fn):
    try:
        fn()
        _count["passed"] += 1
    except Exception:
        _count["failed"] += 1
        print(f"FAIL {fn.__name__}", file=sys.stderr)
        traceback.print_exc()
    return fn


def raises(fn, *words):
    try:
        fn()
    except ed.Error as e:
        msg = str(e)
        for w in words:
            assert w in msg, f"message {msg!r} lacks {w!r}"
        return
    raise AssertionError(f"no ed.Error raised (wanted one saying {words})")


def finish():
    print(f"{_count['passed']} passed, {_count['failed']} failed")
    sys.exit(1 if _count["failed"] else 0)
