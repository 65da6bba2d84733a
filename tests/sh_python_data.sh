#!/bin/bash
# ed.imread / ed.imwrite and ed.metrics, with Debian's python3 and numpy
# (installed by scripts/install-deps.sh); the library comes from $ENCDEC_LIB.
set -eu
PY=/usr/bin/python3
if ! $PY -c "import numpy" 2>/dev/null; then
    echo "python3-numpy is missing: run scripts/install-deps.sh as root" >&2
    exit 1
fi
export PYTHONPATH="$ED_SOURCE_DIR/python"
exec $PY "$ED_SOURCE_DIR/tests/python/test_data.py"
