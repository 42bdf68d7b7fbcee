//! `airlock pack DIR -o OUT.zip|OUT.tar --key K.key ... [--release release.toml|release.json]`
//! and `airlock pack --from-cavra PKG|PKG.zip --cavra-key CAVRA.pem -o OUT.zip --key K.key`.

use super::Ui;
use crate::archive::write::{self, PlannedMember};
use crate::bundle::manifest::{DeflateStream, ManifestError, Member, Release};
use crate::digest::{Sha256Digest, StreamHasher};
use crate::keys::SecretKey;
use crate::release::cavra::{self, CavraError};
use crate::release::{AuthorMetadata, MAX_METADATA_SIZE, METADATA_PATH, ReleaseMetadata};
use crate::time::Timestamp;
use crate::verify::{self, TrustPolicy, Verification};
use crate::{clock, fsio, pack, progress};
use anyhow::{Context, Result, bail};
use std::io::{BufWriter, Read, Seek};
use std::path::{Path, PathBuf};

/// Pack a directory into a signed bundle.
#[derive(clap::Args, Debug)]
#[command(override_usage = "airlock pack <DIR> --output <OUT> --key <KEY>... --product <PRODUCT> --version <VERSION> [OPTIONS]\n       \
airlock pack --from-cavra <PKG> --output <OUT> --key <KEY>... [OPTIONS]")]
#[command(after_help = "DIR holds the bundle layout: artifacts/, sbom/, provenance/, attestations/, vex/, tlog/, release/,\n\
other/. The archive is byte-reproducible: same inputs, keys and SOURCE_DATE_EPOCH give the same\n\
bytes.\n\n\
Examples:\n  \
airlock pack ./release -o app-1.2.0.zip --key release-1.key --product app --version 1.2.0\n  \
SOURCE_DATE_EPOCH=1700000000 airlock pack ./release -o app.tar --key a.key --key b.key \\\n      \
--product app --version 1.2.0 --commit 0a1b2c3d\n  \
airlock pack ./release -o app.zip --key a.key --product app --version 1.2.0 --release release.toml\n  \
airlock pack --from-cavra go-runtime-v0.2.0 --cavra-key cavra.pem -o cavra.zip --key a.key\n  \
airlock pack --from-cavra cavra-go-runtime-v0.2.0.zip --cavra-key cavra.pem -o c.zip --key a.key")]
pub struct Args {
    /// Directory with the bundle layout (required unless --from-cavra).
    #[arg(required_unless_present = "from_cavra", conflicts_with = "from_cavra")]
    pub dir: Option<PathBuf>,
    /// Output bundle; `.zip` or `.tar` decides the archive format.
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
    /// Signing key (NAME.key; required); repeat for k-of-n.
    #[arg(long = "key", value_name = "KEY", required = true)]
    pub keys: Vec<PathBuf>,
    /// Product name ([A-Za-z0-9._-]); required, except with --from-cavra (default `cavra-runtime`).
    #[arg(long, required_unless_present = "from_cavra")]
    pub product: Option<String>,
    /// Release version (semver 2.0.0); required, except with --from-cavra (default the package's version).
    #[arg(long = "version", value_name = "VERSION", required_unless_present = "from_cavra")]
    pub release_version: Option<String>,
    /// Source commit (hex).
    #[arg(long)]
    pub commit: Option<String>,
    /// Release channel.
    #[arg(long)]
    pub channel: Option<String>,
    /// Compression for zip members: auto stores incompressible members.
    #[arg(long, value_enum, default_value_t = Compress::Auto)]
    pub compress: Compress,
    /// Release metadata (TOML or JSON, `format-spec/release-metadata-v1.md`), written into the
    /// bundle as release/airlock-release.json after its binaries are bound by digest.
    #[arg(long, value_name = "FILE")]
    pub release: Option<PathBuf>,
    /// Map a CAVRA go-release package (its directory, or its zip) into the bundle: checksums.txt
    /// and every CAVRA signature verified on the way; unlisted files and mismatches refused.
    #[arg(long, value_name = "PKG")]
    pub from_cavra: Option<PathBuf>,
    /// With --from-cavra: CAVRA's release public key (PEM, `-----BEGIN PUBLIC KEY-----`); every
    /// CAVRA `*.sig.json` must verify against it. Required with --from-cavra.
    #[arg(long, value_name = "PEM", requires = "from_cavra")]
    pub cavra_key: Option<PathBuf>,
    /// With --from-cavra: pack this package file although CAVRA's checksums.txt does not list
    /// it and it is none of the files CAVRA writes after it; repeat. Its digest comes from this
    /// pack, on your authority, and pack names it.
    #[arg(long, value_name = "FILE", requires = "from_cavra")]
    pub accept_unlisted: Vec<String>,
    /// Attach a C2SP tlog-proof of this bundle's manifest (made on the connected side from the
    /// entry `airlock tlog entry` prints); it must prove exactly the manifest being packed.
    #[arg(long, value_name = "FILE")]
    pub tlog_proof: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Compression choice.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compress {
    /// Deflate members whose first 64 KiB compress below 90 %.
    Auto,
    /// Store everything.
    Store,
    /// Deflate everything.
    Deflate,
}

/// Archive flavour chosen from the output name.
pub fn format_of(path: &Path) -> Result<crate::archive::Format> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("zip") => Ok(crate::archive::Format::Zip),
        Some("tar") => Ok(crate::archive::Format::Tar),
        _ => bail!("output {} must end in .zip or .tar", path.display()),
    }
}

