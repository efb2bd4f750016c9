"""Ground truth for tools/poisoned-cache.sh: BuildKit inline caches, healthy and poisoned.

Standard library only. Subcommands (python3 tools/poisoned_cache.py CMD ARGS...):

  poison SRC.tar DST.tar NEWREF      write DST: SRC's docker-archive with only the record
                                     indices of its inline cache rewritten as BuildKit
                                     v0.8.0/v0.8.1 wrote them (new config digest; manifest.json
                                     and repositories name NEWREF); prints the new image ID
  lines-to-array SRC DST             `docker history --format '{{json .}}'` lines -> one array
  record RECORDS.jsonl KEY=VALUE...  append one record of the run (VALUE may be JSON)
  registry-manifest URL DST          fetch a manifest (Docker v2 schema 2) from a registry on 127.0.0.1
  pulled BUILD.log                   the blobs a build log says it pulled, as a JSON list
  truth OUT RECORDS.jsonl            write OUT/TRUTH.json from the records and the archives

Inline cache (moby.buildkit.cache.v0 in the image config), as BuildKit v0.8 writes it: base64 of
a JSON array of records {"layers": [{"layer": N, "createdAt": T}], "digest": D,
"inputs": [[{"link": i}], ...]}; N indexes the image's own rootfs.diff_ids (the record's result
is diff_ids[0..N]), link i indexes this array. See /work/scratch/inline-cache-notes.md.
"""
import base64
import hashlib
import io
import json
from typing import IO, Any, Callable
import os
import posixpath
import re
import sys
import tarfile
import urllib.request

# The 1024-byte empty tar: the diff_id of a layer that changes nothing (WORKDIR of an existing
# directory, RUN true). Pushed by docker 20.10 it becomes the 32-byte gzip blob 4f4fb700...
EMPTY_TAR = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
EMPTY_GZ = "sha256:4f4fb700ef54461cfa02571ae0db9a0dc1e0cdb5577484a6d75e68dc38e8acc1"
CACHE_KEY = "moby.buildkit.cache.v0"


# ---------------------------------------------------------------- reading a docker-archive

def _member(t: tarfile.TarFile, member: Any) -> IO[bytes]:
    f = t.extractfile(member)
    if f is None:
        raise SystemExit(f"{t.name!r}: {member} is not a regular file")
    return f


class Archive:
    """One image of a legacy docker-archive (docker save): config bytes, manifest item, layers."""

    def __init__(self, path: Any, index: Any = 0) -> None:
        self.path = path
        with tarfile.open(path) as t:
            self.items = json.load(_member(t, "manifest.json"))
            self.item = self.items[index]
            self.config_bytes = _member(t, self.item["Config"]).read()
        self.config = json.loads(self.config_bytes)
        self.image_id = "sha256:" + hashlib.sha256(self.config_bytes).hexdigest()
        self.diff_ids = self.config["rootfs"]["diff_ids"]
        self.history = self.config.get("history") or []

    def layer_of_history(self) -> Any:
        """history index -> layer index (None for empty_layer entries)."""
        out: list[int | None] = []
        n = 0
        for h in self.history:
            if h.get("empty_layer"):
                out.append(None)
            else:
                out.append(n)
                n += 1
        return out

    def history_of_layer(self, layer: Any) -> Any:
        for i, n in enumerate(self.layer_of_history()):
            if n == layer:
                return i
        return None

    def step(self, layer: Any) -> Any:
        """The history entry that owns layer index LAYER, as {history_index, created_by}."""
        i = self.history_of_layer(layer)
        if i is None:
            return None
        return {"history_index": i, "created_by": self.history[i].get("created_by", "")}

    def cache_raw(self) -> Any:
        b64 = self.config.get(CACHE_KEY)
        return None if b64 is None else base64.b64decode(b64)

    def cache(self) -> Any:
        raw = self.cache_raw()
        return None if raw is None else json.loads(raw)

    def layer_entries(self, layer: Any) -> Any:
        """The entries of layer LAYER's tar: [{path, type, size?}] in tar order."""
        if self.diff_ids[layer] == EMPTY_TAR:
            return []
        with tarfile.open(self.path) as t:
            member = t.getmember(self.item["Layers"][layer])
            f = _member(t, member)  # follows the symlink of a repeated diff_id
            rows = []
            with tarfile.open(fileobj=io.BytesIO(f.read())) as lt:
                for m in lt.getmembers():
                    name = posixpath.normpath(m.name.lstrip("/"))
                    if name in (".", ""):
                        continue
                    kind = ("dir" if m.isdir() else "file" if m.isreg() else "symlink" if m.issym()
                            else "hardlink" if m.islnk() else "other")
                    row: dict[str, Any] = {"path": "/" + name, "type": kind}
                    if m.isreg():
                        row["size"] = m.size
                    rows.append(row)
            return rows


