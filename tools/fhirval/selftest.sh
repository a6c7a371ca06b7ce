#!/usr/bin/env bash
# Vendored from the project's shared reference material (shared/tools/fhirval/selftest.sh); the only change:
# the examples default to the vendored tests/fixtures/fhir/no-auditevent-ig/ of this checkout.
# Self-test of fhirval with the vendored data. It runs the setup first when needed (see validate.sh), then checks:
#  - on the IG's own examples, fhirval finds what the IG Publisher's qa.txt (0.9.8 build) found;
#  - in tests/broken-*.json, each deliberate breakage is found;
#  - the in-process Python API works: package_dirs() + Validator(Registry(...)).
# It prints "N passed, M failed" and exits 1 if any check failed. It writes only into $FHIRVAL_WORK.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
V=$HERE/validate.sh
E=$(cd "${FHIRVAL_DATA:-$HERE/../../tests/fixtures/fhir/no-auditevent-ig}" && pwd -P)/examples
T=$HERE/tests
"$V" --setup || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
pass=0; fail=0; CUR=; OUT=
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "FAIL: $(basename "$CUR"): $*"; }
run() { CUR=$1; OUT=$("$V" "$1" 2>/dev/null); RC=$?; }           # validate FILE once
has() { if grep -qF -- "$1" <<<"$OUT"; then ok; else ko "expected: $1"; fi; }
hasnt() { if grep -qF -- "$1" <<<"$OUT"; then ko "unexpected: $1"; else ok; fi; }
rc() { if [ "$RC" = "$1" ]; then ok; else ko "exit status $RC, expected $1"; fi; }

# The IG examples compared with the IG Publisher's qa.txt (0.9.8 build): every content error, no extra ones
run "$E/AuditEvent-NOBasisAuditeventInstance1.json"
has "Organization.identifier:ENH.value: minimum required = 1, but only found 0"
has "Patient.identifier:FNR.value: minimum required = 1, but only found 0"
has "AuditEvent.purposeOfEvent[1].coding: slice 'AuditEvent.purposeOfEvent.coding:PURPOSE_OF_USE_VALUESET': minimum required = 1"
has "AuditEvent.agent[0].who: unable to find a match for profile #PractitionerRoleInstance1"
has ": 17 error(s)"
hasnt "decision-ref-id': minimum"        # the breakages below are not in the untouched example
hasnt "_patient': minimum"
rc 1
run "$E/AuditEvent-NOBasisAuditeventInstance2.json"
has "AuditEvent.extension[2].extension[2]: constraint failed: ext-1"
has ": 11 error(s)"
run "$E/AuditEvent-NOBasisAuditeventInstance3.json"
has ": 9 error(s)"

# Deliberate breakages of example 1
run "$T/broken-1-no-decision-ref-id.json"
has "slice 'AuditEvent.extension:_careRelationMetaData.extension:decision-ref-id': minimum required = 1, but only found 0"
has "AuditEvent.extension:_careRelationMetaData.extension: minimum required = 4, but only found 3"
run "$T/broken-2-no-patient-ext.json"
has "slice 'AuditEvent.extension:_patient': minimum required = 1, but only found 0"
run "$T/broken-3-toa-type-and-duplicate.json"
has "decision-ref-user-selected': maximum allowed = 1, but found 2"
has "AuditEvent.extension[2].extension[3]: unrecognised property 'valueString'"
run "$T/broken-4-purpose-code-and-no-who.json"
has "AuditEvent.agent.who: minimum required = 1, but only found 0"
has "unknown code 'NOSUCHCODE'"
run "$T/broken-5-misc.json"
has "unrecognised property 'foo'"
has "is not a valid instant"
has "healthPersonnellCategory.code: minimum required = 1, but only found 0"
run "$T/broken-6-fixed-code-and-no-recorded.json"
has 'value must be exactly "HNR", found "XYZ"'
has "AuditEvent.recorded: minimum required = 1, but only found 0"

# In process, as a Python test would use it (with the caller's interpreter; no bytecode written here)
CUR=python-api
OUT=$(cd "$HERE" && PYTHONDONTWRITEBYTECODE=1 "${FHIRVAL_PYTHON:-python3}" - "$E" "$T" <<'EOF' 2>&1
import json, os, sys
sys.path.insert(0, os.getcwd())
import fhirval
dirs = fhirval.package_dirs()
print("dirs", len(dirs), all(os.path.isdir(d) for d in dirs))
v = fhirval.Validator(fhirval.Registry(dirs))
for f in (os.path.join(sys.argv[1], "AuditEvent-NOBasisAuditeventInstance2.json"),
          os.path.join(sys.argv[2], "broken-2-no-patient-ext.json")):
    with open(f) as fh:
        issues = v.validate(json.load(fh))
    print(os.path.basename(f), sum(i.severity == "error" for i in issues), "error(s)")
    for i in issues:
        print(" ", i.severity, i.path, i.message)
EOF
)
has "dirs 4 True"
has "AuditEvent-NOBasisAuditeventInstance2.json 11 error(s)"
has "error AuditEvent.extension[2].extension[2] constraint failed: ext-1"
has "slice 'AuditEvent.extension:_patient': minimum required = 1, but only found 0"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