/// Where a member's bytes come from.
pub enum Data {
    /// A file on disk.
    File(PathBuf),
    /// Bytes made by airlock (release metadata).
    Bytes(Vec<u8>),
}

/// One payload member to pack.
pub struct Source {
    /// Member path.
    pub path: String,
    /// Its bytes.
    pub data: Data,
    /// The digest the file must have (from a checksums file), if any.
    pub expect: Option<Sha256Digest>,
}

struct Input {
    member: Member,
    stream: Option<DeflateStream>,
}

/// Hashes `r` through `buf` (one buffer for every member: a fresh 1 MiB one each was an mmap,
/// a page fault and an munmap per member); with `want_sample`, also decides from its first
/// 64 KiB whether deflating it is worthwhile.
fn hash_reader(mut r: impl Read, want_sample: bool, buf: &mut [u8]) -> Result<(Sha256Digest, u64, bool)> {
    const SAMPLE: usize = 64 << 10;
    let mut h = StreamHasher::new(false);
    let mut sample = Vec::new();
    loop {
        let n = r.read(buf)?;
        if n == 0 {
            break;
        }
        if want_sample && sample.len() < SAMPLE {
            let take = n.min(SAMPLE - sample.len());
            sample.extend_from_slice(&buf[..take]);
        }
        h.update(&buf[..n]);
    }
    let (d, _, len) = h.finish();
    Ok((d, len, want_sample && pack::worth_deflating(&sample)))
}

/// Threads that read and hash pack inputs.
const PACK_THREADS: usize = 2;

/// `f` over every item on `threads` threads (each with its own 1 MiB buffer), results in input
/// order. An error stops the threads; the first error among the items done, in input order, is
/// returned.
fn in_parallel<S: Sync, T: Send>(items: &[S], threads: usize, f: impl Fn(&S, &mut [u8]) -> Result<T> + Sync) -> Result<Vec<T>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let work = || {
        let mut buf = vec![0u8; 1 << 20];
        let mut done = Vec::new();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(item) = items.get(i) else { break };
            let r = f(item, &mut buf);
            if r.is_err() {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            done.push((i, r));
        }
        done
    };
    let mut all: Vec<(usize, Result<T>)> = if threads <= 1 || items.len() <= 1 {
        work()
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads).map(|_| s.spawn(work)).collect();
            handles.into_iter().flat_map(|h| h.join().expect("a pack worker panicked")).collect()
        })
    };
    all.sort_unstable_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}

/// The payload files of a pack input directory.
pub fn dir_sources(dir: &Path) -> Result<Vec<Source>> {
    Ok(fsio::collect_tree(dir)?.into_iter().map(|(rel, path, _)| Source { path: rel, data: Data::File(path), expect: None }).collect())
}

/// Packs a directory; shared with `demo`.
pub fn pack_dir(dir: &Path, job: Job<'_>, ui: Ui) -> Result<crate::bundle::manifest::Manifest> {
    let sources = dir_sources(dir)?;
    if sources.is_empty() {
        bail!("{} holds no files; put artifacts under {}/artifacts/", dir.display(), dir.display());
    }
    pack_sources(sources, job, ui)
}

