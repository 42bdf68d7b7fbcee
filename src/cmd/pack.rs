//! `airlock pack DIR -o OUT.zip|OUT.tar --key K.key ...`

use super::Ui;
use crate::archive::write::{self, PlannedMember};
use crate::bundle::manifest::{Member, Release};
use crate::digest::StreamHasher;
use crate::keys::SecretKey;
use crate::time::Timestamp;
use crate::verify::{self, TrustPolicy, Verification};
use crate::{clock, fsio, pack, progress};
use anyhow::{Context, Result, bail};
use std::fs::File;
use std::io::{BufWriter, Read, Seek};
use std::path::{Path, PathBuf};

/// Pack a directory into a signed bundle.
#[derive(clap::Args, Debug)]
#[command(after_help = "DIR holds the bundle layout: artifacts/, sbom/, provenance/, attestations/, vex/, tlog/, release/, other/.\n\
The archive is byte-reproducible: same inputs, keys and SOURCE_DATE_EPOCH give the same bytes.\n\n\
Examples:\n  airlock pack ./release -o app-1.2.0.zip --key release-1.key --product app --version 1.2.0\n  \
SOURCE_DATE_EPOCH=1700000000 airlock pack ./release -o app.tar --key a.key --key b.key --product app --version 1.2.0 --commit 0a1b2c3d")]
pub struct Args {
    /// Directory with the bundle layout.
    pub dir: PathBuf,
    /// Output bundle; `.zip` or `.tar` decides the archive format.
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
    /// Signing key (NAME.key); repeat for k-of-n.
    #[arg(long = "key", value_name = "KEY", required = true)]
    pub keys: Vec<PathBuf>,
    /// Product name ([A-Za-z0-9._-]).
    #[arg(long)]
    pub product: String,
    /// Release version (semver 2.0.0).
    #[arg(long = "version", value_name = "VERSION")]
    pub release_version: String,
    /// Source commit (hex).
    #[arg(long)]
    pub commit: Option<String>,
    /// Release channel.
    #[arg(long)]
    pub channel: Option<String>,
    /// Compression for zip members: auto stores incompressible members.
    #[arg(long, value_enum, default_value_t = Compress::Auto)]
    pub compress: Compress,
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

struct Input {
    member: Member,
    source: PathBuf,
    deflate: bool,
}

fn hash_file(path: &Path, want_sample: bool) -> Result<(crate::digest::Sha256Digest, u64, bool)> {
    let mut f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut h = StreamHasher::new(false);
    let mut buf = vec![0u8; 1 << 20];
    let mut sample = Vec::new();
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if want_sample && sample.len() < 64 << 10 {
            let take = n.min((64 << 10) - sample.len());
            sample.extend_from_slice(&buf[..take]);
        }
        h.update(&buf[..n]);
    }
    let (d, _, len) = h.finish();
    Ok((d, len, want_sample && pack::worth_deflating(&sample)))
}

