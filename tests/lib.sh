# Shared by the shell tests (tests/sh_*.sh): counting checks and running a
# command against its expected exit status and output. Source it, make the
# checks, end with `finish`, which prints "N passed, M failed" and sets the
# exit status.
pass=0; fail=0
ok()   { pass=$((pass+1)); }
bad()  { fail=$((fail+1)); echo "FAIL: $*" >&2; }
OUT=
# expect STATUS PATTERN -- command...   (the output is kept in $OUT)
expect() {
    local want=$1 pat=$2; shift 3
    OUT=$("$@" 2>&1); local rc=$?
    if [ "$rc" != "$want" ]; then bad "$* -> exit $rc, wanted $want: $OUT"; return; fi
    if [ -n "$pat" ] && ! grep -q -- "$pat" <<<"$OUT"; then bad "$* -> output lacks '$pat': $OUT"; return; fi
    ok
}
finish() {
    echo "$pass passed, $fail failed"
    [ "$fail" = 0 ]
}
