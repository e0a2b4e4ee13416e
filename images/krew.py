#!/usr/bin/env python3
"""The krew manifest of the kubectl plugin: render .krew.yaml (a krew-release-bot template) for a
built archive, or check a rendered one against its archive.

  krew.py TEMPLATE TAG ARCHIVE      print the manifest for TAG with ARCHIVE's sha256
  krew.py --check MANIFEST ARCHIVE  the manifest names the archive's sha256 and a bin in it
"""
import hashlib
import re
import sys
import tarfile


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def render(template, tag, archive):
    text = open(template).read()
    digest = sha256(archive)

    def uri_and_sha(m):
        indent, uri = m.group(1), m.group(2).replace("{{ .TagName }}", tag)
        return "%suri: %s\n%ssha256: %s" % (indent, uri, indent, digest)

    text = re.sub(r'^(\s*)\{\{addURIAndSha "([^"]+)" \.TagName \}\}', uri_and_sha, text, flags=re.M)
    text = text.replace("{{ .TagName }}", tag)
    if "{{" in text:
        sys.exit("%s: a template call is left unrendered" % template)
    return text


def check(manifest, archive):
    text = open(manifest).read()
    fail = []
    for key in ("apiVersion: krew.googlecontainertools.github.com/v1alpha2", "kind: Plugin",
                "name: oomsday", "sha256: " + sha256(archive)):
        if key not in text:
            fail.append("missing %r" % key)
    bins = re.findall(r"^\s*bin: (\S+)$", text, flags=re.M)
    with tarfile.open(archive) as t:
        names = t.getnames()
        modes = {m.name: m.mode for m in t.getmembers()}
    if names != ["kubectl-oomsday"]:
        fail.append("the archive holds %s, not exactly kubectl-oomsday" % names)
    for b in bins:
        if b not in names or not modes.get(b, 0) & 0o111:
            fail.append("bin %s is not an executable in the archive" % b)
    if not bins:
        fail.append("no bin")
    if fail:
        sys.exit("%s: %s" % (manifest, "; ".join(fail)))
    print("%s: ok (%s, sha256 %s)" % (manifest, archive, sha256(archive)[:12]))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--check":
        check(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4:
        sys.stdout.write(render(*sys.argv[1:]))
    else:
        sys.exit(__doc__)
