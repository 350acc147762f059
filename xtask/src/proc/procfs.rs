//! Reading `/proc`: which processes are alive, their process group, and whether their
//! environment carries this run's marker ([`super::MARKER`]).
//!
//! The parsers ([`parse_stat`], [`environ_has`], [`cmdline`]) are pure and unit-tested; the
//! scanners read `/proc` and skip what they can't read (processes of other users, processes
//! that exited mid-scan).

use std::path::Path;

/// The fields of `/proc/<pid>/stat` that xtask needs (see proc(5)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stat {
    pub(crate) pid: i32,
    /// `R`, `S`, `D`, `Z` (zombie: exited, not yet reaped), `T`, ...
    pub(crate) state: char,
    pub(crate) ppid: i32,
    /// Process group id.
    pub(crate) pgrp: i32,
    /// Session id.
    pub(crate) session: i32,
}

impl Stat {
    /// A zombie has exited and only waits for its parent to reap it: nothing to stop.
    pub(crate) fn is_zombie(&self) -> bool {
        self.state == 'Z'
    }
}

/// Parses one `/proc/<pid>/stat` line: `pid (comm) state ppid pgrp session ...`. The command
/// name may itself contain spaces and parentheses, so the fields after it are found from the
/// *last* `)`.
pub(crate) fn parse_stat(line: &str) -> Option<Stat> {
    let (pid, rest) = line.split_once(" (")?;
    let close = rest.rfind(')')?;
    let mut fields = rest.get(close + 1..)?.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let mut number = || fields.next()?.parse::<i32>().ok();
    Some(Stat {
        pid: pid.trim().parse().ok()?,
        state,
        ppid: number()?,
        pgrp: number()?,
        session: number()?,
    })
}

/// Whether a `/proc/<pid>/environ` blob (`KEY=VALUE` entries separated by NUL) holds exactly
/// `key=value`.
pub(crate) fn environ_has(environ: &[u8], key: &str, value: &str) -> bool {
    environ.split(|&b| b == 0).any(|entry| {
        entry
            .strip_prefix(key.as_bytes())
            .and_then(|rest| rest.strip_prefix(b"="))
            .is_some_and(|rest| rest == value.as_bytes())
    })
}

/// `/proc/<pid>/cmdline` (arguments separated and ended by NUL) as one readable line.
pub(crate) fn cmdline(raw: &[u8]) -> String {
    let args: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|arg| !arg.is_empty())
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect();
    args.join(" ")
}

/// A live process as seen in `/proc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Process {
    pub(crate) stat: Stat,
    pub(crate) cmdline: String,
}

/// Every readable, non-zombie process other than this one.
fn live_processes() -> impl Iterator<Item = (Stat, std::path::PathBuf)> {
    let own = std::process::id();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(move |entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            if pid == own {
                return None;
            }
            let dir = entry.path();
            let stat = parse_stat(&std::fs::read_to_string(dir.join("stat")).ok()?)?;
            (!stat.is_zombie()).then_some((stat, dir))
        })
}

fn process(stat: Stat, dir: &Path) -> Process {
    Process {
        stat,
        cmdline: std::fs::read(dir.join("cmdline"))
            .map(|raw| cmdline(&raw))
            .unwrap_or_default(),
    }
}

/// Live processes whose environment holds `key=value` (this process excluded).
pub(crate) fn marked(key: &str, value: &str) -> Vec<Process> {
    live_processes()
        .filter(|(_, dir)| {
            std::fs::read(dir.join("environ")).is_ok_and(|env| environ_has(&env, key, value))
        })
        .map(|(stat, dir)| process(stat, &dir))
        .collect()
}

/// Live (non-zombie) members of process group `pgid`.
pub(crate) fn group_members(pgid: i32) -> Vec<Process> {
    live_processes()
        .filter(|(stat, _)| stat.pgrp == pgid)
        .map(|(stat, dir)| process(stat, &dir))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::CommandExt as _;

    use super::*;

    #[test]
    fn parses_stat_lines_even_with_odd_command_names() {
        let line = "4242 (chrome) S 4200 4100 4000 0 -1 4194560 1234 0 0 0 5 3 0 0 20 0 1 0 99 0 0";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                pid: 4242,
                state: 'S',
                ppid: 4200,
                pgrp: 4100,
                session: 4000,
            })
        );
        // comm may contain spaces and ')': the fields follow the last ')'.
        let odd = "77 (Web Content) (x)) Z 1 77 77 0 -1";
        let stat = parse_stat(odd).expect("parses");
        assert_eq!(
            (stat.pid, stat.state, stat.ppid, stat.pgrp),
            (77, 'Z', 1, 77)
        );
        assert!(stat.is_zombie());
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("12 (sh) S 1 x 3"), None);
        assert_eq!(parse_stat("12 (sh) S 1 2"), None);
    }

    #[test]
    fn matches_the_marker_exactly() {
        let environ = b"PATH=/usr/bin\0XTASK_RUN_ID=abc-123\0HOME=/root\0";
        assert!(environ_has(environ, "XTASK_RUN_ID", "abc-123"));
        // Another run's id, a prefix of the id, or the key as a value do not match.
        assert!(!environ_has(environ, "XTASK_RUN_ID", "abc-12"));
        assert!(!environ_has(environ, "XTASK_RUN_ID", "abc-1234"));
        assert!(!environ_has(
            b"X=XTASK_RUN_ID=abc-123\0",
            "XTASK_RUN_ID",
            "abc-123"
        ));
        assert!(!environ_has(
            b"XTASK_RUN_ID_OLD=abc-123\0",
            "XTASK_RUN_ID",
            "abc-123"
        ));
        assert!(!environ_has(b"", "XTASK_RUN_ID", "abc-123"));
        // The last entry may lack its NUL.
        assert!(environ_has(b"A=1\0XTASK_RUN_ID=z", "XTASK_RUN_ID", "z"));
    }

    #[test]
    fn renders_cmdlines() {
        assert_eq!(
            cmdline(b"/usr/lib/chromium/chromium\0--headless\0--test-type=webdriver\0"),
            "/usr/lib/chromium/chromium --headless --test-type=webdriver"
        );
        assert_eq!(cmdline(b""), "");
    }

    #[test]
    fn finds_a_marked_process_and_its_group() {
        let marker = format!("procfs-test-{}", std::process::id());
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env("XTASK_PROCFS_TEST", &marker)
            .process_group(0)
            .spawn()
            .expect("spawn sleep");
        let pid = i32::try_from(child.id()).expect("pid");
        // The environment is the child's own only once it has exec'd: poll briefly.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut found = marked("XTASK_PROCFS_TEST", &marker);
        while found.is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
            found = marked("XTASK_PROCFS_TEST", &marker);
        }
        let members = group_members(pid);
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].stat.pid, pid);
        assert_eq!(found[0].cmdline, "sleep 30");
        assert_eq!(
            members.iter().map(|p| p.stat.pid).collect::<Vec<_>>(),
            [pid]
        );
        assert!(marked("XTASK_PROCFS_TEST", &marker).is_empty());
    }
}
