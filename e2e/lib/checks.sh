# Assertions for the e2e scripts. Each script ends with `summary NAME`, which
# prints "NAME: N passed, N failed" (counted by scripts/test) and fails when
# any check failed.
passed=0 failed=0
pass() { ok "$1"; passed=$((passed + 1)); }
fail() { printf 'FAIL: %s\n' "$1" >&2; failed=$((failed + 1)); }
# expect NAME HAYSTACK NEEDLE...: passes when every NEEDLE occurs in HAYSTACK.
expect() {
  local name=$1 haystack=$2; shift 2
  for needle in "$@"; do
    grep -qF -- "$needle" <<<"$haystack" || { fail "$name: no '$needle' in: $haystack"; return 0; }
  done
  pass "$name"
}
# settles NAME EXPECTED COMMAND...: for what takes a moment (the policy engine
# syncs in a few seconds): runs COMMAND until its output has EXPECTED
# (SETTLE_SECONDS, default 30, at most), then checks it.
settles() {
  local name=$1 expected=$2 out; shift 2
  for _ in $(seq "${SETTLE_SECONDS:-30}"); do out=$("$@"); grep -qF -- "$expected" <<<"$out" && break; sleep 1; done
  expect "$name" "$out" "$expected"
}
# expect_not NAME HAYSTACK NEEDLE: passes when NEEDLE does not occur in HAYSTACK.
expect_not() {
  if grep -qF -- "$3" <<<"$2"; then fail "$1: unexpected '$3' in: $2"; else pass "$1"; fi
}
# ready_reason NS NAME REASON: waits until the Sandbox's Ready condition has REASON; prints "reason: message".
ready_reason() {
  kubectl -n "$1" wait "sandbox/$2" --for=jsonpath='{.status.conditions[?(@.type=="Ready")].reason}'="$3" --timeout=90s >/dev/null || true
  kubectl -n "$1" get sandbox "$2" -o jsonpath='{.status.conditions[?(@.type=="Ready")].reason}: {.status.conditions[?(@.type=="Ready")].message}'
}
# condition_of NAMESPACE SANDBOX TYPE: "<status> <reason>: <message>" of a
# Sandbox's condition, once it is there (up to 90 s).
condition_of() {
  kubectl -n "$1" wait "sandbox/$2" --for=jsonpath="{.status.conditions[?(@.type==\"$3\")].reason}" --timeout=90s >/dev/null 2>&1 || true
  kubectl -n "$1" get sandbox "$2" -o jsonpath="{.status.conditions[?(@.type==\"$3\")].status} {.status.conditions[?(@.type==\"$3\")].reason}: {.status.conditions[?(@.type==\"$3\")].message}"
}
summary() {
  echo "$1: $passed passed, $failed failed"
  ((failed == 0))
}
