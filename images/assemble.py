#!/usr/bin/env python3
"""Assemble (or check) a FROM-scratch image from its Dockerfile, without a container engine.

images/build.sh compiles the static binaries and calls this script once per image. The image is
described by the final stage of the Dockerfile itself (LABEL, COPY --from, USER, EXPOSE,
ENTRYPOINT, CMD), so the two ways of building cannot drift apart: an instruction this script does
not understand in that stage is an error, not something silently left out.

    assemble.py --dockerfile images/leaker/Dockerfile --tag REF --version V --revision SHA \\
        --created EPOCH --file /oomsday-leaker=PATH \\
        --docker-archive OUT.tar --oci-layout OUT.oci          # write both
    assemble.py --check ... (same arguments, --max-size BYTES)   # verify both
    assemble.py --build-env images/leaker/Dockerfile            # the build stage's CARGO_* ENV

Output, reproducible for the same binaries, tag and --created (fixed mtimes, uid/gid 0, sorted
entries, gzip with mtime 0):
  - a docker-archive (manifest.json with RepoTags, <sha256>.json config, <sha256>.tar layer):
    `docker load -i`, `ctr images import`, `kind load image-archive`, skopeo docker-archive:;
  - an OCI image layout (oci-layout, index.json, blobs/sha256/...; the index entry annotated
    with org.opencontainers.image.ref.name = the full tag): skopeo/crane/oras/podman, `oci:DIR:TAG`.
Both hold the same config (same image ID); the layer is uncompressed in the docker-archive, as
`docker save` writes it, and gzip-compressed in the OCI layout, as a registry stores it.

Python standard library only.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import hashlib
import io
import json
import os
import re
import shlex
import shutil
import struct
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field

# What BuildKit puts in the config of a FROM-scratch image that sets no ENV of its own.
DEFAULT_ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"

GOARCH = {"x86_64": "amd64", "aarch64": "arm64"}


class Failure(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# The Dockerfile


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Spec:
    """The final stage of a Dockerfile, as an image config and a list of files."""

    dockerfile: str
    labels: dict[str, str] = field(default_factory=dict)
    copies: list[tuple[str, str]] = field(default_factory=list)  # (source in the stage, path)
    user: str | None = None
    exposed: dict[str, dict] = field(default_factory=dict)
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    history: list[tuple[str, bool]] = field(default_factory=list)  # (created_by, empty_layer)

    @property
    def title(self) -> str:
        return self.labels.get("org.opencontainers.image.title", "")


def read_stages(path: str) -> list[Stage]:
    """Instructions per stage; comments, parser directives and continuations resolved."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    logical, current = [], ""
    for line in lines:
        if line.lstrip().startswith("#") or (not line.strip() and not current):
            continue  # a comment or blank line, also inside a continued instruction
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        current += line
        logical.append(current.strip())
        current = ""
    if current.strip():
        logical.append(current.strip())
    stages: list[Stage] = []
    for text in logical:
        word, _, rest = text.partition(" ")
        word, rest = word.upper(), rest.strip()
        if word == "FROM":
            parts = rest.split()
            parts = [p for p in parts if not p.startswith("--")]
            name = parts[2] if len(parts) == 3 and parts[1].lower() == "as" else None
            stages.append(Stage(parts[0], name))
        elif stages:
            stages[-1].instructions.append((word, rest))
        # before the first FROM: ARG only, which concerns the build stage
    if not stages:
        raise Failure(f"{path}: no FROM")
    return stages


def json_array(path: str, word: str, rest: str) -> list[str]:
    try:
        value = json.loads(rest)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Failure(f'{path}: {word} {rest}: only the exec form ["..."] is supported')
    return value


