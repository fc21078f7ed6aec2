//! A throwaway PostgreSQL server (the Debian `postgresql` package) under a temporary
//! directory, on a free loopback port, stopped when dropped. As root it runs as `postgres`.
//! Shared by the archive tests and the search bench; each uses part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Stdio};

pub struct TempPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    /// The server options `pg_ctl start` is given.
    opts: String,
}

fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries (apt-get install postgresql)")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("an initdb under /usr/lib/postgresql/*/bin")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

impl TempPostgres {
    /// `tool` from the server's bin directory, run as `postgres` when we are root.
    fn command(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        }
    }

    /// Runs `tool` with `args`, panicking with its output when it fails.
    fn run(&self, tool: &str, args: &[&str]) {
        let out = self
            .command(tool)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{tool}: {e}"));
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Initialises and starts a server (UTF-8, C.UTF-8 character classes, no fsync: test
    /// data need not survive a power cut).
    pub fn start() -> TempPostgres {
        TempPostgres::start_with(false)
    }

    /// Like [`TempPostgres::start`], also taking TLS with a self-signed certificate for
    /// `localhost` and `127.0.0.1`; returns the certificate's PEM file, the CA to trust.
    pub fn start_tls() -> (TempPostgres, PathBuf) {
        let pg = TempPostgres::start_with(true);
        let ca = pg.dir.path().join("server.crt");
        (pg, ca)
    }

    fn start_with(tls: bool) -> TempPostgres {
        let dir = tempfile::tempdir().unwrap();
        let mut ssl = String::new();
        if tls {
            let ck =
                rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
                    .unwrap();
            let (crt, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
            std::fs::write(&crt, ck.cert.pem()).unwrap();
            std::fs::write(&key, ck.key_pair.serialize_pem()).unwrap();
            // The server refuses a key others may read.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
            ssl = format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                crt.display(),
                key.display()
            );
        }
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(ok.success());
        }
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut pg = TempPostgres {
            bin: bin_dir(),
            port,
            dir,
            opts: String::new(),
        };
        let data = pg.dir.path().join("data");
        let sock = pg.dir.path().display().to_string();
        let data_s = data.display().to_string();
        pg.run(
            "initdb",
            &[
                "-D",
                &data_s,
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
        );
        pg.opts = format!(
            "-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off{ssl}"
        );
        pg.resume();
        pg
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// Stops the server (clients see their connections closed), keeping its data.
    pub fn pause(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    /// Starts the server (again) on the same port and data.
    pub fn resume(&self) {
        let log = self.dir.path().join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &self.opts,
                "-l",
                &log,
                "-w",
                "start",
            ],
        );
    }

    /// A new empty database's URL.
    pub fn database(&self, name: &str) -> String {
        self.database_with(name, &[])
    }

    /// A new empty database made with `createdb` options `extra` (a locale, say).
    pub fn database_with(&self, name: &str, extra: &[&str]) -> String {
        let port = self.port.to_string();
        let mut args = vec!["-h", "127.0.0.1", "-p", &port, "-U", "postgres"];
        args.extend_from_slice(extra);
        args.push(name);
        self.run("createdb", &args);
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D", &self.data(), "-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