# ---------------------------------------------------------------- the v0.8.0/0.8.1 shift
def v080_index(diff_ids: Any, n: Any) -> Any:
    """The index BuildKit v0.8.0/v0.8.1 wrote for a result whose chain is diff_ids[0..n].

    cache/remotecache/v1/utils.go marshalRemote skipped every descriptor whose digest is the
    empty gzip layer (`if desc.Digest == exptypes.EmptyGZLayer { return parentID }`), and the
    inline exporter's getSortedLayerIndex numbers a chain by its depth: the index becomes the
    number of non-empty layers in diff_ids[0..n], minus one. After a registry import every
    empty layer is that blob (docker 20.10 pushes the empty tar as 4f4fb700). -1: the chain was
    all empty, and the record got no result at all.
    """
    return sum(1 for d in diff_ids[:n + 1] if d != EMPTY_TAR) - 1


def poison(src: Any, dst: Any, newref: Any) -> Any:
    a = Archive(src)
    if len(a.items) != 1:
        raise SystemExit(f"{src}: poison wants a one-image archive")
    b64 = a.config[CACHE_KEY]
    raw = base64.b64decode(b64)
    records = json.loads(raw)
    # Go's json.Marshal writes these records compactly, keys in struct order; re-encoding the
    # parsed records must give the same bytes, so that only the indices change.
    if json.dumps(records, separators=(",", ":")).encode() != raw:
        raise SystemExit(f"{src}: inline cache does not re-encode to the same bytes")
    for r in records:
        results = []
        for res in r.get("layers", []):
            k = v080_index(a.diff_ids, res["layer"])
            if k >= 0:
                results.append(dict(res, layer=k))
        if results:
            r["layers"] = results
        else:
            r.pop("layers", None)
    b64_new = base64.b64encode(json.dumps(records, separators=(",", ":")).encode()).decode()
    token = json.dumps(b64).encode()  # the quoted string, exactly once in the config bytes
    if a.config_bytes.count(token) != 1:
        raise SystemExit(f"{src}: inline cache string not found exactly once in the config")
    config = a.config_bytes.replace(token, json.dumps(b64_new).encode())
    hexd = hashlib.sha256(config).hexdigest()
    name, tag = newref.rsplit(":", 1)
    item = dict(a.item, Config=hexd + ".json", RepoTags=[newref])
    top = item["Layers"][-1].split("/")[0]
    with tarfile.open(src) as t, tarfile.open(dst + ".tmp", "w", format=tarfile.PAX_FORMAT) as out:
        for m in t.getmembers():
            def put(name_: Any, data: Any) -> Any:
                ti = tarfile.TarInfo(name_)
                for attr in ("mode", "uid", "gid", "uname", "gname", "mtime"):
                    setattr(ti, attr, getattr(m, attr))
                ti.size = len(data)
                out.addfile(ti, io.BytesIO(data))
            if m.name == a.item["Config"]:
                put(item["Config"], config)
            elif m.name == "manifest.json":
                put(m.name, (json.dumps([item], separators=(",", ":")) + "\n").encode())
            elif m.name == "repositories":
                put(m.name, (json.dumps({name: {tag: top}}, separators=(",", ":")) + "\n").encode())
            elif m.isreg():
                out.addfile(m, t.extractfile(m))
            else:
                out.addfile(m)
    os.replace(dst + ".tmp", dst)
    print("sha256:" + hexd)


# ---------------------------------------------------------------- small helpers for the script
def lines_to_array(src: Any, dst: Any) -> Any:
    with open(src, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(rows, f, indent=1, sort_keys=True)
        f.write("\n")


def record(records_file: Any, *pairs: Any) -> Any:
    entry = {}
    for pair in pairs:
        key, value = pair.split("=", 1)
        try:
            entry[key] = json.loads(value)
        except ValueError:
            entry[key] = value
    with open(records_file, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, sort_keys=True) + "\n")


