//! A throw-away PostgreSQL server for tests: `initdb` into a temporary directory, listening
//! only on a Unix socket in that directory (no TCP), stopped and removed on drop.
//!
//! PostgreSQL refuses to run as root; under root (CI) the server runs as `nobody` through
//! `setpriv`, with the directory handed to that user. When no server can be started the caller
//! gets `None` and a loud SKIP, or a failure when `AIRLOCK_REQUIRE_INTEROP=1` (CI sets it;
//! `cargo xtask setup` installs `postgresql`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running server.
pub struct PgServer {
    dir: tempfile::TempDir,
    child: Option<Child>,
    bin: PathBuf,
    root: bool,
}

fn bindir() -> Option<PathBuf> {
    let from_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|p| p.join("initdb").exists() && p.join("postgres").exists());
    from_config.or_else(|| {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql").ok()?.flatten().map(|e| e.path().join("bin")).collect();
        found.sort();
        found.into_iter().rev().find(|p| p.join("initdb").exists() && p.join("postgres").exists())
    })
}

fn skip_or_fail(why: &str) -> Option<PgServer> {
    assert!(
        std::env::var("AIRLOCK_REQUIRE_INTEROP").is_err(),
        "PostgreSQL is required here but {why} (run `cargo xtask setup`, which installs postgresql)"
    );
    eprintln!("SKIP: no PostgreSQL server for this test: {why} (cargo xtask setup installs postgresql)");
    None
}

/// `program args` as the server's user: ourselves, or `nobody` when we are root.
fn as_server_user(program: &Path, root: bool) -> Command {
    if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

impl PgServer {
    /// Starts a server, or `None` (skipped) when PostgreSQL is not installed or will not start.
    pub fn start() -> Option<PgServer> {
        if cfg!(not(feature = "postgres")) {
            return skip_or_fail("airlock was built without the postgres feature");
        }
        let Some(bin) = bindir() else { return skip_or_fail("no initdb/postgres found (pg_config --bindir, /usr/lib/postgresql/*/bin)") };
        let dir = tempfile::Builder::new().prefix("airlock-pg").tempdir().unwrap();
        let root = rustix::process::geteuid().is_root();
        if root {
            let nobody = Command::new("id").args(["-u", "nobody"]).output().unwrap();
            let uid: u32 = String::from_utf8_lossy(&nobody.stdout).trim().parse().expect("a nobody user");
            std::os::unix::fs::chown(dir.path(), Some(uid), None).unwrap();
        }
        let data = dir.path().join("data");
        let init = as_server_user(&bin.join("initdb"), root)
            .args(["-D", data.to_str().unwrap(), "-U", "airlock", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"])
            .stdout(Stdio::null())
            .output()
            .unwrap();
        if !init.status.success() {
            return skip_or_fail(&format!("initdb failed: {}", String::from_utf8_lossy(&init.stderr)));
        }
        let mut server = PgServer { dir, child: None, bin, root };
        if server.run() {
            return Some(server);
        }
        let log = std::fs::read_to_string(server.dir.path().join("server.log")).unwrap_or_default();
        drop(server);
        skip_or_fail(&format!("the server did not accept connections within 60 s:\n{log}"))
    }

    /// Starts `postgres` on the data directory; whether it accepts connections within 60 s.
    fn run(&mut self) -> bool {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join("server.log")).unwrap();
        let data = self.dir.path().join("data");
        let child = as_server_user(&self.bin.join("postgres"), self.root)
            .args(["-D", data.to_str().unwrap(), "-k", self.dir.path().to_str().unwrap()])
            .args(["-c", "listen_addresses=", "-c", "fsync=off", "-c", "max_connections=60"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        // 60 s in 100 ms steps.
        for _ in 0..600 {
            if self.connects() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Starts the stopped server again on the same data (what a crash-restart would find).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart a stopped server");
        assert!(
            self.run(),
            "PostgreSQL did not come back: {}",
            std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
        );
    }

    /// The socket directory.
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A connection string for database `db` (key=value form, over the Unix socket).
    pub fn url(&self, db: &str) -> String {
        format!("host={} user=airlock dbname={db}", self.dir.path().display())
    }

    #[cfg(feature = "postgres")]
    fn connects(&self) -> bool {
        postgres::Client::connect(&self.url("postgres"), postgres::NoTls).is_ok()
    }

    #[cfg(not(feature = "postgres"))]
    fn connects(&self) -> bool {
        false
    }

    /// Makes an empty database and returns its connection string.
    #[cfg(feature = "postgres")]
    pub fn database(&self, db: &str) -> String {
        let mut c = postgres::Client::connect(&self.url("postgres"), postgres::NoTls).unwrap();
        c.batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
        self.url(db)
    }

    /// Never called: `start` returns `None` in such a build.
    #[cfg(not(feature = "postgres"))]
    pub fn database(&self, _db: &str) -> String {
        unreachable!("no PostgreSQL server is started without the postgres feature")
    }

    /// Stops the server now (fast shutdown: sessions are ended, the server exits).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = rustix::process::Pid::from_child(&child);
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
            // 30 s in 50 ms steps.
            for _ in 0..600 {
                if child.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}