def read_spec(path: str) -> Spec:
    stage = read_stages(path)[-1]
    if stage.base != "scratch":
        raise Failure(f"{path}: the final stage is FROM {stage.base}; only FROM scratch is supported")
    spec = Spec(path)
    for word, rest in stage.instructions:
        if word == "LABEL":
            for token in shlex.split(rest):
                key, eq, value = token.partition("=")
                if not eq:
                    raise Failure(f"{path}: LABEL {token}: expected key=value")
                spec.labels[key] = value
        elif word == "COPY":
            tokens = shlex.split(rest)
            options = [t for t in tokens if t.startswith("--")]
            paths = [t for t in tokens if not t.startswith("--")]
            if len(options) != 1 or not options[0].startswith("--from=") or len(paths) != 2:
                raise Failure(f"{path}: COPY {rest}: only COPY --from=STAGE /source /destination")
            if not paths[1].startswith("/") or paths[1].endswith("/"):
                raise Failure(f"{path}: COPY {rest}: the destination must be an absolute file path")
            spec.copies.append((paths[0], paths[1]))
        elif word == "USER":
            spec.user = rest
        elif word == "EXPOSE":
            for port in rest.split():
                spec.exposed[port if "/" in port else port + "/tcp"] = {}
        elif word == "ENTRYPOINT":
            spec.entrypoint = json_array(path, word, rest)
            spec.cmd = None  # as in Docker: a new ENTRYPOINT resets an inherited CMD
        elif word == "CMD":
            spec.cmd = json_array(path, word, rest)
        else:
            raise Failure(
                f"{path}: {word} in the final stage is not supported by images/assemble.py "
                "(teach it, or the images built with and without Docker would differ)"
            )
        spec.history.append((f"{word} {rest}", word != "COPY"))
    if not spec.copies:
        raise Failure(f"{path}: the final stage copies nothing")
    if not spec.title:
        raise Failure(f"{path}: no LABEL org.opencontainers.image.title")
    return spec


def build_env(path: str) -> list[str]:
    """The CARGO_* variables the build stages set with ENV (the release profile overrides)."""
    out = []
    for stage in read_stages(path)[:-1]:
        for word, rest in stage.instructions:
            if word == "ENV":
                for token in shlex.split(rest):
                    key, eq, _ = token.partition("=")
                    if not eq:
                        raise Failure(f"{path}: ENV {rest}: only the ENV key=value form is supported")
                    if key.startswith("CARGO_"):
                        out.append(token)
    return out