/// Everything about a pack but its inputs.
pub struct Job<'a> {
    /// The bundle to write (`.zip` or `.tar`).
    pub output: &'a Path,
    /// Signing keys.
    pub keys: &'a [SecretKey],
    /// Release identity.
    pub release: Release,
    /// `createdAt`.
    pub created_at: Timestamp,
    /// Compression choice.
    pub compress: Compress,
    /// A tlog-proof of the manifest to attach (transparency-v1 §9.2).
    pub tlog_proof: Option<&'a [u8]>,
}

/// Checks the release metadata member, if there is one, against the members' digests: any
/// failed rule refuses the pack.
fn check_release_metadata(sources: &[Source], members: &[Member]) -> Result<()> {
    let Some(s) = sources.iter().find(|s| s.path == METADATA_PATH) else { return Ok(()) };
    let bytes = match &s.data {
        Data::Bytes(b) => b.clone(),
        Data::File(p) => fsio::read_small(p, MAX_METADATA_SIZE)?,
    };
    let meta = ReleaseMetadata::parse(&bytes).with_context(|| {
        format!("{METADATA_PATH} must be in its normal form; give the metadata with --release FILE instead of placing it in the directory")
    })?;
    let failed: Vec<crate::report::Check> = crate::release::validate(&meta, members).into_iter().filter(|c| c.failed()).collect();
    if !failed.is_empty() {
        bail!("release metadata does not fit this bundle; nothing was written:\n{}", crate::report::render_checks(&failed).trim_end());
    }
    Ok(())
}

