"""Builds TUF repositories with python-tuf for airlock's interop tests, then runs python-tuf's
own client (ngclient) over them as a cross-check.

usage: tuf_repo.py SCENARIO OUTDIR

Writes OUTDIR/pinned-root.json, OUTDIR/repo/{metadata,targets}/ (the mirror a first import
sees), for two-phase scenarios OUTDIR/repo2/ (the mirror a second import sees), OUTDIR/target.bin
(the genuine target bytes) and OUTDIR/python-tuf.txt (one line per phase: "ok <sha256>" or
"error <ExceptionClass>: <message>").
"""

import copy
import hashlib
import os
import shutil
import sys
from datetime import datetime, timezone

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from securesystemslib.signer import CryptoSigner, Signature
from tuf.api import exceptions
from tuf.api.metadata import (
    DelegatedRole,
    Delegations,
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer
from tuf.ngclient import Updater
from tuf.ngclient.fetcher import FetcherInterface

FAR = datetime(2100, 1, 1, tzinfo=timezone.utc)
PAST = datetime(2020, 1, 1, tzinfo=timezone.utc)
TARGET = "trusted_root.json"
DATA = b'{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1", "tlogs": []}\n'


def ed(n):
    return CryptoSigner(Ed25519PrivateKey.from_private_bytes(bytes([n]) * 32))


def p256(n):
    return CryptoSigner(ec.derive_private_key(1000 + n, ec.SECP256R1()))


def dump(md):
    return md.to_bytes(JSONSerializer(compact=False))


class Repo:
    def __init__(self, consistent=True):
        self.consistent = consistent
        self.signers = {"root": [ed(1)], "timestamp": [p256(2)], "snapshot": [ed(3)], "targets": [ed(4)]}
        root = Root(expires=FAR, consistent_snapshot=consistent)
        for role, signers in self.signers.items():
            for s in signers:
                root.add_key(s.public_key, role)
        self.root = Metadata(root)
        self.roots = {}  # version -> bytes
        self.files = {}  # metadata name -> bytes
        self.targets_files = {}  # path under targets/ -> bytes
        self.ts = Metadata(Timestamp(expires=FAR))
        self.sn = Metadata(Snapshot(expires=FAR))
        self.tg = Metadata(Targets(expires=FAR))
        self.delegated = {}  # role name -> (Metadata, signers)
        self.add_target(TARGET, DATA)

    def sign_root(self, signers=None):
        self.root.signatures.clear()
        for s in signers if signers is not None else self.signers["root"]:
            self.root.sign(s, append=True)
        b = dump(self.root)
        self.roots[self.root.signed.version] = b
        return b

    def add_target(self, name, data, md=None):
        md = md or self.tg
        tf = TargetFile.from_data(name, data, ["sha256"])
        md.signed.targets[name] = tf
        d, base = os.path.split(name)
        stored = f"{tf.hashes['sha256']}.{base}" if self.consistent else base
        self.targets_files[os.path.join(d, stored)] = data

    def name(self, role, version):
        return f"{version}.{role}.json" if self.consistent else f"{role}.json"

    def publish(self, ts_hashes=False, sn_hashes=False):
        """Signs targets (and delegated roles), snapshot and timestamp; stores the files."""
        for role, (md, signers) in self.delegated.items():
            md.signatures.clear()
            for s in signers:
                md.sign(s, append=True)
            b = dump(md)
            self.files[self.name(role, md.signed.version)] = b
            self.sn.signed.meta[f"{role}.json"] = self.metafile(md.signed.version, b, sn_hashes)
        self.tg.signatures.clear()
        for s in self.signers["targets"]:
            self.tg.sign(s, append=True)
        tb = dump(self.tg)
        self.files[self.name("targets", self.tg.signed.version)] = tb
        self.sn.signed.meta["targets.json"] = self.metafile(self.tg.signed.version, tb, sn_hashes)
        self.sn.signatures.clear()
        for s in self.signers["snapshot"]:
            self.sn.sign(s, append=True)
        sb = dump(self.sn)
        self.files[self.name("snapshot", self.sn.signed.version)] = sb
        self.ts.signed.snapshot_meta = self.metafile(self.sn.signed.version, sb, ts_hashes)
        self.ts.signatures.clear()
        for s in self.signers["timestamp"]:
            self.ts.sign(s, append=True)
        self.files["timestamp.json"] = dump(self.ts)

    @staticmethod
    def metafile(version, b, hashes):
        if hashes:
            return MetaFile(version=version, length=len(b), hashes={"sha256": hashlib.sha256(b).hexdigest()})
        return MetaFile(version=version)

    def bump(self, *roles):
        for r in roles:
            {"timestamp": self.ts, "snapshot": self.sn, "targets": self.tg}[r].signed.version += 1

    def write(self, out, skip_roots=()):
        meta = os.path.join(out, "metadata")
        os.makedirs(meta, exist_ok=True)
        for v, b in self.roots.items():
            if v not in skip_roots:
                open(os.path.join(meta, f"{v}.root.json"), "wb").write(b)
        latest = max(v for v in self.roots if v not in skip_roots)
        open(os.path.join(meta, "root.json"), "wb").write(self.roots[latest])
        for n, b in self.files.items():
            open(os.path.join(meta, n), "wb").write(b)
        for p, b in self.targets_files.items():
            full = os.path.join(out, "targets", p)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            open(full, "wb").write(b)


class DirFetcher(FetcherInterface):
    def __init__(self):
        self.base = None

    def _fetch(self, url):
        rel = url.split("://mirror/", 1)[1]
        p = os.path.join(self.base, rel)
        if not os.path.isfile(p):
            raise exceptions.DownloadHTTPError(f"{rel} not found", 404)
        return iter([open(p, "rb").read()])


def python_tuf_phases(out, mirrors, pinned):
    """Runs ngclient over each mirror in turn with one persistent metadata directory."""
    state = os.path.join(out, "python-tuf-state")
    os.makedirs(state, exist_ok=True)
    fetcher = DirFetcher()
    lines = []
    for i, m in enumerate(mirrors):
        fetcher.base = m
        dl = os.path.join(out, f"python-tuf-download-{i}")
        os.makedirs(dl, exist_ok=True)
        try:
            u = Updater(
                metadata_dir=state,
                metadata_base_url="http://mirror/metadata/",
                target_dir=dl,
                target_base_url="http://mirror/targets/",
                fetcher=fetcher,
                bootstrap=pinned if i == 0 else None,
            )
            u.refresh()
            info = u.get_targetinfo(TARGET)
            if info is None:
                raise exceptions.RepositoryError(f"{TARGET} not found")
            path = u.download_target(info)
            lines.append("ok " + hashlib.sha256(open(path, "rb").read()).hexdigest())
        except Exception as e:  # noqa: BLE001 - the class name is the result
            lines.append(f"error {type(e).__name__}: {e}".replace("\n", " "))
    open(os.path.join(out, "python-tuf.txt"), "w").write("\n".join(lines) + "\n")


def main():
    scenario, out = sys.argv[1], sys.argv[2]
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    r = Repo(consistent=scenario != "basic_inconsistent")
    pinned = r.sign_root()
    phase2 = None
    skip_roots = ()

    if scenario in ("basic", "basic_inconsistent"):
        r.publish(ts_hashes=True, sn_hashes=True)
    elif scenario == "delegated":
        del r.tg.signed.targets[TARGET]
        r.targets_files.clear()
        d = Metadata(Targets(expires=FAR))
        signer = ed(9)
        role = DelegatedRole(name="sigstore", keyids=[signer.public_key.keyid], threshold=1, terminating=True, paths=["trusted_*.json"])
        r.tg.signed.delegations = Delegations(keys={signer.public_key.keyid: signer.public_key}, roles={"sigstore": role})
        r.delegated["sigstore"] = (d, [signer])
        r.add_target(TARGET, DATA, md=d)
        r.publish()
    elif scenario in ("rotation_1of1_to_2of3", "rotation_under_threshold"):
        a = r.signers["root"][0]
        b, c, d = ed(11), ed(12), ed(13)
        r.root.signed.revoke_key(a.public_key.keyid, "root")
        for s in (b, c, d):
            r.root.signed.add_key(s.public_key, "root")
        r.root.signed.roles["root"].threshold = 2
        r.root.signed.version = 2
        if scenario == "rotation_1of1_to_2of3":
            r.sign_root([a, b, c])
            r.root.signed.version = 3
            r.sign_root([c, d])
        else:
            r.sign_root([a, b])  # only one of the two new root keys required
        r.publish()
    elif scenario == "root_version_gap":
        a = r.signers["root"][0]
        r.root.signed.version = 2
        r.sign_root([a])
        r.root.signed.version = 3
        r.sign_root([a])
        new_ts = ed(21)
        old_ts = r.signers["timestamp"][0]
        r.root.signed.revoke_key(old_ts.public_key.keyid, "timestamp")
        r.root.signed.add_key(new_ts.public_key, "timestamp")
        r.signers["timestamp"] = [new_ts]
        r.root.signed.version = 4
        r.sign_root([a])
        skip_roots = (3,)
        r.publish()
    elif scenario == "root_version_mismatch":
        r.root.signed.version = 3
        b = r.sign_root()
        del r.roots[3]
        r.roots[2] = b
        r.publish()
    elif scenario == "expired_root":
        r.root.signed.version = 2
        r.root.signed.expires = PAST
        r.sign_root()
        r.publish()
    elif scenario == "expired_timestamp":
        r.ts.signed.expires = PAST
        r.publish()
    elif scenario == "expired_snapshot":
        r.sn.signed.expires = PAST
        r.publish()
    elif scenario == "expired_targets":
        r.tg.signed.expires = PAST
        r.publish()
    elif scenario in ("mix_and_match_snapshot", "mix_and_match_snapshot_version"):
        hashes = scenario == "mix_and_match_snapshot"
        r.publish(ts_hashes=hashes)
        old_snapshot = r.files[r.name("snapshot", 1)]
        r.bump("timestamp", "snapshot", "targets")
        r.publish(ts_hashes=hashes)
        r.files[r.name("snapshot", 2)] = old_snapshot  # a snapshot that never went with this timestamp
    elif scenario == "mix_and_match_targets":
        r.publish()
        old_targets = r.files[r.name("targets", 1)]
        r.bump("timestamp", "snapshot", "targets")
        r.publish()
        r.files[r.name("targets", 2)] = old_targets
    elif scenario in ("target_hash_mismatch", "target_length_mismatch"):
        r.publish()
        (p, b), = r.targets_files.items()
        r.targets_files[p] = (b"X" + b[1:]) if scenario == "target_hash_mismatch" else (b + b" ")
    elif scenario == "threshold_exceeds_keys":
        r.root.signed.roles["timestamp"].threshold = 2
        pinned = r.sign_root()
        r.publish()
    elif scenario == "same_key_two_keyids":
        ts = r.signers["timestamp"][0]
        alias = "a11a5" + ts.public_key.keyid[5:]
        key2 = copy.deepcopy(ts.public_key)
        key2.keyid = alias
        r.root.signed.keys[alias] = key2
        r.root.signed.roles["timestamp"].keyids.append(alias)
        r.root.signed.roles["timestamp"].threshold = 2
        pinned = r.sign_root()
        r.publish()
        md = Metadata.from_bytes(r.files["timestamp.json"])
        sig = md.signatures[ts.public_key.keyid]
        md.signatures[alias] = Signature(alias, sig.signature)  # the same signature under the second keyid
        r.files["timestamp.json"] = dump(md)
    elif scenario == "forged_targets":
        r.signers["targets"] = [ed(31)]
        r.publish()
    elif scenario in ("rollback_timestamp", "rollback_snapshot", "rollback_targets", "import_twice"):
        r.publish()
        old_ts = r.files["timestamp.json"]
        r.bump("timestamp", "snapshot", "targets")
        r.publish()
        r.write(os.path.join(out, "repo"))
        if scenario == "rollback_timestamp":
            r.files["timestamp.json"] = old_ts
        elif scenario == "rollback_snapshot":
            # An attacker holding the online timestamp key names the old snapshot v1.
            r.ts.signed.version += 1
            r.ts.signed.snapshot_meta = MetaFile(version=1)
            r.ts.signatures.clear()
            r.ts.sign(r.signers["timestamp"][0])
            r.files["timestamp.json"] = dump(r.ts)
        elif scenario == "rollback_targets":
            # An attacker holding the online timestamp and snapshot keys names the old targets v1.
            r.sn.signed.version += 1
            r.sn.signed.meta["targets.json"] = MetaFile(version=1)
            r.sn.signatures.clear()
            r.sn.sign(r.signers["snapshot"][0])
            sb = dump(r.sn)
            r.files[r.name("snapshot", r.sn.signed.version)] = sb
            r.ts.signed.version += 1
            r.ts.signed.snapshot_meta = MetaFile(version=r.sn.signed.version)
            r.ts.signatures.clear()
            r.ts.sign(r.signers["timestamp"][0])
            r.files["timestamp.json"] = dump(r.ts)
        phase2 = os.path.join(out, "repo2")
        r.write(phase2)
    elif scenario in ("fast_forward_recovery", "fast_forward_no_rotation"):
        # Phase 1: an attacker holding the timestamp key fast-forwarded it to v1000; clients
        # trusted it. Phase 2: the repository recovers by rotating the timestamp key in root v2
        # and publishing an ordinary timestamp v2 (TUF 5.3.11: clients forget the trusted
        # timestamp and snapshot when their keys rotate). Without the rotation, v2 is a rollback.
        r.ts.signed.version = 1000
        r.publish()
        r.write(os.path.join(out, "repo"))
        if scenario == "fast_forward_recovery":
            old = r.signers["timestamp"][0].public_key.keyid
            r.root.signed.revoke_key(old, "timestamp")
            r.signers["timestamp"] = [p256(22)]
            r.root.signed.add_key(r.signers["timestamp"][0].public_key, "timestamp")
            r.root.signed.version += 1
            r.sign_root(r.signers["root"])
        r.ts.signed.version = 2
        r.publish()
        phase2 = os.path.join(out, "repo2")
        r.write(phase2)
    else:
        sys.exit(f"unknown scenario {scenario}")

    if not os.path.exists(os.path.join(out, "repo")):
        r.write(os.path.join(out, "repo"), skip_roots)
    open(os.path.join(out, "pinned-root.json"), "wb").write(pinned)
    open(os.path.join(out, "target.bin"), "wb").write(DATA)
    mirrors = [os.path.join(out, "repo")] + ([phase2] if phase2 else [])
    python_tuf_phases(out, mirrors, pinned)


if __name__ == "__main__":
    main()
