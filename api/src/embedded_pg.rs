//! The embedded default database: a private PostgreSQL cluster in a data directory (by default
//! `.shipit/pg` of the working directory), used when no `DATABASE_URL` is given.
//!
//! The cluster is created with the installed server's `initdb`, listens on a unix socket only,
//! and trusts local connections (the socket lives in a directory only its owner can enter). As
//! `initdb` refuses to run as root, root runs the server as the `postgres` system user (or
//! `nobody` when there is none). A file lock beside the data directory keeps two processes from
//! initialising or starting it at once.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nix::unistd::{Gid, Uid, User};

/// The superuser created in the cluster; it owns the `shipit` database.
pub const SUPERUSER: &str = "shipit";
/// The database the API uses in the cluster.
pub const DATABASE: &str = "shipit";

/// Why the embedded cluster could not be used.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedPgError {
    /// No PostgreSQL server binaries are installed.
    #[error(
        "PostgreSQL server programs (initdb, pg_ctl) not found via `pg_config --bindir` or in /usr/lib/postgresql/*/bin: \
         install the Debian package `postgresql` (apt-get install postgresql), or set DATABASE_URL"
    )]
    ServerNotInstalled,
    /// A file operation on the data directory failed.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Running as root, and no unprivileged user to run the server as.
    #[error("running as root and neither the `postgres` nor the `nobody` user exists to run PostgreSQL as")]
    NoUnprivilegedUser,
    /// As root, the server runs as an unprivileged user, who cannot reach the data directory.
    #[error(
        "PostgreSQL runs as the unprivileged user `{user}` (initdb refuses root), who cannot enter {dir}: \
         choose a data directory it can reach (--pg-dir or SHIPIT_PG_DIR), or allow it in (chmod o+x {dir})"
    )]
    Unreachable { user: String, dir: PathBuf },
    /// A PostgreSQL program failed.
    #[error("`{command}` failed ({status}): {output}{hint}")]
    CommandFailed { command: String, status: String, output: String, hint: &'static str },
}

/// A PostgreSQL cluster owned by ShipIt in a data directory.
#[derive(Clone, Debug)]
pub struct EmbeddedPg {
    data_dir: PathBuf,
    bin_dir: PathBuf,
    run_as: Option<(Uid, Gid)>,
    settings: Vec<(String, String)>,
}

impl EmbeddedPg {
    /// The cluster in `data_dir` (created on first start), run with the installed server.
    pub fn new(data_dir: &Path) -> Result<Self, EmbeddedPgError> {
        let bin_dir = find_bin_dir().ok_or(EmbeddedPgError::ServerNotInstalled)?;
        fs::create_dir_all(data_dir).map_err(io_error("cannot create", data_dir))?;
        let data_dir = fs::canonicalize(data_dir).map_err(io_error("cannot resolve", data_dir))?;
        let run_as = if Uid::effective().is_root() { Some(unprivileged_user()?) } else { None };
        if let Some(user) = &run_as {
            check_reachable(&data_dir, user)?;
        }
        let run_as = run_as.map(|user| (user.uid, user.gid));
        Ok(Self { data_dir, bin_dir, run_as, settings: Vec::new() })
    }

    /// Adds a server setting written at initialisation (e.g. `fsync=off` for throwaway test
    /// clusters). It has no effect on a cluster that already exists.
    pub fn with_setting(mut self, name: &str, value: &str) -> Self {
        self.settings.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The directory holding the server's unix socket. It is the data directory unless that
    /// path is too long for a socket address (about 100 bytes), in which case a directory under
    /// `/tmp` named after it is used.
    pub fn socket_dir(&self) -> PathBuf {
        const MAX_SOCKET_DIR: usize = 80;
        if self.data_dir.as_os_str().len() <= MAX_SOCKET_DIR {
            return self.data_dir.clone();
        }
        let digest = sha2_hex(self.data_dir.as_os_str().as_encoded_bytes());
        PathBuf::from(format!("/tmp/shipit-pg-{}", &digest[..16]))
    }

    /// Connection settings for `database` in this cluster.
    pub fn pg_config(&self, database: &str) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config.host_path(self.socket_dir()).user(SUPERUSER).dbname(database).application_name("shipit-api");
        config
    }

    /// Starts the cluster, creating it first when the data directory is empty. Returns whether
    /// this call started it (and so whether its caller should stop it).
    pub fn ensure_running(&self) -> Result<bool, EmbeddedPgError> {
        let lock_path = self.data_dir.with_extension("lock");
        let lock = File::create(&lock_path).map_err(io_error("cannot create", &lock_path))?;
        lock.lock().map_err(io_error("cannot lock", &lock_path))?;
        if !self.data_dir.join("PG_VERSION").exists() {
            self.initialise()?;
        }
        if self.is_running() {
            return Ok(false);
        }
        let socket_dir = self.socket_dir();
        if socket_dir != self.data_dir {
            fs::create_dir_all(&socket_dir).map_err(io_error("cannot create", &socket_dir))?;
            self.give_to_server_user(&socket_dir)?;
        }
        let log = self.data_dir.join("postgres.log");
        let options = format!("-c listen_addresses='' -c unix_socket_directories='{}'", socket_dir.display());
        self.run(
            self.pg("pg_ctl")
                .arg("start")
                .args(["-w", "-t", "60", "-D"])
                .arg(&self.data_dir)
                .arg("-l")
                .arg(&log)
                .args(["-o", &options]),
            "see the server log in the data directory (postgres.log)",
        )?;
        tracing::info!(data_dir = %self.data_dir.display(), "started the embedded PostgreSQL");
        Ok(true)
    }