/// Packs members from files and bytes.
pub fn pack_sources(sources: Vec<Source>, job: Job<'_>, ui: Ui) -> Result<crate::bundle::manifest::Manifest> {
    let Job { output, keys, release, created_at, compress, tlog_proof } = job;
    let format = format_of(output)?;
    // Limits known from the inputs alone are checked before any file is read (the rest before
    // the output is created, below).
    let limits = crate::archive::Limits::default();
    pack::check_member_count(pack::archive_member_count(sources.len(), tlog_proof.is_some()), &limits)?;
    // Sizes for the hashing bar only when it is shown: a stat per file is a path walk per file.
    let total: u64 = if ui.progress {
        sources
            .iter()
            .map(|s| match &s.data {
                Data::File(p) => std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
                Data::Bytes(b) => b.len() as u64,
            })
            .sum()
    } else {
        0
    };
    let bar = progress::bytes_bar(total, "hashing", ui.progress);
    let auto = compress == Compress::Auto && format == crate::archive::Format::Zip;
    let hash = |s: &Source, buf: &mut [u8]| -> Result<Input> {
        let kind = pack::kind_of(&s.path)?;
        let (digest, size, worth) = match &s.data {
            Data::File(p) => hash_reader(fsio::open_input(p, fsio::Links::Refuse)?.0, auto, buf)?,
            Data::Bytes(b) => hash_reader(b.as_slice(), auto, buf)?,
        };
        if let Some(want) = s.expect
            && want != digest
        {
            let name = match &s.data {
                Data::File(p) => p.display().to_string(),
                Data::Bytes(_) => s.path.clone(),
            };
            return Err(CavraError::Mismatch { path: name, expected: want.prefixed(), actual: digest.prefixed() }.into());
        }
        bar.inc(size);
        let deflate = format == crate::archive::Format::Zip && (compress == Compress::Deflate || worth);
        // The manifest signs the exact deflate stream, so compress once here to learn it (the
        // writer compresses again, identically; the self-check below proves it).
        let stream = if deflate {
            let (digest, size) = match &s.data {
                Data::File(p) => write::deflate_stream_digest(fsio::open_input(p, fsio::Links::Refuse)?.0)?,
                Data::Bytes(b) => write::deflate_stream_digest(b.as_slice())?,
            };
            Some(DeflateStream { path: s.path.clone(), size, digest })
        } else {
            None
        };
        Ok(Input { member: Member { path: s.path.clone(), size, digest, kind }, stream })
    };
    // Two threads: opening and reading many small files is mostly system-call latency, which a
    // second thread overlaps (the machine the issue measures has two cores).
    let inputs: Vec<Input> = in_parallel(&sources, PACK_THREADS, |s, buf| hash(s, buf))?;
    bar.finish_and_clear();
    let members: Vec<Member> = inputs.iter().map(|i| i.member.clone()).collect();
    check_release_metadata(&sources, &members)?;
    let key_refs: Vec<&SecretKey> = keys.iter().collect();
    let by_path: std::collections::HashMap<&str, &Data> = sources.iter().map(|s| (s.path.as_str(), &s.data)).collect();
    let streams: Vec<DeflateStream> = inputs.into_iter().filter_map(|i| i.stream).collect();
    let plan = pack::plan(release, created_at, members, &key_refs, streams)?;
    let mut members: Vec<PlannedMember> = plan.members.clone();
    if let Some(proof) = tlog_proof {
        let cp = crate::tlog::bundle::proof_matches_manifest(&plan.manifest, &plan.manifest_bytes, proof)
            .context("--tlog-proof does not prove this bundle's manifest")?;
        if !ui.quiet {
            eprintln!("attaching tlog-proof: log {} checkpoint size {}", cp.origin, cp.size);
        }
        // After the control members, before the payload (format-spec/bundle-v1.md §8).
        members.insert(3, PlannedMember { name: crate::bundle::TLOG_PROOF.into(), size: proof.len() as u64, deflate: false });
    }
    pack::check_limits(&members, &|name| plan.manifest.deflate_stream(name).map(|d| d.size), &limits)?;
    let mut open = |name: &str| -> std::io::Result<Box<dyn Read>> {
        if let Some(b) = plan.control_bytes(name) {
            return Ok(Box::new(std::io::Cursor::new(b.to_vec())));
        }
        if let (crate::bundle::TLOG_PROOF, Some(p)) = (name, tlog_proof) {
            return Ok(Box::new(std::io::Cursor::new(p.to_vec())));
        }
        match by_path.get(name) {
            Some(Data::File(p)) => Ok(Box::new(fsio::open_input(p, fsio::Links::Refuse).map_err(std::io::Error::other)?.0)),
            Some(Data::Bytes(b)) => Ok(Box::new(std::io::Cursor::new(b.clone()))),
            None => Err(std::io::Error::other(format!("{name} vanished from the plan"))),
        }
    };
    let mut out = fsio::AtomicFile::create(output, 0o644)?;
    let total: u64 = plan.manifest.members.iter().map(|m| m.size).sum();
    let bar = progress::bytes_bar(total, "writing", ui.progress);
    {
        let w = BufWriter::with_capacity(1 << 20, bar.wrap_write(out.file()));
        match format {
            crate::archive::Format::Zip => {
                let mut w = write::write_zip(w, &members, created_at, &mut open)
                    .with_context(|| format!("writing the zip {}", output.display()))?;
                std::io::Write::flush(&mut w).with_context(|| format!("writing {}", output.display()))?;
            }
            crate::archive::Format::Tar => {
                let mut w = write::write_tar(w, &members, created_at, &mut open)
                    .with_context(|| format!("writing the tar {}", output.display()))?;
                std::io::Write::flush(&mut w).with_context(|| format!("writing {}", output.display()))?;
            }
        }
    }
    bar.finish_and_clear();
    // Self-check before the bundle appears: a file that changed while packing, or a writer
    // producing something our strict reader refuses, must never yield a bundle.
    out.file().rewind().with_context(|| format!("rereading {} for the self-check", output.display()))?;
    let check_src = fsio::FileSource::open(&out_tmp_path(&mut out)?)?;
    let trust = TrustPolicy::ed25519(keys.iter().map(|k| k.public().clone()), keys.len(), "pack self-check");
    let opts = verify::Options { threads: 2, ..Default::default() };
    match verify::verify(&check_src, &trust, &opts, &|_| {}).context("the packed bundle failed its self-check")? {
        Verification::Passed(..) => {}
        Verification::Failed(r) => {
            let failed: Vec<String> = r
                .checks()
                .iter()
                .filter(|c| c.status == crate::report::Status::Fail)
                .map(|c| format!("{} {}", c.id, c.subject.clone().unwrap_or_default()))
                .collect();
            bail!("the packed bundle failed its self-check ({}); was an input file modified while packing?", failed.join(", "));
        }
    }
    out.commit()?;
    Ok(plan.manifest)
}

