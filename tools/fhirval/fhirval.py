#!/usr/bin/env python3
# Vendored from the project's shared reference material (shared/tools/fhirval/fhirval.py), so that the tests and
# CI need no shared/ beside the checkout. The code is unchanged; only this note and the wording of the
# package_dirs() docstring (the IG data is the vendored tests/fixtures/fhir/no-auditevent-ig/) differ.
# See tools/fhirval/README.md.
"""fhirval: offline, snapshot-driven FHIR R4 profile validator (JSON).

Validates resources against StructureDefinition *snapshots* loaded from FHIR
package folders (hl7.fhir.r4.core, hl7.fhir.no.basis, the IG's compiled SDs).
Checks: unknown properties, cardinality, array/single shape, primitive formats
(regexes from the core type definitions), fixed[x]/pattern[x], slicing
(value/pattern/type/profile/exists discriminators, nested slices, extension
slices resolved through the extension's own StructureDefinition), extensions
against their definitions, contained resources against meta.profile, local
('#id') references against Reference.targetProfile, required/extensible
bindings for value sets it can expand offline, codes/displays for code systems
it has, and FHIRPath invariants (fhirpathpy).

Not done: terminology it cannot expand offline (it says so), references outside
the resource, extension context, xhtml narrative checks (txt-1/txt-2), reslicing.

Command line:  python fhirval.py --pkg DIR [--pkg DIR ...] [--profile URL] [-v] [--json] FILE...
In process:    Validator(Registry(package_dirs())).validate(resource_dict, [profile_url])
package_dirs() runs ./validate.sh --setup once (into $FHIRVAL_WORK) and returns the folders.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import re
import subprocess
import sys
import tempfile
import time

CORE = "http://hl7.org/fhir/StructureDefinition/"
PRIMITIVES = {
    "base64Binary", "boolean", "canonical", "code", "date", "dateTime", "decimal", "id",
    "instant", "integer", "markdown", "oid", "positiveInt", "string", "time", "unsignedInt",
    "uri", "url", "uuid", "xhtml",
}
SYSTEM_TYPES = {  # FHIRPath system types used for id/url/extension.url etc.
    "http://hl7.org/fhirpath/System.String": "string",
    "http://hl7.org/fhirpath/System.Boolean": "boolean",
    "http://hl7.org/fhirpath/System.Integer": "integer",
    "http://hl7.org/fhirpath/System.Decimal": "decimal",
    "http://hl7.org/fhirpath/System.Date": "date",
    "http://hl7.org/fhirpath/System.DateTime": "dateTime",
    "http://hl7.org/fhirpath/System.Time": "time",
}
SKIP_CONSTRAINTS = {"ele-1", "dom-3", "txt-1", "txt-2"}  # ele-1/dom-3 done natively; txt-* need xhtml


def cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def strip_version(url: str | None) -> str | None:
    return url.split("|", 1)[0] if url else url


class Issue:
    __slots__ = ("severity", "path", "message")

    def __init__(self, severity, path, message):
        self.severity, self.path, self.message = severity, path, message

    def key(self):
        return (self.severity, self.path, self.message)

    def __str__(self):
        return f"{self.severity.upper():11s} {self.path}: {self.message}"


class Node:
    """One element of a snapshot; children by name, slices by slice name."""
    __slots__ = ("ed", "children", "slices", "sd_url", "tree_index")

    def __init__(self, ed, sd_url, tree_index):
        self.ed, self.sd_url, self.tree_index = ed, sd_url, tree_index
        self.children: dict[str, Node] = {}
        self.slices: dict[str, Node] = {}


class Registry:
    """Conformance resources from package folders, looked up by canonical URL."""

    def __init__(self, dirs):
        self.by_url: dict[str, object] = {}  # url -> resource or filename
        self.trees: dict[str, Node] = {}
        self.expansions: dict[str, object] = {}
        self.regex: dict[str, re.Pattern | None] = {}
        for d in dirs:
            self._add_dir(d)

    def _add_dir(self, d):
        idx = os.path.join(d, ".index.json")
        if os.path.exists(idx):
            with open(idx) as f:
                for e in json.load(f)["files"]:
                    if e.get("url") and e["url"] not in self.by_url:
                        self.by_url[e["url"]] = os.path.join(d, e["filename"])
            return
        for fn in sorted(os.listdir(d)):
            p = os.path.join(d, fn)
            if not fn.endswith(".json") or fn.startswith(".") or not os.path.isfile(p):
                continue
            try:
                with open(p) as f:
                    r = json.load(f)
            except Exception:
                continue
            if isinstance(r, dict) and r.get("url") and r.get("resourceType") in (
                    "StructureDefinition", "ValueSet", "CodeSystem"):
                self.by_url.setdefault(r["url"], r)

    def get(self, url):
        url = strip_version(url)
        r = self.by_url.get(url)
        if isinstance(r, str):
            with open(r) as f:
                r = json.load(f)
            self.by_url[url] = r
        return r

    def tree(self, url) -> Node | None:
        url = strip_version(url)
        if url in self.trees:
            return self.trees[url]
        sd = self.get(url)
        if not sd or sd.get("resourceType") != "StructureDefinition" or "snapshot" not in sd:
            self.trees[url] = None
            return None
        by_id: dict[str, Node] = {}
        root = None
        for ed in sd["snapshot"]["element"]:
            eid = ed.get("id") or ed["path"]
            node = Node(ed, url, by_id)
            if root is None:
                root = node
                by_id[eid] = node
                continue
            # parent = longest existing id prefix ending before a '.'
            parent, rest = None, None
            i = len(eid)
            while True:
                i = eid.rfind(".", 0, i)
                if i < 0:
                    break
                if eid[:i] in by_id:
                    parent, rest = by_id[eid[:i]], eid[i + 1:]
                    break
            if parent is None:
                continue
            if ":" in rest:
                name, sname = rest.split(":", 1)
                base = parent.children.get(name)
                if base is None:  # slice before its base element (should not happen)
                    base = parent.children[name] = Node({"path": ed["path"], "min": 0, "max": "*"}, url, by_id)
                base.slices[sname] = node
            else:
                parent.children[rest] = node
            by_id[eid] = node
        self.trees[url] = root
        return root

    def type_regex(self, code):
        if code not in self.regex:
            rx = None
            t = self.tree(CORE + code)
            v = t.children.get("value") if t else None
            for ty in (v.ed.get("type", []) if v else []):
                for ext in ty.get("extension", []):
                    if ext.get("url") == "http://hl7.org/fhir/StructureDefinition/regex":
                        rx = re.compile(ext["valueString"])
            self.regex[code] = rx
        return self.regex[code]

    # ---- terminology -------------------------------------------------------
    def cs_codes(self, system):
        """{code: concept} for a complete CodeSystem we have, else None."""
        cs = self.get(system)
        if not cs or cs.get("resourceType") != "CodeSystem" or cs.get("content") not in ("complete", None):
            return None
        if "_codes" not in cs:
            codes, parents = {}, {}

            def walk(concepts, parent):
                for c in concepts:
                    codes[c["code"]] = c
                    parents.setdefault(c["code"], set())
                    if parent:
                        parents[c["code"]].add(parent)
                    for p in c.get("property", []):
                        if p.get("code") in ("subsumedBy", "parent") and p.get("valueCode"):
                            parents[c["code"]].add(p["valueCode"])
                    walk(c.get("concept", []), c["code"])
            walk(cs.get("concept", []), None)
            cs["_codes"], cs["_parents"] = codes, parents
        return cs["_codes"]

    def _descendants(self, system, code, include_self):
        codes = self.cs_codes(system)
        parents = self.get(system)["_parents"]
        out = {code} if include_self else set()
        changed = True
        while changed:
            changed = False
            for c in codes:
                if c not in out and parents.get(c, set()) & (out | {code}):
                    out.add(c)
                    changed = True
        return out

    def expand(self, vs_url):
        """set of (system, code) or None when the value set cannot be expanded offline."""
        vs_url = strip_version(vs_url)
        if vs_url in self.expansions:
            return self.expansions[vs_url]
        self.expansions[vs_url] = None  # recursion guard
        vs = self.get(vs_url)
        result = None
        if vs and vs.get("resourceType") == "ValueSet":
            result = self._expand_vs(vs)
        self.expansions[vs_url] = result
        return result

    def _expand_vs(self, vs):
        if vs.get("expansion", {}).get("contains"):
            out = set()

            def walk(cs):
                for c in cs:
                    if c.get("code"):
                        out.add((c.get("system"), c["code"]))
                    walk(c.get("contains", []))
            walk(vs["expansion"]["contains"])
            return out
        comp = vs.get("compose")
        if not comp:
            return None
        inc = self._compose_part(comp.get("include", []))
        if inc is None:
            return None
        exc = self._compose_part(comp.get("exclude", [])) if comp.get("exclude") else set()
        return inc - (exc or set())

    def _compose_part(self, parts):
        out = set()
        for p in parts:
            sets = []
            for vsu in p.get("valueSet", []):
                e = self.expand(vsu)
                if e is None:
                    return None
                sets.append(e)
            system = p.get("system")
            if system:
                if p.get("concept"):
                    s = {(system, c["code"]) for c in p["concept"]}
                elif p.get("filter"):
                    if self.cs_codes(system) is None:
                        return None
                    s = None
                    for flt in p["filter"]:
                        op, val, prop = flt.get("op"), flt.get("value"), flt.get("property")
                        if prop == "concept" and op in ("is-a", "descendent-of"):
                            fs = {(system, c) for c in self._descendants(system, val, op == "is-a")}
                        elif prop == "concept" and op == "=":
                            fs = {(system, val)}
                        else:
                            return None
                        s = fs if s is None else (s & fs)
                else:
                    codes = self.cs_codes(system)
                    if codes is None:
                        return None
                    s = {(system, c) for c in codes}
                sets.append(s)
            if not sets:
                continue
            r = sets[0]
            for s2 in sets[1:]:
                r = r & s2
            out |= r
        return out


class Ctx:
    """Where we are: the resource being validated and the outermost resource."""
    __slots__ = ("resource", "root", "rpath", "stack")

    def __init__(self, resource, root, rpath, stack):
        self.resource, self.root, self.rpath, self.stack = resource, root, rpath, stack


class Validator:
    def __init__(self, registry: Registry):
        self.reg = registry
        self._fp = None
        self._fp_cache = {}
        self._contained_cache = {}
        self.issues: list[Issue] = []
        self.warned_vs = set()

    # ---- issues -------------------------------------------------------------
    def add(self, sev, path, msg):
        self.issues.append(Issue(sev, path, msg))

    def collect(self, fn):
        """Run fn with a fresh issue list; return the issues it produced."""
        saved = self.issues
        self.issues = []
        try:
            fn()
            return self.issues
        finally:
            self.issues = saved

    # ---- entry point ---------------------------------------------------------
    def validate(self, resource, profiles=None):
        self.issues = []
        self._contained_cache = {}
        self.warned_vs = set()
        rt = resource.get("resourceType") if isinstance(resource, dict) else None
        if not rt:
            self.add("error", "$", "not a FHIR resource (no resourceType)")
            return self.issues
        urls = list(profiles or []) or [strip_version(p) for p in resource.get("meta", {}).get("profile", [])]
        if not urls:
            urls = [CORE + rt]
        ctx = Ctx(resource, resource, rt, set())
        for url in urls:
            self.validate_resource(resource, url, rt, ctx)
        seen, out = set(), []
        for i in self.issues:
            if i.key() not in seen:
                seen.add(i.key())
                out.append(i)
        return out

    def validate_resource(self, res, sd_url, path, ctx):
        tree = self.reg.tree(sd_url)
        if tree is None:
            self.add("warning" if sd_url.startswith("http") else "error", path,
                     f"profile {sd_url} is not available here; validated against the base resource only")
            tree = self.reg.tree(CORE + res.get("resourceType", ""))
            if tree is None:
                self.add("error", path, f"unknown resource type {res.get('resourceType')!r}")
                return
        sd = self.reg.get(sd_url) or {}
        want = sd.get("type") or tree.ed["path"]
        if res.get("resourceType") != want:
            self.add("error", path, f"resource type {res.get('resourceType')} does not match profile {sd_url} (type {want})")
            return
        self.complex(res, tree, path, ctx, is_resource=True)
        self.constraints(res, tree.ed, res.get("resourceType"), path, ctx)
        if res is ctx.root or res is ctx.resource:
            self.check_dom3(res, path)

    # ---- structure -----------------------------------------------------------
    def complex(self, obj, node, path, ctx, is_resource=False):
        if not isinstance(obj, dict):
            self.add("error", path, f"expected a JSON object, found {type(obj).__name__}")
            return
        children = node.children
        for k in obj:
            if k == "resourceType" and is_resource or k == "fhir_comments":
                continue
            if not self.key_known(k, children):
                self.add("error", f"{path}", f"unrecognised property '{k}'")
        if not any(k for k in obj if k not in ("id", "resourceType")):
            self.add("error", path, "element has no value and no children (ele-1)")
        for cname, cnode in children.items():
            self.child(obj, cname, cnode, path, ctx)

    @staticmethod
    def key_known(k, children):
        kk = k[1:] if k.startswith("_") else k
        if kk in children:
            return True
        for cname, cnode in children.items():
            if cname.endswith("[x]") and kk.startswith(cname[:-3]):
                suffix = kk[len(cname[:-3]):]
                if any(cap(t.get("code", "")) == suffix for t in cnode.ed.get("type", [])):
                    return True
        return False

    def items_of(self, obj, cname, cnode):
        """[(value, underscore_part, type_code, json_key, index_or_None, was_list)]"""
        out = []
        types = cnode.ed.get("type", [])
        if cname.endswith("[x]"):
            base = cname[:-3]
            keys = []
            for t in types:
                key = base + cap(t.get("code", ""))
                if key in obj or "_" + key in obj:
                    keys.append((key, t.get("code")))
            if len(keys) > 1:
                out.append(("__multi__", keys))
            pairs = keys
        else:
            code = types[0].get("code") if types else None
            code = SYSTEM_TYPES.get(code, code)
            if code in ("BackboneElement", "Element") and cnode.children:
                code = "BackboneElement"
            pairs = [(cname, code)] if (cname in obj or "_" + cname in obj) else []
        for key, code in pairs:
            code = SYSTEM_TYPES.get(code, code)
            v, u = obj.get(key), obj.get("_" + key)
            if isinstance(v, list) or isinstance(u, list):
                vl = v if isinstance(v, list) else ([] if v is None else [v])
                ul = u if isinstance(u, list) else ([] if u is None else [u])
                for i in range(max(len(vl), len(ul))):
                    out.append((vl[i] if i < len(vl) else None, ul[i] if i < len(ul) else None, code, key, i, True))
            else:
                out.append((v, u, code, key, None, False))
        return out

    def child(self, obj, cname, cnode, path, ctx):
        ed = cnode.ed
        raw = self.items_of(obj, cname, cnode)
        items = []
        for it in raw:
            if it[0] == "__multi__":
                self.add("error", path, f"more than one value for {cname}: {', '.join(k for k, _ in it[1])}")
            else:
                items.append(it)
        epath = f"{path}.{cname.replace('[x]', '')}"
        n = len(items)
        mn, mx = ed.get("min", 0), ed.get("max", "*")
        src = self.src(cnode)
        eid = ed.get("id", ed.get("path", cname))
        if n < mn:
            self.add("error", epath, f"{eid}: minimum required = {mn}, but only found {n}{src}")
        if mx != "*" and n > int(mx):
            self.add("error", epath, f"{eid}: maximum allowed = {mx}, but found {n}{src}")
        base_max = (ed.get("base") or {}).get("max", mx)
        for v, u, code, key, idx, was_list in items:
            if base_max == "1" and was_list:
                self.add("error", f"{path}.{key}", "this property must be a single value, not an array")
            elif base_max != "1" and not was_list:
                self.add("error", f"{path}.{key}", "this property must be an array, not a single value")
        slices = cnode.slices
        if not items and not any(sn.ed.get("min", 0) > 0 for sn in slices.values()):
            return
        slicing = ed.get("slicing")
        is_ext = cname in ("extension", "modifierExtension")
        assigned = [None] * len(items)
        if slices:
            disc = (slicing or {}).get("discriminator", [])
            for i, it in enumerate(items):
                for sname, snode in slices.items():
                    if self.slice_matches(it, snode, disc, ctx):
                        assigned[i] = sname
                        break
            for sname, snode in slices.items():
                cnt = assigned.count(sname)
                smin, smax = snode.ed.get("min", 0), snode.ed.get("max", "*")
                sid = snode.ed.get("id", sname)
                if cnt < smin:
                    self.add("error", epath, f"slice '{sid}': minimum required = {smin}, but only found {cnt}{self.src(snode)}")
                if smax != "*" and cnt > int(smax):
                    self.add("error", epath, f"slice '{sid}': maximum allowed = {smax}, but found {cnt}{self.src(snode)}")
            if slicing and slicing.get("rules") == "closed":
                for i, it in enumerate(items):
                    if assigned[i] is None:
                        self.add("error", self.ipath(path, it), f"does not match any slice of {ed.get('id')}, and the slicing is closed")
            if slicing and slicing.get("ordered"):
                order = list(slices)
                pos = [order.index(a) for a in assigned if a is not None]
                if pos != sorted(pos):
                    self.add("error", epath, "slices are out of order (slicing is ordered)")
        for i, it in enumerate(items):
            target = slices[assigned[i]] if assigned[i] else cnode
            if assigned[i] is None and slices and not is_ext:
                self.add("information", self.ipath(path, it),
                         f"does not match any slice defined in {cnode.sd_url} (open slicing)")
            self.value(it, target, self.ipath(path, it), ctx, generic_ext=is_ext and assigned[i] is None)

    @staticmethod
    def ipath(path, it):
        return f"{path}.{it[3]}" + (f"[{it[4]}]" if it[4] is not None else "")

    def src(self, node):
        return f" (from {node.sd_url})" if not node.sd_url.startswith(CORE) else ""

    # ---- one value ------------------------------------------------------------
    def value(self, it, node, ipath, ctx, generic_ext=False):
        v, u, code, key, idx, _ = it
        ed = node.ed
        if code is None:
            return
        types = [t for t in ed.get("type", []) if SYSTEM_TYPES.get(t.get("code"), t.get("code")) == code]
        profiles = [p for t in types for p in t.get("profile", [])]
        if code in PRIMITIVES:
            if v is not None:
                self.primitive(v, code, ipath)
                self.fixed_pattern(v, ed, ipath)
                self.binding(v, code, ed, ipath)
            elif u is None:
                self.add("error", ipath, "null value")
            if u is not None:
                ext_tree = self.reg.tree(CORE + "Element")
                self.complex(u, ext_tree, ipath.replace(key, "_" + key, 1), ctx)
            return
        if code == "Resource" or (self.reg.tree(CORE + code) is not None and
                                  (self.reg.get(CORE + code) or {}).get("kind") == "resource"):
            self.contained(v, ipath, ctx, node)
            return
        if v is None:
            self.add("error", ipath, "null value")
            return
        struct = node
        if not node.children:
            if "contentReference" in ed:
                ref = ed["contentReference"].split("#", 1)[1]
                struct = node.tree_index.get(ref) or node
            elif generic_ext and isinstance(v, dict) and self.reg.tree(v.get("url", "")) is not None:
                struct = self.reg.tree(v["url"])
            elif profiles:
                cands = [p for p in profiles if self.reg.tree(p) is not None]
                if not cands:
                    self.add("warning", ipath, f"profile {profiles[0]} not available; checked against {code} only")
                    struct = self.reg.tree(CORE + code)
                elif len(cands) == 1:
                    struct = self.reg.tree(cands[0])
                else:
                    results = [self.collect(lambda p=p: self.complex(v, self.reg.tree(p), ipath, ctx)) for p in cands]
                    best = min(results, key=lambda r: sum(1 for i in r if i.severity == "error"))
                    self.issues.extend(best)
                    struct = None
            else:
                struct = self.reg.tree(CORE + code)
            if generic_ext and isinstance(v, dict) and struct is not None and self.reg.tree(v.get("url", "")) is None:
                url = v.get("url", "")
                if url and not url.startswith("http://hl7.org/fhir/StructureDefinition/"):
                    self.add("warning", ipath, f"extension {url} is unknown here, so its content is not checked")
                elif url:
                    self.add("error", ipath, f"extension {url} is unknown")
        if struct is not None:
            self.complex(v, struct, ipath, ctx)
            if struct is not node:
                self.constraints(v, struct.ed, code, ipath, ctx)
        self.fixed_pattern(v, ed, ipath)
        self.binding(v, code, ed, ipath)
        if code == "Coding":
            self.coding(v, ipath)
        if code == "Reference":
            self.reference(v, ed, ipath, ctx)
        self.constraints(v, ed, code, ipath, ctx)

    def primitive(self, v, code, ipath):
        if code == "boolean":
            ok = isinstance(v, bool)
        elif code in ("integer", "unsignedInt", "positiveInt"):
            ok = isinstance(v, int) and not isinstance(v, bool)
            if ok and code == "unsignedInt" and v < 0 or ok and code == "positiveInt" and v < 1:
                self.add("error", ipath, f"value {v} is not a valid {code}")
            if ok and not (-2**31 <= v < 2**31):
                self.add("error", ipath, f"value {v} is out of range for {code}")
        elif code == "decimal":
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        else:
            ok = isinstance(v, str)
            if ok and v == "":
                self.add("error", ipath, "@value cannot be empty")
                return
            if ok and code not in ("string", "markdown", "xhtml"):
                rx = self.reg.type_regex(code)
                if rx is not None and not rx.fullmatch(v):
                    self.add("error", ipath, f"the value '{v}' is not a valid {code}")
            if ok and code in ("string", "markdown") and v != v.strip():
                self.add("warning", ipath, "value should not start or finish with whitespace")
        if not ok:
            self.add("error", ipath, f"wrong JSON type for {code}: {json.dumps(v)[:60]}")

    def fixed_pattern(self, v, ed, ipath):
        for k, val in ed.items():
            if k.startswith("fixed") and k != "fixed":
                if v != val:
                    self.add("error", ipath, f"value must be exactly {json.dumps(val)[:200]}, found {json.dumps(v)[:200]}")
            elif k.startswith("pattern") and k != "pattern":
                if not includes(v, val):
                    self.add("error", ipath, f"value does not match the required pattern {json.dumps(val)[:200]}")

    # ---- slicing -------------------------------------------------------------
    def slice_matches(self, it, snode, disc, ctx):
        v, u, code = it[0], it[1], it[2]
        if not disc:
            return False
        for d in disc:
            dtype, dpath = d.get("type"), d.get("path", "$this")
            inst = self.walk_instance(v, code, dpath, ctx)
            defs = self.walk_definition(snode, dpath)
            if dtype in ("value", "pattern"):
                if not defs:
                    return False
                dn = defs[0]
                fixed = [(k, x) for k, x in dn.ed.items() if k.startswith(("fixed", "pattern")) and k not in ("fixed", "pattern")]
                if fixed:
                    k, x = fixed[0]
                    if k.startswith("fixed"):
                        if not any(i == x for i in inst):
                            return False
                    elif not any(includes(i, x) for i in inst):
                        return False
                    continue
                b = dn.ed.get("binding")
                if b and b.get("strength") == "required" and b.get("valueSet"):
                    exp = self.reg.expand(b["valueSet"])
                    if exp is None or not any(self.in_expansion(i, exp) for i in inst):
                        return False
                    continue
                return False
            elif dtype == "type":
                allowed = {t.get("code") for dn in defs for t in dn.ed.get("type", [])}
                if dpath == "$this":
                    if code not in allowed:
                        return False
                elif not any((i.get("resourceType") if isinstance(i, dict) and "resourceType" in i else None) in allowed for i in inst):
                    return False
            elif dtype == "exists":
                want = bool(defs) and defs[0].ed.get("min", 0) > 0
                if want != bool(inst):
                    return False
            elif dtype == "profile":
                profs = [p for dn in defs for t in dn.ed.get("type", []) for p in t.get("profile", [])]
                if not inst or not profs:
                    return False
                ok = False
                for i in inst:
                    for p in profs:
                        tree = self.reg.tree(p)
                        if tree is None:
                            continue
                        errs = self.collect(lambda: self.complex(i, tree, "$", ctx, is_resource="resourceType" in i))
                        if not any(e.severity == "error" for e in errs):
                            ok = True
                if not ok:
                    return False
            else:
                return False
        return True

    @staticmethod
    def in_expansion(i, exp):
        if isinstance(i, str):
            return any(c == i for _, c in exp)
        if isinstance(i, dict):
            if "coding" in i:
                return any((c.get("system"), c.get("code")) in exp for c in i["coding"])
            return (i.get("system"), i.get("code")) in exp
        return False

    def walk_instance(self, v, code, dpath, ctx):
        vals = [v]
        if dpath in ("$this", ""):
            return [x for x in vals if x is not None]
        for step in split_path(dpath):
            nxt = []
            m = re.fullmatch(r"extension\('([^']*)'\)", step)
            for x in vals:
                if step == "resolve()":
                    if isinstance(x, dict) and str(x.get("reference", "")).startswith("#"):
                        r = self.find_contained(ctx, x["reference"][1:])
                        if r is not None:
                            nxt.append(r)
                    continue
                if not isinstance(x, dict):
                    continue
                if m:
                    nxt += [e for e in x.get("extension", []) if e.get("url") == m.group(1)]
                    continue
                if step in x:
                    y = x[step]
                else:  # choice: value -> valueX
                    ks = [k for k in x if k.startswith(step) and k[len(step):len(step) + 1].isupper()]
                    y = x[ks[0]] if ks else None
                if y is None:
                    continue
                nxt += y if isinstance(y, list) else [y]
            vals = nxt
        return vals

    def walk_definition(self, snode, dpath):
        nodes = [snode]
        if dpath in ("$this", ""):
            return nodes
        for step in split_path(dpath):
            nxt = []
            m = re.fullmatch(r"extension\('([^']*)'\)", step)
            for n in nodes:
                if step == "resolve()":
                    for t in n.ed.get("type", []):
                        for p in t.get("targetProfile", []):
                            tr = self.reg.tree(p)
                            if tr is not None:
                                nxt.append(tr)
                    continue
                kids = n.children
                if not kids:
                    profs = [p for t in n.ed.get("type", []) for p in t.get("profile", [])]
                    tr = self.reg.tree(profs[0]) if profs else None
                    if tr is None and n.ed.get("type"):
                        tr = self.reg.tree(CORE + n.ed["type"][0].get("code", ""))
                    kids = tr.children if tr is not None else {}
                if m:
                    ext = kids.get("extension")
                    if ext:
                        for s in ext.slices.values():
                            urls = [s.children["url"].ed.get("fixedUri")] if "url" in s.children else \
                                [p for t in s.ed.get("type", []) for p in t.get("profile", [])]
                            if m.group(1) in urls:
                                nxt.append(s)
                    continue
                c = kids.get(step) or kids.get(step + "[x]")
                if c is not None:
                    nxt.append(c)
            nodes = nxt
        return nodes

    # ---- resources and references ---------------------------------------------
    def find_contained(self, ctx, rid):
        for r in ctx.root.get("contained", []) or []:
            if isinstance(r, dict) and r.get("id") == rid:
                return r
        return None

    def contained(self, res, ipath, ctx, node):
        if not isinstance(res, dict) or "resourceType" not in res:
            self.add("error", ipath, "contained resource has no resourceType")
            return
        rpath = f"{ipath}/*{res['resourceType']}/{res.get('id', '?')}*/"
        if "contained" in res:
            self.add("error", rpath, "contained resources must not contain resources (dom-2)")
        if "text" in res and ctx.root is not res:
            pass
        profs = [strip_version(p) for p in res.get("meta", {}).get("profile", [])] or [CORE + res["resourceType"]]
        sub = Ctx(res, ctx.root, rpath, ctx.stack)
        for p in profs:
            self.validate_resource(res, p, rpath, sub)

    def reference(self, v, ed, ipath, ctx):
        if not isinstance(v, dict):
            return
        ref = v.get("reference")
        targets = [strip_version(p) for t in ed.get("type", []) if t.get("code") == "Reference"
                   for p in t.get("targetProfile", [])]
        if not ref:
            return
        if ref.startswith("#"):
            res = self.find_contained(ctx, ref[1:]) if ref != "#" else ctx.root
            if res is None:
                self.add("error", ipath, f"contained resource {ref} not found")
                return
            if not targets:
                return
            rt = res.get("resourceType")
            cands = [p for p in targets if (self.reg.get(p) or {}).get("type", p.rsplit("/", 1)[-1]) == rt]
            if not cands:
                self.add("error", ipath, f"{ref} is a {rt}, but the reference must point to one of: {', '.join(targets)}")
                return
            if any(p == CORE + rt for p in cands):
                return
            details = []
            for p in cands:
                key = (id(res), p)
                if key not in self._contained_cache:
                    if key in ctx.stack:
                        self._contained_cache[key] = []
                    else:
                        ctx.stack.add(key)
                        sub = Ctx(res, ctx.root, f"{ipath}->{ref}", ctx.stack)
                        self._contained_cache[key] = self.collect(
                            lambda: self.validate_resource(res, p, f"{ref}", sub))
                        ctx.stack.discard(key)
                errs = [i for i in self._contained_cache[key] if i.severity == "error"]
                if not errs:
                    return
                details.append((p, errs))
            self.add("error", ipath, f"unable to find a match for profile {ref} among choices: {', '.join(cands)}")
            for p, errs in details:
                for e in errs[:8]:
                    self.add("information", ipath, f"  details for {ref} against {p.rsplit('/', 1)[-1]}: {e.path}: {e.message}")
            return
        m = re.match(r"^(?:https?://.*/)?([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}(/_history/.*)?$", ref)
        if m and targets:
            rt = m.group(1)
            types = {(self.reg.get(p) or {}).get("type", p.rsplit("/", 1)[-1]) for p in targets}
            if rt not in types and "Resource" not in types:
                self.add("error", ipath, f"reference type {rt} is not allowed here (allowed: {', '.join(sorted(types))})")
                return
        nonbase = [p for p in targets if not p.startswith(CORE)]
        self.add("warning", ipath, f"reference '{ref}' cannot be resolved here"
                 + (f"; target profile(s) {', '.join(nonbase)} not checked" if nonbase else ""))

    def check_dom3(self, res, path):
        cont = res.get("contained") or []
        if not cont:
            return
        refs = set()

        def walk(x):
            if isinstance(x, dict):
                for k, y in x.items():
                    if k in ("reference",) and isinstance(y, str) and y.startswith("#"):
                        refs.add(y[1:])
                    elif isinstance(y, str) and y.startswith("#") and k in ("valueCanonical", "valueUri"):
                        refs.add(y[1:])
                    walk(y)
            elif isinstance(x, list):
                for y in x:
                    walk(y)
        walk(res)
        for i, c in enumerate(cont):
            if isinstance(c, dict) and c.get("id") not in refs and "" not in refs:
                self.add("error", f"{path}.contained[{i}]", f"contained resource {c.get('id')} is not referenced from the resource (dom-3)")

    # ---- terminology -----------------------------------------------------------
    def binding(self, v, code, ed, ipath):
        b = ed.get("binding")
        if not b or b.get("strength") not in ("required", "extensible") or not b.get("valueSet"):
            return
        if code == "code" or code in ("string", "uri"):
            codes = [(None, v)]
        elif code == "Coding":
            codes = [(v.get("system"), v.get("code"))] if v.get("code") else []
        elif code == "CodeableConcept":
            codes = [(c.get("system"), c.get("code")) for c in v.get("coding", []) if c.get("code")]
        else:
            return
        vs = strip_version(b["valueSet"])
        exp = self.reg.expand(vs)
        if exp is None:
            what = self.reg.get(vs)
            why = ("is a CodeSystem, not a ValueSet" if what and what.get("resourceType") == "CodeSystem"
                   else "is not available offline")
            if (vs, ipath) not in self.warned_vs:
                self.warned_vs.add((vs, ipath))
                self.add("warning", ipath, f"value set {vs} {why}, so the code cannot be checked")
            return
        if not codes:
            if b["strength"] == "required" and code == "CodeableConcept":
                self.add("error", ipath, f"no code provided, and a code is required from the value set {vs}")
            return
        ok = any((s, c) in exp if s else any(c == cc for _, cc in exp) for s, c in codes)
        if not ok:
            # extensible: other codes are allowed when no code fits; like the HL7 validator, warn only
            # when every code comes from a code system we know (else we cannot judge)
            known = all(s and self.reg.cs_codes(s) is not None for s, _ in codes)
            sev = "error" if b["strength"] == "required" else ("warning" if known else "information")
            shown = ", ".join(f"{s}#{c}" if s else c for s, c in codes)
            self.add(sev, ipath, f"none of the codes provided ({shown}) are in the value set {vs} ({b['strength']} binding)")

    def coding(self, v, ipath):
        system, c, disp = v.get("system"), v.get("code"), v.get("display")
        if not system or not c:
            if c and not system:
                self.add("warning", ipath, "a code with no system has no defined meaning, and it cannot be validated")
            return
        codes = self.reg.cs_codes(system)
        if codes is None:
            cs = self.reg.get(system)
            if cs is None:
                self.add("warning", ipath, f"CodeSystem {system} is not available offline, so the code cannot be validated")
            return
        concept = codes.get(c)
        if concept is None:
            self.add("error", ipath, f"unknown code '{c}' in the CodeSystem {system}")
            return
        if disp:
            valid = [concept.get("display")] + [d.get("value") for d in concept.get("designation", [])]
            if disp not in [x for x in valid if x] and disp.lower() not in [x.lower() for x in valid if x]:
                self.add("warning", ipath, f"wrong display '{disp}' for {system}#{c}; valid display is '{concept.get('display')}'")

    # ---- invariants ------------------------------------------------------------
    def constraints(self, v, ed, code, ipath, ctx):
        for c in ed.get("constraint", []):
            key = c.get("key")
            expr = c.get("expression")
            if not expr or key in SKIP_CONSTRAINTS:
                continue
            sev = "error" if c.get("severity") == "error" else "warning"
            if any(x.get("url") == "http://hl7.org/fhir/StructureDefinition/elementdefinition-bestpractice"
                   and x.get("valueBoolean") for x in c.get("extension", [])):
                sev = "information"  # best-practice invariants (dom-6 narrative)
            try:
                res = self.fhirpath(v, code, expr, ctx)
            except ImportError:  # fhirpathpy missing: fail loudly, never skip invariants silently
                raise
            except Exception as e:  # engine limitation, not a finding
                self.add("information", ipath, f"constraint {key} could not be evaluated here ({type(e).__name__})")
                continue
            if res == [] or res == [True]:
                continue
            if res == [False] or not any(r is True for r in res):
                self.add(sev, ipath, f"constraint failed: {key}: '{c.get('human', '')}'")

    def fhirpath(self, v, code, expr, ctx):
        if self._fp is None:
            import fhirpathpy
            from fhirpathpy.engine.nodes import ResourceNode
            from fhirpathpy.models import models
            from fhirpathpy.parser import parse
            self._fp = (fhirpathpy, ResourceNode, models["r4"], parse)
        fp, RN, model, parse = self._fp
        parsed = self._fp_cache.get(expr)
        if parsed is None:
            parsed = self._fp_cache[expr] = parse(expr)
        data = copy.deepcopy(v) if isinstance(v, (dict, list)) else v
        node = RN.create_node(data, code) if code and isinstance(data, dict) else data
        env = {"resource": ctx.resource, "rootResource": ctx.root}
        return fp.apply_parsed_path(node, parsed, env, model, {"traceFn": _no_trace})


def _no_trace(*_args, **_kw):
    return None


def split_path(p):
    out, buf, depth = [], "", 0
    for ch in p:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "." and depth == 0:
            out.append(buf)
            buf = ""
        else:
            buf += ch
    if buf:
        out.append(buf)
    return out


def includes(value, pattern):
    """FHIR pattern[x] semantics: every property of the pattern is present (recursively)."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(includes(value.get(k), pv) for k, pv in pattern.items())
    if isinstance(pattern, list):
        return isinstance(value, list) and all(any(includes(v, pv) for v in value) for pv in pattern)
    return value == pattern


