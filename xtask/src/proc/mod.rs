//! Every process xtask starts, and making sure none outlives its job.
//!
//! - Each child is the leader of a new process group ([`Group`]). When it is done (it exited,
//!   its test stage ended, the run failed or was interrupted) the whole group gets SIGTERM,
//!   then SIGKILL after [`GRACE`], so what it spawned goes with it (wrangler → workerd,
//!   `cargo test` → wasm-bindgen-test-runner → chromedriver → Chromium).
//! - Each child's environment carries `XTASK_RUN_ID=<this run>` ([`MARKER`]). Descendants that
//!   leave the group (`setsid`, as browsers launched by drivers do) still inherit it, so
//!   [`finish`] finds them in `/proc` after each stage and at the end of the run, lists them
//!   by pid and command line, stops them and fails the run.
//! - Ctrl-C / SIGTERM / SIGHUP ([`install_signal_handler`]) stop every live group and every
//!   marked process, then exit 130.
//! - Children read stdin from `/dev/null`: in a background process group, reading the
//!   terminal would stop them (SIGTTIN), and nothing xtask runs is interactive.

mod procfs;

use std::fmt::Write as _;
use std::io::Read as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// The environment variable that marks every process of one xtask run.
pub(crate) const MARKER: &str = "XTASK_RUN_ID";

/// How long a group (or a leftover process) gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(3);

/// How long [`finish`] lets marked processes exit on their own before calling them leftovers
/// (a browser whose driver just died may take a moment).
const SETTLE: Duration = Duration::from_secs(2);

/// This run's id: unique per xtask process (pid, start time and a random hash).
pub(crate) fn run_id() -> &'static str {
    static RUN_ID: OnceLock<String> = OnceLock::new();
    RUN_ID.get_or_init(|| {
        use std::hash::{BuildHasher as _, Hasher as _};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        hasher.write_u128(nanos);
        format!("{}-{:016x}", std::process::id(), hasher.finish())
    })
}

/// Process-group ids of the children that are running now.
static LIVE_GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

fn live_groups() -> std::sync::MutexGuard<'static, Vec<i32>> {
    LIVE_GROUPS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Set once Ctrl-C was pressed; the handler is stopping the groups and will exit.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Whether Ctrl-C was pressed. Services exiting after that are expected, not failures.
pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// On Ctrl-C (or SIGTERM/SIGHUP): stop every live group and every process of this run that
/// left its group, then exit 130.
pub(crate) fn install_signal_handler() -> Result<()> {
    ctrlc::set_handler(|| {
        INTERRUPTED.store(true, Ordering::SeqCst);
        let groups: Vec<i32> = live_groups().clone();
        if !groups.is_empty() {
            eprintln!("\ninterrupted: stopping {} process group(s)", groups.len());
        }
        for &pgid in &groups {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGTERM);
        }
        std::thread::sleep(Duration::from_millis(500));
        for &pgid in &groups {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
        stop_processes(&procfs::marked(MARKER, run_id()), MARKER, run_id());
        std::process::exit(130);
    })
    .context("could not install the Ctrl-C handler")
}

/// A process started in its own process group; the whole group is stopped on drop.
#[derive(Debug)]
pub(crate) struct Group {
    name: String,
    child: Child,
    pgid: i32,
    exited: Option<ExitStatus>,
}

impl Group {
    /// Prints the command line and starts `cmd` as the leader of a new process group.
    pub(crate) fn spawn(name: &str, mut cmd: Command) -> Result<Self> {
        println!("$ {}   # {name}, own process group", display(&cmd));
        Self::start(name, &mut cmd)
    }