fn out_tmp_path(f: &mut fsio::AtomicFile) -> Result<PathBuf> {
    Ok(f.tmp_path().to_path_buf())
}

impl Args {
    /// A release field the command line gave that breaks its manifest rule is the option's
    /// fault, named as such (not `manifest.json`'s: no manifest exists yet).
    fn blame_release_options(&self, release: &Release) -> Result<()> {
        let Err(ManifestError::Invalid { rule, detail, .. }) = release.validate() else { return Ok(()) };
        let flag = match rule {
            "release.product" if self.product.is_some() => "--product",
            "release.version" if self.release_version.is_some() => "--version",
            "release.commit" if self.commit.is_some() => "--commit",
            "release.channel" if self.channel.is_some() => "--channel",
            _ => return Err(ManifestError::Invalid { rule, path: None, detail }.into()),
        };
        Err(super::ShellError::Usage(format!("{flag} {detail} (rule {rule}); nothing was written")).into())
    }

    /// Runs.
    pub fn run(self, ui: Ui) -> Result<u8> {
        let keys = self.keys.iter().map(|p| load_secret(p)).collect::<Result<Vec<_>>>()?;
        let created = clock::creation_time()?;
        let mut imported = None;
        let (mut sources, release) = match (&self.from_cavra, &self.dir) {
            (Some(pkg), _) => {
                let pem = self.cavra_key.as_ref().context(
                    "--from-cavra needs --cavra-key PEM: CAVRA's release public key, pinned from offline media (the key inside each CAVRA signature file is no trust anchor)",
                )?;
                let key =
                    cavra::CavraKey::from_pem(&fsio::read_small(pem, 64 << 10)?).with_context(|| format!("reading {}", pem.display()))?;
                let (sources, mut release, record) = cavra_sources(pkg, &key, &self.accept_unlisted, ui)?;
                imported = Some(record);
                release.product = self.product.clone().unwrap_or(release.product);
                release.version = self.release_version.clone().unwrap_or(release.version);
                release.commit = self.commit.clone().or(release.commit);
                release.channel = self.channel.clone();
                (sources, release)
            }
            (None, Some(dir)) => {
                let release = Release {
                    product: self.product.clone().context("--product is required")?,
                    version: self.release_version.clone().context("--version is required")?,
                    commit: self.commit.clone(),
                    channel: self.channel.clone(),
                };
                (dir_sources(dir)?, release)
            }
            (None, None) => bail!("give a directory to pack, or --from-cavra PKG"),
        };
        self.blame_release_options(&release)?;
        if let Some(file) = &self.release {
            if sources.iter().any(|s| s.path == METADATA_PATH) {
                bail!("--release {} and the input's own {METADATA_PATH} conflict; keep one", file.display());
            }
            let bytes = fsio::read_small(file, MAX_METADATA_SIZE)?;
            let draft = if file.extension().is_some_and(|e| e == "toml") {
                let text = std::str::from_utf8(&bytes).with_context(|| format!("{} is not UTF-8", file.display()))?;
                AuthorMetadata::from_toml(text)
            } else {
                AuthorMetadata::from_json(&bytes)
            }
            .with_context(|| format!("reading release metadata {}", file.display()))?;
            // Installers that leave `digest` out get the digest of the binary packed here.
            let mut digests = std::collections::BTreeMap::new();
            for binary in draft.binaries_without_digest() {
                if let Some(s) = sources.iter().find(|s| s.path == binary) {
                    digests.insert(binary, source_digest(s)?);
                }
            }
            let meta = draft.complete(&digests).with_context(|| format!("reading release metadata {}", file.display()))?;
            sources.push(Source { path: METADATA_PATH.into(), data: Data::Bytes(meta.to_bytes()), expect: None });
        }
        if sources.is_empty() {
            bail!("nothing to pack; put artifacts under DIR/artifacts/");
        }
        let proof = self.tlog_proof.as_ref().map(|p| fsio::read_small(p, crate::tlog::bundle::MAX_PROOF_MEMBER)).transpose()?;
        let job =
            Job { output: &self.output, keys: &keys, release, created_at: created, compress: self.compress, tlog_proof: proof.as_deref() };
        let m = pack_sources(sources, job, ui)?;
        if self.json {
            let mut out = serde_json::json!({
                "bundle": self.output, "bundleId": m.bundle_id, "merkleRoot": m.merkle_root, "members": m.members.len(),
                "signers": keys.iter().map(|k| k.public().keyid().hex()).collect::<Vec<_>>(), "createdAt": m.created_at,
            });
            if let Some(record) = imported {
                out["cavra"] = record;
            }
            super::out_json(&out)?;
        } else if !ui.quiet {
            super::out(&format!(
                "packed {} ({} members, {} {})\nbundle id   {}\nmerkle root {}\nsigned by   {}\n",
                self.output.display(),
                m.members.len(),
                m.release.product,
                m.release.version,
                m.bundle_id,
                m.merkle_root,
                keys.iter().map(|k| k.public().keyid().hex()).collect::<Vec<_>>().join(", ")
            ))?;
        }
        Ok(0)
    }
}