# ---- setup helper for Python callers (tests) ------------------------------------------
HERE = os.path.dirname(os.path.abspath(__file__))


def work_dir():
    """Where setup writes (tools, venv, FHIR packages): $FHIRVAL_WORK, else <temp dir>/fhirval-work."""
    return os.environ.get("FHIRVAL_WORK") or os.path.join(
        os.environ.get("TMPDIR") or tempfile.gettempdir(), "fhirval-work")


def package_dirs(setup=True):
    """The four package folders for Registry([...]) / --pkg, in this order: hl7.fhir.r4.core 4.0.1 and
    hl7.fhir.no.basis 2.2.0 (both built in the work dir), then the IG's StructureDefinitions and its other
    resources (both in the data folder, tests/fixtures/fhir/no-auditevent-ig/ of this checkout, used read-only).

    With setup=True, this runs the setup of validate.sh when it has not run yet. That is a no-op once it
    has run. The first run needs node+npm and python venv+pip, with access to the npm registry and PyPI.
    With setup=False, it raises CalledProcessError instead of setting up. The venv is made with this
    interpreter. When fhirpathpy cannot be imported here, the venv's site-packages is appended to
    sys.path, so that the FHIRPath invariants run in process."""
    env = dict(os.environ, FHIRVAL_WORK=work_dir())
    env.setdefault("FHIRVAL_PYTHON", sys.executable)
    if not setup:
        env["FHIRVAL_NO_SETUP"] = "1"

    def sh(*args):
        return subprocess.run(["bash", os.path.join(HERE, "validate.sh")] + list(args), env=env, check=True,
                              stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
    dirs = sh("--pkgs").splitlines()
    try:
        import fhirpathpy  # noqa: F401
    except ImportError:
        py = sh("--python")
        ver, purelib = subprocess.run(
            [py, "-c", "import sys, sysconfig; print('%d.%d' % sys.version_info[:2]); "
                       "print(sysconfig.get_paths()['purelib'])"],
            check=True, stdout=subprocess.PIPE, universal_newlines=True).stdout.split("\n")[:2]
        if ver != "%d.%d" % sys.version_info[:2]:
            raise ImportError(f"fhirpathpy is not installed, and the setup's venv is Python {ver}, not this "
                              f"Python: pip install -r {os.path.join(HERE, 'requirements.txt')}")
        sys.path.append(purelib)
    return dirs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+", help="FHIR R4 JSON resources (a JSON array or a Bundle: each entry on its own)")
    ap.add_argument("--pkg", action="append", required=True, help="folder with conformance resources (repeatable)")
    ap.add_argument("--profile", action="append", help="profile canonical; default: the resource's meta.profile")
    ap.add_argument("-v", "--verbose", action="store_true", help="also print information messages")
    ap.add_argument("--json", action="store_true", help="print an OperationOutcome per file")
    a = ap.parse_args(argv)
    t0 = time.time()
    val = Validator(Registry(a.pkg))
    bad = 0
    for f in a.files:
        with open(f) as fh:
            res = json.load(fh)
        resources = [(f, res)]
        if isinstance(res, list):
            resources = [(f"{f}[{i}]", r) for i, r in enumerate(res)]
        elif res.get("resourceType") == "Bundle" and res.get("type") != "document":
            resources = [(f"{f}#entry[{i}]", e.get("resource")) for i, e in enumerate(res.get("entry", []))]
        for name, r in resources:
            t1 = time.time()
            issues = val.validate(r, a.profile)
            ms = (time.time() - t1) * 1000
            ne = sum(1 for i in issues if i.severity == "error")
            nw = sum(1 for i in issues if i.severity == "warning")
            bad += ne > 0
            if a.json:
                print(json.dumps({"resourceType": "OperationOutcome", "id": os.path.basename(name),
                                  "issue": [{"severity": i.severity, "code": "invalid", "expression": [i.path],
                                             "diagnostics": i.message} for i in issues
                                            if a.verbose or i.severity != "information"]}, ensure_ascii=False))
                continue
            used = a.profile or (r.get("meta", {}).get("profile") if isinstance(r, dict) else None) \
                or [f"base {r.get('resourceType') if isinstance(r, dict) else '?'}"]
            print(f"== {name}: {ne} error(s), {nw} warning(s) [{ms:.0f} ms; against {', '.join(used)}]")
            for i in issues:
                if a.verbose or i.severity != "information":
                    print("  " + str(i))
    print(f"(total {time.time() - t0:.1f} s)", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