def pulled(build_log: Any) -> Any:
    """The blobs a build log says it pulled (a cache hit on registry layers), as a JSON list."""
    with open(build_log, encoding="utf-8", errors="replace") as f:
        print(json.dumps(sorted(set(re.findall(r"pulling (sha256:[0-9a-f]{64})", f.read())))))


def registry_manifest(url: Any, dst: Any) -> Any:
    if not url.startswith("http://127.0.0.1:"):
        raise SystemExit("registry-manifest: only a registry on 127.0.0.1")
    req = urllib.request.Request(url, headers={
        "Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        data = r.read()
    with open(dst, "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- the truth file
def cache_view(a: Any) -> Any:
    """The decoded inline cache and which step's layer each record claims."""
    records = a.cache()
    if records is None:
        return None
    claims, sources = [], []
    for i, r in enumerate(records):
        inputs = r.get("inputs") or []
        if not inputs and not r.get("layers"):
            sources.append(i)
        for res in r.get("layers", []):
            n = res["layer"]
            claims.append({
                "record": i, "digest": r["digest"], "layer": n, "createdAt": res.get("createdAt"),
                "parent_link": inputs[0][0]["link"] if inputs and inputs[0] else None,
                "inputs": [[x["link"] for x in inp] for inp in inputs],
                "in_range": 0 <= n < len(a.diff_ids),
                "step_of_layer": a.step(n) if 0 <= n < len(a.diff_ids) else None,
            })
    return {"records": records, "claims": claims, "source_records": sources,
            "claimed_layers": sorted({c["layer"] for c in claims})}


def image_view(out: Any, rec: Any) -> Any:
    a = Archive(os.path.join(out, rec["archive"]))
    l_of_h = a.layer_of_history()
    view = {k: v for k, v in rec.items() if k not in ("kind",)}
    view.update({
        "image_id": a.image_id,
        "config_digest_matches_name": a.item["Config"] == a.image_id.split(":")[1] + ".json",
        "repo_tags": a.item.get("RepoTags"),
        "created": a.config.get("created"),
        "diff_ids": a.diff_ids,
        "empty_tar_layers": [i for i, d in enumerate(a.diff_ids) if d == EMPTY_TAR],
        "history": [dict(h, layer_index=l_of_h[i]) for i, h in enumerate(a.history)],
        "inline_cache": cache_view(a),
    })
    hist_report = rec.get("reports", {}).get("docker_history")
    if hist_report:
        with open(os.path.join(out, hist_report), encoding="utf-8") as f:
            rows = json.load(f)
        # docker history lists newest first; history index i is rows[-1 - i].
        view["docker_history_sizes"] = [r.get("Size") for r in reversed(rows)]
    return a, view


def context_paths(out: Any, ctx: Any, src: Any, dest: Any) -> Any:
    """The paths `COPY SRC DEST` (or ADD of a plain file/dir) writes, from the build context."""
    base = os.path.join(out, ctx, src)
    if os.path.isdir(base):
        rows = []
        for top, dirs, files in os.walk(base):
            for name in dirs + files:
                rel = os.path.relpath(os.path.join(top, name), base)
                rows.append(posixpath.join(dest, rel.replace(os.sep, "/")))
        return sorted(rows)
    return [dest]


def poison_view(healthy: Any, poisoned: Any) -> Any:
    """What the rewrite changed, which steps' layers no record claims, what the top record says."""
    hc, pc = healthy.cache(), poisoned.cache()
    changed = []
    for i, (h, p) in enumerate(zip(hc, pc)):
        hl = [x["layer"] for x in h.get("layers", [])]
        pl = [x["layer"] for x in p.get("layers", [])]
        if hl != pl:
            changed.append({"record": i, "digest": h["digest"], "layer_was": hl, "layer_now": pl,
                            "step": healthy.step(hl[0]) if hl else None})
    h_claims = {x["layer"] for r in hc for x in r.get("layers", [])}
    p_claims = {x["layer"] for r in pc for x in r.get("layers", [])}
    unclaimed = []
    for n in sorted(h_claims - p_claims):
        unclaimed.append(dict(healthy.step(n), layer_index=n, diff_id=healthy.diff_ids[n],
                              empty_tar=healthy.diff_ids[n] == EMPTY_TAR,
                              entries=healthy.layer_entries(n)))
    top_i = max((i for i, r in enumerate(hc) if r.get("layers")),
                key=lambda i: hc[i]["layers"][0]["layer"])
    top = {"record": top_i, "digest": hc[top_i]["digest"],
           "step": healthy.step(hc[top_i]["layers"][0]["layer"]),
           "should": hc[top_i]["layers"][0]["layer"],
           "points_at": pc[top_i]["layers"][0]["layer"] if pc[top_i].get("layers") else None,
           "points_at_step": (healthy.step(pc[top_i]["layers"][0]["layer"])
                              if pc[top_i].get("layers") else None),
           "last_layer": len(healthy.diff_ids) - 1}
    return {"records_rewritten": changed, "unclaimed_steps": unclaimed, "top_record": top,
            "only_indices_changed": _only_indices_changed(hc, pc),
            "config_otherwise_identical": _config_same_but_cache(healthy, poisoned)}


def _only_indices_changed(hc: Any, pc: Any) -> Any:
    """Same records, same digests and inputs, same createdAt: only "layer" values differ (a record
    whose chain was all empty layers loses its result, as v0.8.0/0.8.1 wrote it)."""
    if len(hc) != len(pc):
        return False
    for h, p in zip(hc, pc):
        if {k: v for k, v in h.items() if k != "layers"} != {k: v for k, v in p.items() if k != "layers"}:
            return False
        times = [x.get("createdAt") for x in h.get("layers", [])]
        if any(x.get("createdAt") not in times for x in p.get("layers", [])):
            return False
    return True


def _config_same_but_cache(a: Any, b: Any) -> Any:
    ca, cb = dict(a.config), dict(b.config)
    ca.pop(CACHE_KEY, None)
    cb.pop(CACHE_KEY, None)
    return ca == cb


def claims_vs_steps(healthy: Any, image: Any) -> Any:
    """Each record's claim in IMAGE against the step the record is (known from the healthy image
    of the same case by the record's digest): does the layer it claims belong to that step?"""
    step_of = {r["digest"]: healthy.step(r["layers"][0]["layer"])
               for r in healthy.cache() if r.get("layers")}
    rows = []
    for i, r in enumerate(image.cache()):
        for res in r.get("layers", []):
            n = res["layer"]
            own = step_of.get(r["digest"])
            owner = image.step(n) if 0 <= n < len(image.diff_ids) else None
            rows.append({"record": i, "digest": r["digest"], "record_step": own, "layer": n,
                         "layer_owner_step": owner,
                         "agrees": bool(own and owner and own["history_index"] == owner["history_index"])})
    return rows


def corruption_view(out: Any, healthy: Any, rebuilt: Any, rec: Any, case_rec: Any) -> Any:
    """What a --cache-from rebuild from the poisoned cache did to diff_ids, history and files."""
    hd, rd = healthy.diff_ids, rebuilt.diff_ids
    prefix = rd == hd[:len(rd)]
    flipped = []
    for i, (h, r) in enumerate(zip(healthy.history, rebuilt.history)):
        if not h.get("empty_layer") and r.get("empty_layer"):
            flipped.append({"history_index": i, "created_by": h.get("created_by", "")})
    lost = []
    for n in range(len(rd), len(hd)):
        lost.append(dict(healthy.step(n), layer_index=n, diff_id=hd[n],
                         entries=healthy.layer_entries(n)))
    kept: set[Any] = set()
    for n in range(len(rd)):
        kept.update(e["path"] for e in rebuilt.layer_entries(n))
    missing = sorted({e["path"] for layer in lost for e in layer["entries"]} - kept)
    created = []
    for i, (h, r) in enumerate(zip(healthy.history, rebuilt.history)):
        created.append({
            "history_index": i, "created_by": h.get("created_by", ""),
            "source": h.get("created"), "rebuilt": r.get("created"),
            "rebuilt_equals_source_created_of": [j for j, x in enumerate(healthy.history)
                                                 if x.get("created") == r.get("created")],
        })
    top = len(healthy.history) - 1
    view = {
        "reproduced": bool(len(rd) < len(hd) and flipped),
        "diff_ids_source": len(hd), "diff_ids_rebuilt": len(rd),
        "rebuilt_diff_ids_are_a_prefix": prefix,
        "flipped_to_empty": flipped,
        "final_step_empty_layer": bool(rebuilt.history[top].get("empty_layer")),
        "lost_layers": lost,
        "missing_paths": missing,
        "image_created": {"source": healthy.config.get("created"), "rebuilt": rebuilt.config.get("created")},
        "created": created,
        "inline_cache_same_as_poisoned_source": None,
        "dockerd_warnings": rec.get("dockerd_warnings"),
    }
    if case_rec.get("copy_src"):
        view["context_paths_of_lost_step"] = context_paths(out, case_rec["context"], case_rec["copy_src"],
                                                           case_rec["copy_dest"])
    return view


def truth(out: Any, records_file: Any) -> Any:
    with open(records_file, encoding="utf-8") as f:
        recs = [json.loads(line) for line in f if line.strip()]
    meta: dict[str, Any] = next((r for r in recs if r.get("kind") == "meta"), {})
    images, archives = {}, {}
    for r in recs:
        if r.get("kind") == "image":
            a, view = image_view(out, r)
            images[r["name"]] = view
            archives[r["name"]] = a
    for r in recs:
        if r.get("kind") == "ls_check":
            images[r["name"]].setdefault("ls_checks", []).append(
                {k: v for k, v in r.items() if k not in ("kind", "name")})
    cases = []
    for c in (r for r in recs if r.get("kind") == "case"):
        h, p = archives[c["healthy"]], archives[c["poisoned"]]
        pv = poison_view(h, p)
        images[c["poisoned"]]["poison"] = pv
        for name in [c["healthy"], c["poisoned"]] + c.get("corrupt", []) + c.get("controls", []):
            images[name]["claims_vs_steps"] = claims_vs_steps(h, archives[name])
        case = dict(c, poison=pv, rebuilds=[])
        case.pop("kind", None)
        for name in c.get("corrupt", []):
            rec = images[name]
            cv = corruption_view(out, h, archives[name], rec, c)
            cv["inline_cache_same_as_poisoned_source"] = archives[name].cache() == p.cache()
            cv["image_id_same_as"] = sorted(n for n, a in archives.items()
                                            if n != name and a.image_id == archives[name].image_id)
            images[name]["corruption"] = cv
            case["rebuilds"].append(dict(name=name, how=rec.get("how"), **{
                k: cv[k] for k in ("reproduced", "diff_ids_source", "diff_ids_rebuilt", "flipped_to_empty",
                                   "missing_paths", "image_id_same_as", "dockerd_warnings")}))
        for name in c.get("controls", []):
            cv = corruption_view(out, h, archives[name], images[name], c)
            images[name]["control"] = {k: cv[k] for k in ("reproduced", "diff_ids_source", "diff_ids_rebuilt",
                                                          "flipped_to_empty", "created")}
        cases.append(case)
    doc = {
        "generator": "tools/poisoned-cache.sh",
        "about": ("BuildKit inline caches (moby.buildkit.cache.v0) as dockerd 20.10.24 writes them "
                  "(healthy), the same caches with their record indices rewritten as BuildKit "
                  "v0.8.0/v0.8.1 wrote them after a registry import (poisoned), and what a "
                  "--cache-from build from a poisoned cache makes (corrupt)."),
        "roles": {"healthy": "built by dockerd with BUILDKIT_INLINE_CACHE=1",
                  "poisoned": "a healthy image's config with only the inline cache's record indices "
                              "rewritten (every index past an empty layer lowered by the empty layers below it)",
                  "corrupt": "rebuilt with --cache-from a poisoned (or corrupt) image",
                  "control": "rebuilt with --cache-from the healthy image"},
        **{k: v for k, v in meta.items() if k != "kind"},
        "skipped": [{k: v for k, v in r.items() if k != "kind"} for r in recs if r.get("kind") == "skipped"],
        "images": [images[n] for n in sorted(images)],
        "cases": cases,
    }
    tmp = os.path.join(out, "TRUTH.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, os.path.join(out, "TRUTH.json"))
    for c in cases:
        for r in c["rebuilds"]:
            print(f"{c['case']}: {r['name']}: reproduced={r['reproduced']} "
                  f"({r['diff_ids_source']} -> {r['diff_ids_rebuilt']} layers, "
                  f"flipped {[x['created_by'] for x in r['flipped_to_empty']]}, "
                  f"{len(r['missing_paths'])} paths missing)")


if __name__ == "__main__":
    cmd = sys.argv[1].replace("-", "_")
    commands: dict[str, Callable[..., Any]] = {
        "poison": poison, "lines_to_array": lines_to_array, "record": record,
        "registry_manifest": registry_manifest, "pulled": pulled, "truth": truth}
    commands[cmd](*sys.argv[2:])