/// SHA-256 of a source's bytes (a file is streamed).
fn source_digest(s: &Source) -> Result<Sha256Digest> {
    Ok(match &s.data {
        Data::Bytes(b) => Sha256Digest::of(b),
        Data::File(p) => {
            let (f, _) = fsio::open_input(p, fsio::Links::Refuse)?;
            hash_reader(f, false, &mut vec![0u8; 1 << 20]).with_context(|| format!("hashing {}", p.display()))?.0
        }
    })
}

/// Loads a secret key file.
pub fn load_secret(p: &Path) -> Result<SecretKey> {
    let bytes = fsio::read_small(p, 64 << 10)?;
    SecretKey::parse_file(&bytes).with_context(|| format!("{} is not an airlock secret key", p.display()))
}

/// A CAVRA package as found: a directory, or a zip read through the strict archive walker
/// (never extracted: its members are read into memory, within the walker's limits).
enum CavraInput {
    /// A package directory and its regular files.
    Dir(PathBuf, Vec<(String, PathBuf, u64)>),
    /// A zip's members by package path.
    Zip(std::collections::BTreeMap<String, Vec<u8>>),
}

impl CavraInput {
    fn open(pkg: &Path) -> Result<Self> {
        if !pkg.is_file() {
            return Ok(CavraInput::Dir(pkg.to_path_buf(), fsio::collect_tree(pkg)?));
        }
        let src = fsio::FileSource::open(pkg)?;
        let index = crate::archive::walk(&src, &crate::archive::Limits::default())
            .with_context(|| format!("{} is not a CAVRA package zip the strict archive walker accepts", pkg.display()))?;
        // CAVRA zips the package directory: members either at the top or all under one folder.
        let prefix = match index.entries.first().and_then(|e| e.name.split_once('/')) {
            Some((top, _)) if !index.entries.iter().any(|e| e.name == cavra::CHECKSUMS) => format!("{top}/"),
            _ => String::new(),
        };
        let mut members = std::collections::BTreeMap::new();
        for e in &index.entries {
            let rel = e.name.strip_prefix(&prefix).with_context(|| {
                format!("{}: member {} is outside the package folder {prefix}; a CAVRA zip holds one package", pkg.display(), e.name)
            })?;
            let bytes = crate::archive::read_member(&src, e, cavra::MAX_SIGNED_FILE)
                .with_context(|| format!("reading member {} of {}", e.name, pkg.display()))?;
            members.insert(rel.to_string(), bytes);
        }
        Ok(CavraInput::Zip(members))
    }

    fn files(&self) -> Vec<String> {
        match self {
            CavraInput::Dir(_, tree) => tree.iter().map(|t| t.0.clone()).collect(),
            CavraInput::Zip(m) => m.keys().cloned().collect(),
        }
    }

    fn read(&self, rel: &str, max: u64) -> Result<Vec<u8>> {
        match self {
            CavraInput::Dir(dir, _) => fsio::read_small(&dir.join(rel), max),
            CavraInput::Zip(m) => m.get(rel).cloned().with_context(|| format!("the package zip has no {rel}")),
        }
    }

    fn data(&self, rel: &str) -> Data {
        match self {
            CavraInput::Dir(dir, _) => Data::File(dir.join(rel)),
            CavraInput::Zip(m) => Data::Bytes(m.get(rel).cloned().unwrap_or_default()),
        }
    }
}

