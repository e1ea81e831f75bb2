# Small logging helpers shared by the e2e scripts.
if [[ -t 2 ]]; then _B=$'\e[1m' _G=$'\e[32m' _R=$'\e[31m' _Y=$'\e[33m' _N=$'\e[0m'; else _B= _G= _R= _Y= _N=; fi
step() { printf '%s==> %s%s\n' "$_B" "$*" "$_N" >&2; }
info() { printf '    %s\n' "$*" >&2; }
ok()   { printf '%s  ✓ %s%s\n' "$_G" "$*" "$_N" >&2; }
warn() { printf '%swarning: %s%s\n' "$_Y" "$*" "$_N" >&2; }
die()  { printf '%serror: %s%s\n' "$_R" "$*" "$_N" >&2; exit 1; }
# Reads a benchmark's dated entry on stdin; appends it to docs/benchmarks.md
# only when DOCKYARD_BENCH_RECORD=1 (the test runs measure without writing).
record_benchmark() {
  if [[ ${DOCKYARD_BENCH_RECORD:-0} == 1 ]]; then cat >>"$REPO_DIR/docs/benchmarks.md"; else cat >/dev/null; fi
}
