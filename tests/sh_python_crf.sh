#!/bin/bash
# The dense CRF's Python interface (python/encdec/crf.py) against
# pydensecrf's numbers in tests/golden/crf.safetensors, with Debian's
# python3 and numpy (no pydensecrf); the library comes from $ENCDEC_LIB.
set -eu
PY=/usr/bin/python3
if ! $PY -c "import numpy" 2>/dev/null; then
    echo "python3-numpy is missing: run scripts/install-deps.sh as root" >&2
    exit 1
fi
export PYTHONPATH="$ED_SOURCE_DIR/python"
exec $PY "$ED_SOURCE_DIR/tests/python/test_crf.py"