/// Plans a CAVRA package: lists it, reads its checksums, its JSON documents and the files CAVRA
/// writes after its checksums, checks every CAVRA signature against the pinned key, and returns
/// the members (each with the digest it must have; hashing in `pack_sources` checks them), the
/// generated release metadata, and the import record `pack --json` prints under `cavra`.
fn cavra_sources(
    pkg: &Path,
    key: &cavra::CavraKey,
    accept_unlisted: &[String],
    ui: Ui,
) -> Result<(Vec<Source>, Release, serde_json::Value)> {
    let input = CavraInput::open(pkg)?;
    let files = input.files();
    let has = |name: &str| files.iter().any(|f| f == name);
    let sums = if has(cavra::CHECKSUMS) { Some(input.read(cavra::CHECKSUMS, MAX_METADATA_SIZE)?) } else { None };
    let mut docs = std::collections::BTreeMap::new();
    for f in &files {
        if cavra::DOCUMENTS.contains(&f.as_str()) || cavra::post_checksums_kind(f).is_some() {
            docs.insert(f.clone(), input.read(f, MAX_METADATA_SIZE)?);
        }
    }
    let context = || format!("mapping CAVRA package {}", pkg.display());
    let plan = cavra::plan(&files, sums.as_deref(), &docs, accept_unlisted).with_context(context)?;
    for job in &plan.signatures {
        let subject = match (job.subject.as_str(), docs.get(&job.subject)) {
            (cavra::CHECKSUMS, _) => sums.clone().unwrap_or_default(),
            (_, Some(b)) => b.clone(),
            _ => input.read(&job.subject, cavra::MAX_SIGNED_FILE)?,
        };
        let actual = Sha256Digest::of(&subject);
        if actual != job.digest {
            return Err(CavraError::Mismatch { path: job.subject.clone(), expected: job.digest.prefixed(), actual: actual.prefixed() })
                .with_context(context);
        }
        cavra::check_signature(key, &job.file, &docs[&job.file], &job.subject, &subject).with_context(context)?;
    }
    let record = serde_json::json!({
        "package": pkg,
        "pinnedKey": key.fingerprint.prefixed(),
        "signaturesVerified": plan.signatures.iter().map(|j| serde_json::json!({"file": j.file, "subject": j.subject})).collect::<Vec<_>>(),
        "unsigned": plan.unsigned,
        "acceptedUnlisted": plan.unlisted,
        "controls": plan.control_sources.iter().map(|c| serde_json::json!({"control": c.control, "from": c.files})).collect::<Vec<_>>(),
    });
    if !ui.quiet {
        eprintln!(
            "CAVRA package {}: {} signature(s) verified against the pinned key {}",
            pkg.display(),
            plan.signatures.len(),
            key.fingerprint.prefixed()
        );
        if !plan.unsigned.is_empty() {
            eprintln!("carried unsigned (CAVRA signs neither): {}", plan.unsigned.join(", "));
        }
        // Each control is attributed to the first file that carries it (the --json record lists all).
        let mut by_file: Vec<(&str, Vec<&str>)> = Vec::new();
        for c in &plan.control_sources {
            let f = c.files[0].as_str();
            match by_file.iter_mut().find(|(x, _)| *x == f) {
                Some((_, v)) => v.push(&c.control),
                None => by_file.push((f, vec![&c.control])),
            }
        }
        for (f, cs) in by_file {
            eprintln!("controls from {f}: {}", cs.join(", "));
        }
        if !plan.unlisted.is_empty() {
            eprintln!(
                "packing {} file(s) that CAVRA's checksums.txt does not list, on your authority (--accept-unlisted): {}",
                plan.unlisted.len(),
                plan.unlisted.join(", ")
            );
        }
    }
    let mut sources: Vec<Source> = plan
        .files
        .iter()
        .map(|(rel, member, digest)| Source {
            path: member.clone(),
            data: docs.get(rel).map(|b| Data::Bytes(b.clone())).unwrap_or_else(|| input.data(rel)),
            expect: *digest,
        })
        .collect();
    sources.push(Source {
        path: format!("{}/{}", cavra::CARRY_DIR, cavra::CHECKSUMS),
        data: Data::Bytes(sums.unwrap_or_default()),
        expect: None,
    });
    sources.push(Source { path: METADATA_PATH.into(), data: Data::Bytes(plan.metadata.to_bytes()), expect: None });
    Ok((sources, plan.release, record))
}
