//! A throwaway PostgreSQL server for tests: `initdb` into a temporary directory, started
//! on 127.0.0.1 with a free port and a private socket directory, stopped on drop.
//!
//! PostgreSQL refuses to run as root, so when the tests run as root every server command
//! goes through `runuser -u postgres --` and the directory is handed to that user.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

const INSTALL_HINT: &str = "PostgreSQL server binaries (initdb, pg_ctl) were not found on PATH \
     or in /usr/lib/postgresql/*/bin. These tests need a real server: install it with \
     `apt-get install postgresql` (Debian/Ubuntu) and run them again.";

pub(crate) struct PgServer {
    /// `postgres://postgres@127.0.0.1:PORT/postgres`
    pub(crate) url: String,
    bin: PathBuf,
    data: PathBuf,
    as_postgres: bool,
    _dir: TempDir,
}

impl PgServer {
    /// Starts a server or panics with the reason (including how to install PostgreSQL).
    pub(crate) fn start() -> Self {
        let bin = find_bin_dir().unwrap_or_else(|| panic!("{INSTALL_HINT}"));
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("keel-query-pg-")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        let sockets = dir.path().join("sockets");
        std::fs::create_dir(&sockets).unwrap();
        if as_postgres {
            check(
                Command::new("chown")
                    .arg("-R")
                    .arg("postgres:postgres")
                    .arg(dir.path())
                    .output(),
                "chown",
            );
        }
        let initdb = pg_command(&bin, "initdb", as_postgres)
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
            .output();
        check(initdb, "initdb");

        let log = dir.path().join("server.log");
        let mut last_error = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let options = format!(
                "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off -c full_page_writes=off \
                 -c synchronous_commit=off",
                sockets.display()
            );
            let started = pg_command(&bin, "pg_ctl", as_postgres)
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(&log)
                .args(["-o", &options, "-w", "-t", "60", "start"])
                .output()
                .unwrap();
            if started.status.success() {
                return Self {
                    url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
                    bin,
                    data,
                    as_postgres,
                    _dir: dir,
                };
            }
            // Most likely the port was taken between probing and binding; try another.
            last_error = describe(&started);
        }
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        panic!("pg_ctl start failed: {last_error}\nserver log:\n{log}");
    }
}

#[allow(dead_code, reason = "used by the server's fault-injection tests")]
impl PgServer {
    /// Freezes the server and every backend (`SIGSTOP`): connections stay open and nothing
    /// answers, as with a hung host.
    pub(crate) fn pause(&self) {
        self.signal_all("STOP");
    }

    /// Thaws it (`SIGCONT`).
    pub(crate) fn resume(&self) {
        self.signal_all("CONT");
    }

    fn signal_all(&self, signal: &str) {
        let pid_file = std::fs::read_to_string(self.data.join("postmaster.pid"))
            .or_else(|_| {
                let out = Command::new("cat")
                    .arg(self.data.join("postmaster.pid"))
                    .output()?;
                Ok::<_, std::io::Error>(String::from_utf8_lossy(&out.stdout).into_owned())
            })
            .unwrap();
        let postmaster = pid_file.lines().next().unwrap().trim().to_owned();
        let children = Command::new("pgrep")
            .args(["-P", &postmaster])
            .output()
            .unwrap();
        let mut pids = vec![postmaster];
        pids.extend(
            String::from_utf8_lossy(&children.stdout)
                .split_whitespace()
                .map(str::to_owned),
        );
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .args(&pids)
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {pids:?}");
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = pg_command(&self.bin, "pg_ctl", self.as_postgres)
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

fn pg_command(bin: &Path, program: &str, as_postgres: bool) -> Command {
    let program = bin.join(program);
    let mut command = if as_postgres {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    };
    // The postgres user may not be allowed into the test's working directory.
    command.current_dir("/");
    command
}

fn find_bin_dir() -> Option<PathBuf> {
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    if let Some(dir) = on_path.into_iter().find(|d| has_tools(d)) {
        return Some(dir);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|d| has_tools(d))
        .collect();
    // Highest version last; numeric names compare correctly within the same digit count.
    versions.sort_by_key(|d| {
        let version = d
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .unwrap_or("");
        version.parse::<u32>().unwrap_or(0)
    });
    versions.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn describe(output: &Output) -> String {
    format!(
        "{}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn check(output: std::io::Result<Output>, what: &str) {
    match output {
        Ok(output) if output.status.success() => {}
        Ok(output) => panic!("{what} failed: {}", describe(&output)),
        Err(error) => panic!("{what} could not run: {error}"),
    }
}