# ---------------------------------------------------------------------------------------------
# Building


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def rfc3339(epoch: int) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def tar_bytes(entries: list[tuple[str, bytes | None, int]], mtime: int) -> bytes:
    """A deterministic tar: sorted names, fixed mtime, uid/gid 0, no user names. data None = dir."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data, mode in sorted(entries, key=lambda e: e[0]):
            info = tarfile.TarInfo(name)
            info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = mtime, mode, 0, 0, "", ""
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def layer_entries(spec: Spec, files: dict[str, str]) -> list[tuple[str, bytes | None, int]]:
    entries, dirs = [], set()
    for source, dest in spec.copies:
        if source not in files:
            raise Failure(f"{spec.dockerfile} copies {source}: pass --file {source}=LOCAL_PATH")
        with open(files[source], "rb") as f:
            data = f.read()
        mode = 0o755 if os.stat(files[source]).st_mode & 0o111 else 0o644
        name = dest.lstrip("/")
        entries.append((name, data, mode))
        parent = os.path.dirname(name)
        while parent:
            dirs.add(parent + "/")
            parent = os.path.dirname(parent)
    return entries + [(d, None, 0o755) for d in dirs]


def image_config(spec: Spec, args, diff_id: str) -> dict:
    created = rfc3339(args.created)
    labels = dict(spec.labels)
    labels["org.opencontainers.image.version"] = args.version
    labels["org.opencontainers.image.revision"] = args.revision
    labels["org.opencontainers.image.created"] = created
    config = {"Env": DEFAULT_ENV, "Labels": labels}
    if spec.user:
        config["User"] = spec.user
    if spec.exposed:
        config["ExposedPorts"] = spec.exposed
    if spec.entrypoint is not None:
        config["Entrypoint"] = spec.entrypoint
    if spec.cmd is not None:
        config["Cmd"] = spec.cmd
    history = []
    for created_by, empty in spec.history:
        entry = {"created": created, "created_by": created_by, "comment": "images/assemble.py"}
        if empty:
            entry["empty_layer"] = True
        history.append(entry)
    return {
        "created": created,
        "architecture": args.arch,
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": history,
    }


def write_docker_archive(path: str, tag: str, config: bytes, layer: bytes, mtime: int) -> None:
    config_name = sha256(config).split(":")[1] + ".json"
    layer_name = sha256(layer).split(":")[1] + ".tar"
    manifest = [{"Config": config_name, "RepoTags": [tag], "Layers": [layer_name]}]
    archive = tar_bytes(
        [(config_name, config, 0o644), (layer_name, layer, 0o644), ("manifest.json", canonical(manifest), 0o644)],
        mtime,
    )
    atomic_write(path, archive)


def write_oci_layout(path: str, tag: str, arch: str, config: bytes, layer: bytes, labels: dict) -> None:
    gz = gzip.compress(layer, compresslevel=9, mtime=0)
    manifest = canonical(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": sha256(gz), "size": len(gz)}],
            "annotations": labels,
        }
    )
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": sha256(manifest),
                "size": len(manifest),
                "platform": {"architecture": arch, "os": "linux"},
                "annotations": {REF_NAME: tag, "io.containerd.image.name": tag},
            }
        ],
    }
    parent = os.path.dirname(os.path.abspath(path))
    tmp = tempfile.mkdtemp(prefix=".oci-", dir=parent)
    try:
        os.makedirs(os.path.join(tmp, "blobs", "sha256"))
        for blob in (config, gz, manifest):
            with open(os.path.join(tmp, "blobs", "sha256", sha256(blob).split(":")[1]), "wb") as f:
                f.write(blob)
        with open(os.path.join(tmp, "oci-layout"), "wb") as f:
            f.write(canonical({"imageLayoutVersion": "1.0.0"}))
        with open(os.path.join(tmp, "index.json"), "wb") as f:
            f.write(canonical(index))
        for root, dirs, names in os.walk(tmp):
            os.chmod(root, 0o755)
            for name in names:
                os.chmod(os.path.join(root, name), 0o644)
        if os.path.exists(path):
            shutil.rmtree(path)
        os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def build(spec: Spec, args) -> None:
    files = {}
    for item in args.file:
        source, eq, local = item.partition("=")
        if not eq:
            raise Failure(f"--file {item}: expected SOURCE=LOCAL_PATH")
        files[source] = local
    layer = tar_bytes(layer_entries(spec, files), args.created)
    config = image_config(spec, args, sha256(layer))
    config_bytes = canonical(config)
    os.makedirs(os.path.dirname(os.path.abspath(args.docker_archive)), exist_ok=True)
    write_docker_archive(args.docker_archive, args.tag, config_bytes, layer, args.created)
    write_oci_layout(args.oci_layout, args.tag, args.arch, config_bytes, layer, config["config"]["Labels"])
    print(
        f"{args.tag}: image {sha256(config_bytes)[:19]}, {mib(os.path.getsize(args.docker_archive))} "
        f"-> {args.docker_archive}, {args.oci_layout}"
    )


# ---------------------------------------------------------------------------------------------
# Checking


def mib(n: int) -> str:
    return f"{n / 1048576:.2f} MiB"


def elf_static(data: bytes) -> str | None:
    """None if `data` is a statically linked ELF (no interpreter, no DT_NEEDED); else why not."""
    if data[:4] != b"\x7fELF":
        return "not an ELF file"
    if data[4] != 2 or data[5] != 1:
        return "not a 64-bit little-endian ELF"
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        if p_type == 3:  # PT_INTERP
            interp = data[p_offset : p_offset + p_filesz].rstrip(b"\0").decode(errors="replace")
            return f"dynamically linked (interpreter {interp})"
        if p_type == 2:  # PT_DYNAMIC
            for off in range(p_offset, p_offset + p_filesz, 16):
                tag, _ = struct.unpack_from("<qQ", data, off)
                if tag == 0:  # DT_NULL
                    break
                if tag == 1:  # DT_NEEDED
                    return "dynamically linked (DT_NEEDED)"
    return None


class Checker:
    def __init__(self, what: str):
        self.what, self.problems = what, []

    def expect(self, ok: bool, message: str) -> bool:
        if not ok:
            self.problems.append(message)
        return ok


def layer_files(c: Checker, where: str, layer: bytes) -> dict[str, tarfile.TarInfo | bytes]:
    files = {}
    with tarfile.open(fileobj=io.BytesIO(layer), mode="r:") as tar:
        for m in tar.getmembers():
            name = m.name[2:] if m.name.startswith("./") else m.name
            name = "/" + name.strip("/")
            if m.isdir():
                files[name] = m
                continue
            c.expect(m.isfile(), f"{where}: {name} is not a regular file (type {m.type!r})")
            c.expect(m.uid == 0 and m.gid == 0, f"{where}: {name} owned by {m.uid}:{m.gid}, not 0:0")
            files[name] = tar.extractfile(m).read() if m.isfile() else m
    return files


def check_config(c: Checker, spec: Spec, args, config: dict, where: str) -> None:
    cc = config.get("config") or {}
    problems = len(c.problems)
    c.expect(config.get("os") == "linux", f"os {config.get('os')!r}, expected linux")
    c.expect(config.get("architecture") == args.arch, f"architecture {config.get('architecture')!r}, expected {args.arch}")
    c.expect(cc.get("User") == spec.user, f"User {cc.get('User')!r}, expected {spec.user!r}")
    c.expect(
        (cc.get("User") or "").split(":")[0] == "65532", f"User {cc.get('User')!r}: not the non-root 65532"
    )
    c.expect(cc.get("Entrypoint") == spec.entrypoint, f"Entrypoint {cc.get('Entrypoint')!r}, expected {spec.entrypoint!r}")
    c.expect(cc.get("Cmd") == spec.cmd, f"Cmd {cc.get('Cmd')!r}, expected {spec.cmd!r}")
    c.expect((cc.get("ExposedPorts") or {}) == spec.exposed, f"ExposedPorts {cc.get('ExposedPorts')!r}, expected {spec.exposed!r}")
    labels = cc.get("Labels") or {}
    for key, value in spec.labels.items():
        c.expect(labels.get(key) == value, f"label {key}={labels.get(key)!r}, expected {value!r}")
    if args.version:
        key = "org.opencontainers.image.version"
        c.expect(labels.get(key) == args.version, f"label {key}={labels.get(key)!r}, expected {args.version!r}")
    if args.revision:
        key = "org.opencontainers.image.revision"
        c.expect(labels.get(key) == args.revision, f"label {key}={labels.get(key)!r}, expected {args.revision!r}")
    c.problems[problems:] = [f"{where}: {p}" for p in c.problems[problems:]]


def check_layer(c: Checker, spec: Spec, where: str, layer: bytes) -> int:
    """Exactly the files the Dockerfile copies (and their parent directories), each static."""
    files = layer_files(c, where, layer)
    expected = {dest for _, dest in spec.copies}
    dirs = {"/"}
    for dest in expected:
        parent = os.path.dirname(dest)
        while parent != "/":
            dirs.add(parent)
            parent = os.path.dirname(parent)
    extra = sorted(set(files) - expected - dirs)
    missing = sorted(expected - set(files))
    c.expect(not extra, f"{where}: unexpected files {extra} (only {sorted(expected)} belong in the image)")
    c.expect(not missing, f"{where}: missing {missing}")
    size = 0
    for dest in sorted(expected & set(files)):
        data = files[dest]
        if isinstance(data, bytes):
            size += len(data)
            why = elf_static(data)
            c.expect(why is None, f"{where}: {dest} is not a static executable: {why}")
    return size


def check_docker_archive(c: Checker, spec: Spec, args) -> tuple[bytes, int]:
    path = args.docker_archive
    with tarfile.open(path, mode="r:") as tar:
        blobs = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile() or m.issym() or m.islnk()}
    manifest = json.loads(blobs["manifest.json"])
    if not c.expect(isinstance(manifest, list) and len(manifest) == 1, f"{path}: manifest.json holds {len(manifest)} images, expected 1"):
        return b"", 0
    entry = manifest[0]
    if args.tag:
        c.expect(entry.get("RepoTags") == [args.tag], f"{path}: RepoTags {entry.get('RepoTags')}, expected [{args.tag!r}]")
    config_bytes = blobs[entry["Config"]]
    named = re.search(r"([0-9a-f]{64})", entry["Config"])
    if named:
        c.expect(sha256(config_bytes) == "sha256:" + named.group(1), f"{path}: config {entry['Config']} has digest {sha256(config_bytes)}")
    config = json.loads(config_bytes)
    check_config(c, spec, args, config, f"{path}: config")
    diff_ids = config.get("rootfs", {}).get("diff_ids", [])
    c.expect(len(diff_ids) == len(entry["Layers"]) == 1, f"{path}: {len(entry['Layers'])} layers, {len(diff_ids)} diff_ids, expected 1")
    binary = 0
    for name, diff_id in zip(entry["Layers"], diff_ids):
        raw = blobs[name]
        named = re.search(r"([0-9a-f]{64})", name)
        if named:
            c.expect(sha256(raw) == "sha256:" + named.group(1), f"{path}: layer {name} has digest {sha256(raw)}")
        layer = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        c.expect(sha256(layer) == diff_id, f"{path}: layer {name}: uncompressed digest {sha256(layer)}, diff_id {diff_id}")
        binary += check_layer(c, spec, f"{path}: layer", layer)
    return config_bytes, binary


def check_oci_layout(c: Checker, spec: Spec, args, docker_config: bytes) -> None:
    root = args.oci_layout

    def blob(descriptor: dict) -> bytes:
        algo, _, hexdigest = descriptor["digest"].partition(":")
        with open(os.path.join(root, "blobs", algo, hexdigest), "rb") as f:
            data = f.read()
        c.expect(sha256(data) == descriptor["digest"], f"{root}: blob {descriptor['digest']} has digest {sha256(data)}")
        c.expect(len(data) == descriptor.get("size"), f"{root}: blob {descriptor['digest']} is {len(data)} bytes, descriptor says {descriptor.get('size')}")
        return data

    with open(os.path.join(root, "oci-layout"), "rb") as f:
        c.expect(json.load(f).get("imageLayoutVersion") == "1.0.0", f"{root}: oci-layout is not version 1.0.0")
    with open(os.path.join(root, "index.json"), "rb") as f:
        index = json.load(f)
    refs = [m for m in index.get("manifests", []) if not args.tag or (m.get("annotations") or {}).get(REF_NAME) == args.tag]
    if not c.expect(len(refs) == 1, f"{root}: index.json has {len(refs)} manifests named {args.tag!r}, expected 1"):
        return
    manifest = json.loads(blob(refs[0]))
    c.expect(manifest.get("mediaType") == OCI_MANIFEST, f"{root}: manifest mediaType {manifest.get('mediaType')!r}")
    config_bytes = blob(manifest["config"])
    c.expect(config_bytes == docker_config, f"{root}: the config differs from the docker-archive's (a different image ID)")
    config = json.loads(config_bytes)
    check_config(c, spec, args, config, f"{root}: config")
    diff_ids = config.get("rootfs", {}).get("diff_ids", [])
    c.expect(len(diff_ids) == len(manifest["layers"]), f"{root}: {len(manifest['layers'])} layers, {len(diff_ids)} diff_ids")
    for descriptor, diff_id in zip(manifest["layers"], diff_ids):
        raw = blob(descriptor)
        layer = gzip.decompress(raw) if descriptor["mediaType"].endswith("+gzip") else raw
        c.expect(sha256(layer) == diff_id, f"{root}: layer {descriptor['digest']}: uncompressed digest {sha256(layer)}, diff_id {diff_id}")
        check_layer(c, spec, f"{root}: layer", layer)


def check(spec: Spec, args) -> None:
    c = Checker(args.tag or spec.title)
    for path in (args.docker_archive, args.oci_layout):
        if path and not os.path.exists(path):
            raise Failure(f"{path}: missing (build it first: images/build.sh)")
    config_bytes, binary = check_docker_archive(c, spec, args)
    if args.oci_layout and config_bytes:
        check_oci_layout(c, spec, args, config_bytes)
    size = os.path.getsize(args.docker_archive)
    if args.max_size:
        c.expect(size <= args.max_size, f"{args.docker_archive}: {mib(size)}, above the limit of {mib(args.max_size)}")
    if c.problems:
        raise Failure("\n".join([f"{c.what}: FAILED"] + ["  " + p for p in c.problems]))
    limit = f" (limit {mib(args.max_size)})" if args.max_size else ""
    print(
        f"{c.what}: ok: image {sha256(config_bytes)[:19]}, {mib(size)}{limit}; "
        f"only {', '.join(dest for _, dest in spec.copies)} ({mib(binary)}, static); "
        f"user {spec.user}, entrypoint {spec.entrypoint}" + (f", cmd {spec.cmd}" if spec.cmd else "")
    )


# ---------------------------------------------------------------------------------------------


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build-env", metavar="DOCKERFILE", help="print the build stages' CARGO_* ENV and exit")
    p.add_argument("--check", action="store_true", help="verify --docker-archive and --oci-layout instead of writing them")
    p.add_argument("--dockerfile", help="the Dockerfile whose final stage describes the image")
    p.add_argument("--tag", help="full reference, e.g. ghcr.io/oomsday/oomsday-leaker:0.1.0")
    p.add_argument("--version", help="org.opencontainers.image.version")
    p.add_argument("--revision", help="org.opencontainers.image.revision (a commit)")
    p.add_argument("--created", type=int, help="creation time, Unix seconds (SOURCE_DATE_EPOCH)")
    p.add_argument("--arch", default=GOARCH.get(os.uname().machine, os.uname().machine), help="amd64, arm64 (default: this machine)")
    p.add_argument("--file", action="append", default=[], metavar="SOURCE=PATH", help="local file for the Dockerfile's COPY --from SOURCE")
    p.add_argument("--docker-archive", help="the docker-archive tarball to write or check")
    p.add_argument("--oci-layout", help="the OCI image layout directory to write or check")
    p.add_argument("--max-size", type=int, help="--check: the docker-archive's size limit, bytes")
    args = p.parse_args()
    try:
        if args.build_env:
            print("\n".join(build_env(args.build_env)))
            return 0
        if not args.dockerfile or not args.docker_archive:
            p.error("--dockerfile and --docker-archive are required")
        spec = read_spec(args.dockerfile)
        if args.check:
            check(spec, args)
        else:
            missing = [f"--{n.replace('_', '-')}" for n in ("tag", "version", "revision", "created", "oci_layout") if getattr(args, n) in (None, "")]
            if missing:
                p.error(f"building needs {', '.join(missing)}")
            build(spec, args)
    except Failure as e:
        print(f"assemble.py: {e}", file=sys.stderr)
        return 1
    except (KeyError, ValueError, OSError, tarfile.TarError, struct.error) as e:
        print(f"assemble.py: malformed or unreadable image: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