    /// Starts `cmd` as the leader of a new process group, marked with this run's id, stdin
    /// from `/dev/null`.
    pub(crate) fn start(name: &str, cmd: &mut Command) -> Result<Self> {
        cmd.process_group(0)
            .env(MARKER, run_id())
            .stdin(Stdio::null());
        let child = cmd.spawn().map_err(|err| spawn_error(cmd, &err))?;
        let pgid = i32::try_from(child.id()).context("pid out of range")?;
        live_groups().push(pgid);
        Ok(Self {
            name: name.to_owned(),
            child,
            pgid,
            exited: None,
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The leader's stdout, if it was piped (once).
    pub(crate) fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// The leader's stderr, if it was piped (once).
    pub(crate) fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.child.stderr.take()
    }

    /// `Some(status)` once the group leader has exited.
    pub(crate) fn exit_status(&mut self) -> Result<Option<ExitStatus>> {
        if self.exited.is_none() {
            self.exited = self
                .child
                .try_wait()
                .with_context(|| format!("waiting for {}", self.name))?;
        }
        Ok(self.exited)
    }

    /// Waits for the group leader to exit (the rest of the group is stopped by [`Self::stop`]).
    pub(crate) fn wait(&mut self) -> Result<ExitStatus> {
        if let Some(status) = self.exited {
            return Ok(status);
        }
        let status = self
            .child
            .wait()
            .with_context(|| format!("waiting for {}", self.name))?;
        self.exited = Some(status);
        Ok(status)
    }

    /// SIGTERM to the group, SIGKILL to whatever is left after [`GRACE`]. Idempotent.
    pub(crate) fn stop(&mut self) {
        let pgid = Pid::from_raw(self.pgid);
        // Until the leader is reaped, its pid (= the group id) cannot be reused; after that,
        // signal the group only while /proc shows members, so another group is never hit.
        let leader_running =
            |group: &mut Self| !matches!(group.exit_status(), Ok(Some(_)) | Err(_));
        let was_running = leader_running(self);
        let left = procfs::group_members(self.pgid);
        if was_running || !left.is_empty() {
            if !was_running {
                // The command is done but something it started is not: say what is stopped.
                println!(
                    "stopping {} process(es) `{}` left running in its group: {}",
                    left.len(),
                    self.name,
                    describe(&left)
                );
            }
            let _ = killpg(pgid, Signal::SIGTERM);
            let deadline = Instant::now() + GRACE;
            while Instant::now() < deadline
                && (leader_running(self) || !procfs::group_members(self.pgid).is_empty())
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            if leader_running(self) || !procfs::group_members(self.pgid).is_empty() {
                let _ = killpg(pgid, Signal::SIGKILL);
            }
        }
        if self.exited.is_none() {
            self.exited = self.child.wait().ok();
        }
        live_groups().retain(|&id| id != self.pgid);
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `cmd` (own process group, inherited stdout/stderr); fails with the command line if it
/// does not exit 0. What it left running in its group is stopped either way.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    let line = display(cmd);
    println!("$ {line}");
    let mut group = Group::start(&line, cmd)?;
    let status = group.wait()?;
    group.stop();
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(())
}

/// Runs `cmd` and returns its stdout (trimmed); stderr is inherited. Fails if it exits non-zero.
pub(crate) fn output(cmd: &mut Command) -> Result<String> {
    let line = display(cmd);
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let (stdout, status) = capture(&line, cmd)?;
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(stdout.trim().to_owned())
}

/// Runs `cmd` quietly and returns its stdout if it started and exited 0, else `None`
/// (for "is this tool installed, and which version" checks).
pub(crate) fn probe(cmd: &mut Command) -> Option<String> {
    let line = display(cmd);
    cmd.stdout(Stdio::piped()).stderr(Stdio::null());
    let (stdout, status) = capture(&line, cmd).ok()?;
    status.success().then(|| stdout.trim().to_owned())
}

fn capture(line: &str, cmd: &mut Command) -> Result<(String, ExitStatus)> {
    let mut group = Group::start(line, cmd)?;
    let mut stdout = Vec::new();
    if let Some(mut pipe) = group.take_stdout() {
        pipe.read_to_end(&mut stdout)
            .with_context(|| format!("reading the output of `{line}`"))?;
    }
    let status = group.wait()?;
    group.stop();
    Ok((String::from_utf8_lossy(&stdout).into_owned(), status))
}

/// Ends a job (a test stage, a whole command): stops every process of this run that is still
/// alive, and fails if there was one. A job that failed keeps its own error; leftovers are then
/// only printed.
pub(crate) fn finish(what: &str, result: Result<()>) -> Result<()> {
    merge(result, stop_leftovers(MARKER, run_id(), what))
}

fn merge(result: Result<()>, leftovers: Result<()>) -> Result<()> {
    match (result, leftovers) {
        (Ok(()), leftovers) => leftovers,
        (Err(err), Ok(())) => Err(err),
        (Err(err), Err(leftovers)) => {
            eprintln!("{leftovers:#}");
            Err(err)
        }
    }
}

/// Processes whose environment holds `key=value` and that are still alive after [`SETTLE`]:
/// reported, stopped, and turned into an error naming each by pid and command line.
fn stop_leftovers(key: &str, value: &str, what: &str) -> Result<()> {
    let deadline = Instant::now() + SETTLE;
    let mut left = procfs::marked(key, value);
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        left = procfs::marked(key, value);
    }
    if left.is_empty() {
        return Ok(());
    }
    let list = describe(&left);
    stop_processes(&left, key, value);
    bail!(
        "{} process(es) started by {what} were still running after it ended (now stopped):{list}",
        left.len()
    )
}

/// One line per process: pid, group, session and command line.
fn describe(processes: &[procfs::Process]) -> String {
    let mut list = String::new();
    for process in processes {
        let _ = write!(
            list,
            "\n  pid {} (process group {}, session {}): {}",
            process.stat.pid, process.stat.pgrp, process.stat.session, process.cmdline
        );
    }
    list
}

/// SIGTERM to each process, SIGKILL to those still alive (and still marked, so a reused pid
/// is never hit) after [`GRACE`].
fn stop_processes(processes: &[procfs::Process], key: &str, value: &str) {
    let pids: Vec<i32> = processes.iter().map(|p| p.stat.pid).collect();
    let still_alive = || -> Vec<i32> {
        procfs::marked(key, value)
            .into_iter()
            .map(|p| p.stat.pid)
            .filter(|pid| pids.contains(pid))
            .collect()
    };
    for &pid in &pids {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    let deadline = Instant::now() + GRACE;
    let mut alive = still_alive();
    while !alive.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        alive = still_alive();
    }
    for pid in alive {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// `cargo test --workspace`-style one-line rendering of a command (program name, not path).
pub(crate) fn display(cmd: &Command) -> String {
    let program = Path::new(cmd.get_program())
        .file_name()
        .unwrap_or_else(|| cmd.get_program())
        .to_string_lossy()
        .into_owned();
    cmd.get_args().fold(program, |mut line, arg| {
        let arg = arg.to_string_lossy();
        if arg.contains(' ') || arg.is_empty() {
            let _ = write!(line, " '{arg}'");
        } else {
            let _ = write!(line, " {arg}");
        }
        line
    })
}

pub(crate) fn spawn_error(cmd: &Command, err: &std::io::Error) -> anyhow::Error {
    let program = cmd.get_program().to_string_lossy();
    if err.kind() == std::io::ErrorKind::NotFound {
        anyhow::anyhow!("`{program}` not found (run `cargo xtask setup`)")
    } else {
        anyhow::anyhow!("could not start `{program}`: {err}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alive(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|line| procfs::parse_stat(&line))
            .is_some_and(|stat| !stat.is_zombie())
    }

    fn wait_gone(pid: i32) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while alive(pid) {
            assert!(Instant::now() < deadline, "process {pid} still runs");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn dropping_a_group_stops_all_of_it() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 30 & sleep 30"]);
        let mut group = Group::spawn("sleeper", cmd).expect("spawn");
        let pgid = group.pgid;
        assert!(group.exit_status().expect("status").is_none());
        // sh and the backgrounded sleep (and the foreground one, unless sh execs it).
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut members = procfs::group_members(pgid);
        while members.len() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            members = procfs::group_members(pgid);
        }
        assert!(members.len() >= 2, "{members:?}");
        drop(group);
        for member in members {
            wait_gone(member.stat.pid);
        }
        assert!(procfs::group_members(pgid).is_empty());
    }

    #[test]
    fn run_and_output_stop_what_the_command_left_in_its_group() {
        let pid = output(Command::new("sh").args(["-c", "sleep 30 >/dev/null 2>&1 & echo $!"]))
            .expect("runs");
        let pid: i32 = pid.parse().expect("a pid");
        wait_gone(pid);
        assert!(run(Command::new("sh").args(["-c", "exit 3"])).is_err());
        assert_eq!(
            probe(Command::new("sh").args(["-c", "echo hi"])).as_deref(),
            Some("hi")
        );
        assert_eq!(probe(&mut Command::new("/nonexistent/tool")), None);
    }

    #[test]
    fn children_carry_the_run_marker() {
        let environ = output(Command::new("sh").args(["-c", "echo $XTASK_RUN_ID"])).expect("runs");
        assert_eq!(environ, run_id());
    }

    #[test]
    fn leftovers_that_left_the_group_are_named_stopped_and_fail() {
        let marker = format!("leftover-test-{}", run_id());
        // Its own group, as a browser started by a driver would be: only the marker finds it.
        let mut stray = Command::new("sleep")
            .arg("31")
            .env("XTASK_LEFTOVER_TEST", &marker)
            .process_group(0)
            .spawn()
            .expect("spawn");
        // Marked once it has exec'd.
        let deadline = Instant::now() + Duration::from_secs(5);
        while procfs::marked("XTASK_LEFTOVER_TEST", &marker).is_empty() {
            assert!(Instant::now() < deadline, "sleep never showed up");
            std::thread::sleep(Duration::from_millis(10));
        }
        let err = stop_leftovers("XTASK_LEFTOVER_TEST", &marker, "the test")
            .expect_err("a leftover fails");
        let text = format!("{err:#}");
        assert!(text.contains(&format!("pid {}", stray.id())), "{text}");
        assert!(text.contains("sleep 31"), "{text}");
        assert!(text.contains("started by the test"), "{text}");
        let status = stray.wait().expect("reaped");
        assert!(!status.success(), "stopped by a signal: {status}");
        assert!(stop_leftovers("XTASK_LEFTOVER_TEST", &marker, "the test").is_ok());
    }

    #[test]
    fn a_failed_job_keeps_its_own_error() {
        let broke = || Err(anyhow::anyhow!("stage broke"));
        let left = || Err(anyhow::anyhow!("1 process(es) started by it"));
        assert!(merge(Ok(()), Ok(())).is_ok());
        assert_eq!(
            merge(broke(), Ok(())).expect_err("fails").to_string(),
            "stage broke"
        );
        assert_eq!(
            merge(broke(), left()).expect_err("fails").to_string(),
            "stage broke"
        );
        assert_eq!(
            merge(Ok(()), left()).expect_err("fails").to_string(),
            "1 process(es) started by it"
        );
    }
}