/// Packs; shared with `demo`.
#[allow(clippy::too_many_arguments)] // folded into a request struct when the release options land
pub fn pack_dir(
    dir: &Path,
    output: &Path,
    keys: &[SecretKey],
    release: Release,
    created_at: Timestamp,
    compress: Compress,
    tlog_proof: Option<&[u8]>,
    ui: Ui,
) -> Result<crate::bundle::manifest::Manifest> {
    let format = format_of(output)?;
    let files = fsio::collect_tree(dir)?;
    if files.is_empty() {
        bail!("{} holds no files; put artifacts under {}/artifacts/", dir.display(), dir.display());
    }
    let mut inputs = Vec::with_capacity(files.len());
    let total: u64 = files.iter().map(|f| f.2).sum();
    let bar = progress::bytes_bar(total, "hashing", ui.progress);
    for (rel, path, _) in files {
        let kind = pack::kind_of(&rel)?;
        let auto = compress == Compress::Auto && format == crate::archive::Format::Zip;
        let (digest, size, worth) = hash_file(&path, auto)?;
        bar.inc(size);
        let deflate = format == crate::archive::Format::Zip && (compress == Compress::Deflate || worth);
        inputs.push(Input { member: Member { path: rel, size, digest, kind }, source: path, deflate });
    }
    bar.finish_and_clear();
    let key_refs: Vec<&SecretKey> = keys.iter().collect();
    let by_path: std::collections::HashMap<String, (PathBuf, bool)> =
        inputs.iter().map(|i| (i.member.path.clone(), (i.source.clone(), i.deflate))).collect();
    let plan = pack::plan(release, created_at, inputs.into_iter().map(|i| i.member).collect(), &key_refs, &|m| {
        by_path.get(&m.path).is_some_and(|x| x.1)
    })?;
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
    let mut open = |name: &str| -> std::io::Result<Box<dyn Read>> {
        if let Some(b) = plan.control_bytes(name) {
            return Ok(Box::new(std::io::Cursor::new(b.to_vec())));
        }
        if let (crate::bundle::TLOG_PROOF, Some(p)) = (name, tlog_proof) {
            return Ok(Box::new(std::io::Cursor::new(p.to_vec())));
        }
        let (src, _) = by_path.get(name).ok_or_else(|| std::io::Error::other(format!("{name} vanished from the plan")))?;
        Ok(Box::new(File::open(src)?))
    };
    let mut out = fsio::AtomicFile::create(output, 0o644)?;
    let bar = progress::bytes_bar(total, "writing", ui.progress);
    {
        let w = BufWriter::with_capacity(1 << 20, bar.wrap_write(out.file()));
        match format {
            crate::archive::Format::Zip => {
                let mut w = write::write_zip(w, &members, created_at, &mut open).context("writing the zip")?;
                std::io::Write::flush(&mut w)?;
            }
            crate::archive::Format::Tar => {
                let mut w = write::write_tar(w, &members, created_at, &mut open).context("writing the tar")?;
                std::io::Write::flush(&mut w)?;
            }
        }
    }
    bar.finish_and_clear();
    // Self-check before the bundle appears: a file that changed while packing, or a writer
    // producing something our strict reader refuses, must never yield a bundle.
    out.file().rewind()?;
    let check_src = fsio::FileSource::open(&out_tmp_path(&mut out)?)?;
    let trust =
        TrustPolicy { keys: keys.iter().map(|k| k.public().clone()).collect(), threshold: keys.len(), source: "pack self-check".into() };
    let opts = verify::Options { threads: 2, ..Default::default() };
    match verify::verify(&check_src, &trust, &opts, &|_| {}).context("the packed bundle failed its self-check")? {
        Verification::Passed(..) => {}
        Verification::Failed(r) => {
            let failed: Vec<String> = r
                .checks
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
    /// Runs.
    pub fn run(self, ui: Ui) -> Result<u8> {
        let keys = self.keys.iter().map(|p| load_secret(p)).collect::<Result<Vec<_>>>()?;
        let release = Release { product: self.product, version: self.release_version, commit: self.commit, channel: self.channel };
        let created = clock::creation_time()?;
        let proof = self.tlog_proof.as_ref().map(|p| fsio::read_small(p, crate::tlog::bundle::MAX_PROOF_MEMBER)).transpose()?;
        let m = pack_dir(&self.dir, &self.output, &keys, release, created, self.compress, proof.as_deref(), ui)?;
        if self.json {
            super::out_json(&serde_json::json!({
                "bundle": self.output, "bundleId": m.bundle_id, "merkleRoot": m.merkle_root, "members": m.members.len(),
                "signers": keys.iter().map(|k| k.public().keyid().hex()).collect::<Vec<_>>(), "createdAt": m.created_at,
            }))?;
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

/// Loads a secret key file.
pub fn load_secret(p: &Path) -> Result<SecretKey> {
    let bytes = fsio::read_small(p, 64 << 10)?;
    SecretKey::parse_file(&bytes).with_context(|| format!("{} is not an airlock secret key", p.display()))
}
