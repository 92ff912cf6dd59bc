//! A throw-away PostgreSQL server for a test: Debian's `postgresql`
//! package (scripts/install-deps), `initdb` into a fresh directory (as
//! the `postgres` user when the tests run as root: initdb refuses root),
//! listening on a free loopback port with trust auth. It can be stopped
//! and started again (the outage tests) and is removed on drop.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// A PostgreSQL server of the test's own.
pub struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

fn bin_dir() -> PathBuf {
    let root = PathBuf::from("/usr/lib/postgresql");
    let mut versions: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("PostgreSQL is installed (scripts/install-deps installs `postgresql`)")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("a PostgreSQL version with pg_ctl under /usr/lib/postgresql")
}

impl Postgres {
    /// initdb and start.
    pub fn start() -> Postgres {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("addr")
            .port();
        let dir = std::env::temp_dir().join(format!("warmline-pg-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("pg dir");
        // SAFETY-free check of root: `id -u`.
        let uid = Command::new("id").arg("-u").output().expect("id");
        let as_postgres = String::from_utf8_lossy(&uid.stdout).trim() == "0";
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .expect("chown");
            assert!(ok.success(), "chown the pg dir to postgres");
        }
        let pg = Postgres {
            bin: bin_dir(),
            dir,
            port,
            as_postgres,
        };
        let data = pg.dir.join("data");
        pg.run(&format!(
            "{} -D {} -U postgres --auth=trust -E UTF8 >/dev/null",
            pg.bin.join("initdb").display(),
            data.display()
        ));
        pg.up();
        pg
    }

    fn run(&self, script: &str) {
        let status = if self.as_postgres {
            Command::new("su")
                .args(["postgres", "-s", "/bin/sh", "-c", script])
                .status()
        } else {
            Command::new("sh").args(["-c", script]).status()
        }
        .expect("run a PostgreSQL command");
        assert!(status.success(), "{script} failed");
    }

    /// Starts (again) and waits until it accepts connections.
    pub fn up(&self) {
        let data = self.dir.join("data");
        self.run(&format!(
            "{} -D {} -o '-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off' -l {} -w start >/dev/null",
            self.bin.join("pg_ctl").display(),
            data.display(),
            self.port,
            self.dir.display(),
            self.dir.join("log").display(),
        ));
    }

    /// Stops at once (connections cut, like a crash of the server's
    /// clients' view; `fast` rolls back open transactions).
    pub fn down(&self) {
        let data = self.dir.join("data");
        self.run(&format!(
            "{} -D {} -m fast -w stop >/dev/null",
            self.bin.join("pg_ctl").display(),
            data.display()
        ));
    }

    /// The URL warmline's `DATABASE_URL` takes.
    pub fn url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable",
            self.port
        )
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let script = format!(
            "{} -D {} -m immediate -w stop >/dev/null 2>&1",
            self.bin.join("pg_ctl").display(),
            data.display()
        );
        let _ = if self.as_postgres {
            Command::new("su")
                .args(["postgres", "-s", "/bin/sh", "-c", &script])
                .status()
        } else {
            Command::new("sh").args(["-c", &script]).status()
        };
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