    /// Whether a server is running on this data directory.
    pub fn is_running(&self) -> bool {
        self.pg("pg_ctl")
            .arg("status")
            .arg("-D")
            .arg(&self.data_dir)
            .output()
            .is_ok_and(|output| output.status.success())
    }

    /// Stops the server (fast shutdown: open sessions are ended, committed data is kept).
    pub fn stop(&self) -> Result<(), EmbeddedPgError> {
        if !self.is_running() {
            return Ok(());
        }
        self.run(self.pg("pg_ctl").args(["stop", "-w", "-m", "fast", "-D"]).arg(&self.data_dir), "")?;
        tracing::info!(data_dir = %self.data_dir.display(), "stopped the embedded PostgreSQL");
        Ok(())
    }

    fn initialise(&self) -> Result<(), EmbeddedPgError> {
        self.give_to_server_user(&self.data_dir)?;
        self.run(
            self.pg("initdb").arg("-D").arg(&self.data_dir).args([
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
            ]),
            if self.run_as.is_some() {
                "; as root, the server runs as an unprivileged user, who must be able to enter every parent \
                 directory of the data directory: choose another one with SHIPIT_PG_DIR"
            } else {
                ""
            },
        )?;
        let mut settings = String::from("\n# Written by shipit-api.\nmax_connections = 200\n");
        for (name, value) in &self.settings {
            settings.push_str(&format!("{name} = {value}\n"));
        }
        let conf = self.data_dir.join("postgresql.conf");
        let mut current = fs::read_to_string(&conf).map_err(io_error("cannot read", &conf))?;
        current.push_str(&settings);
        fs::write(&conf, current).map_err(io_error("cannot write", &conf))?;
        tracing::info!(data_dir = %self.data_dir.display(), "created the embedded PostgreSQL cluster");
        Ok(())
    }

    /// The server refuses a data directory that others can read; as root, it must also belong
    /// to the user the server runs as.
    fn give_to_server_user(&self, dir: &Path) -> Result<(), EmbeddedPgError> {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_error("cannot restrict", dir))?;
        if let Some((uid, gid)) = self.run_as {
            nix::unistd::chown(dir, Some(uid), Some(gid))
                .map_err(|errno| io_error("cannot give to the server user", dir)(std::io::Error::from(errno)))?;
        }
        Ok(())
    }

    fn pg(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin_dir.join(program));
        // The server user may not be able to enter the caller's working directory.
        command.current_dir(&self.data_dir).env("LC_ALL", "C");
        if let Some((uid, gid)) = self.run_as {
            use std::os::unix::process::CommandExt;
            command.uid(uid.as_raw()).gid(gid.as_raw());
        }
        command
    }

    fn run(&self, command: &mut Command, hint: &'static str) -> Result<Output, EmbeddedPgError> {
        let describe = format!("{:?}", command).replace('"', "");
        let output = command.output().map_err(io_error("cannot run", Path::new(command.get_program())))?;
        if output.status.success() {
            return Ok(output);
        }
        let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stdout));
        Err(EmbeddedPgError::CommandFailed {
            command: describe,
            status: output.status.to_string(),
            output: text.trim().to_owned(),
            hint,
        })
    }
}

/// The directory of `initdb` and `pg_ctl`: `pg_config --bindir` when it has them, otherwise
/// the newest `/usr/lib/postgresql/<version>/bin` (Debian keeps them off the PATH).
fn find_bin_dir() -> Option<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if output.status.success() && has_server(&dir) {
            return Some(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| Some((entry.file_name().to_str()?.parse().ok()?, entry.path().join("bin"))))
        .filter(|(_, dir)| has_server(dir))
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir)
}

fn unprivileged_user() -> Result<User, EmbeddedPgError> {
    ["postgres", "nobody"]
        .iter()
        .find_map(|name| User::from_name(name).ok().flatten())
        .ok_or(EmbeddedPgError::NoUnprivilegedUser)
}

/// Checks that `user` may enter every parent directory of `data_dir` (the data directory itself
/// is given to them). Supplementary groups are not considered: a rare setup, which then fails
/// later with the server's own message.
fn check_reachable(data_dir: &Path, user: &User) -> Result<(), EmbeddedPgError> {
    use std::os::unix::fs::MetadataExt;
    for dir in data_dir.ancestors().skip(1) {
        let metadata = fs::metadata(dir).map_err(io_error("cannot inspect", dir))?;
        let mode = metadata.mode();
        let can_enter = if metadata.uid() == user.uid.as_raw() {
            mode & 0o100 != 0
        } else if metadata.gid() == user.gid.as_raw() {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        if !can_enter {
            return Err(EmbeddedPgError::Unreachable { user: user.name.clone(), dir: dir.to_owned() });
        }
    }
    Ok(())
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> EmbeddedPgError {
    let path = path.to_owned();
    move |source| EmbeddedPgError::Io { action, path, source }
}

fn sha2_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
