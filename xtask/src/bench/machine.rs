//! What the numbers were measured on: cores, memory, OS, and the versions of the toolchain,
//! Chromium and workerd.

use serde_json::{Value, json};

use super::Ctx;
use crate::env::{self, Env};

/// What the numbers were measured on.
pub(super) fn machine(env: &Env, ctx: &Ctx<'_>) -> Value {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_default();
    let rustc = env::probe(env.command("rustc").arg("--version")).unwrap_or_default();
    let npm_version = |package: &str| -> String {
        std::fs::read_to_string(
            env.root
                .join("node_modules")
                .join(package)
                .join("package.json"),
        )
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v["version"].as_str().map(str::to_owned))
        .unwrap_or_default()
    };
    let wrangler = npm_version("wrangler");
    let workerd = npm_version("workerd");
    // The browser the ready suite drove, if it ran (a `widget`-only run has no "ready").
    let chromium = ctx
        .raw
        .borrow()
        .get("ready")
        .and_then(|stack| stack.pointer("/time_to_ready/browser"))
        .and_then(|browser| browser.as_str().map(str::to_owned))
        .or_else(|| {
            env::probe(std::process::Command::new("/usr/bin/chromium").arg("--version"))
                .and_then(|v| v.split_whitespace().nth(1).map(|n| format!("Chromium {n}")))
        })
        .unwrap_or_default();
    let summary = format!(
        "{cores} cores, {mem_gib:.0} GiB, {os}, {}, {chromium}, workerd {workerd} from wrangler {wrangler}",
        rustc.split(" (").next().unwrap_or(&rustc)
    );
    json!({
        "cores": cores,
        "memory_gib": mem_gib,
        "os": os,
        "rustc": rustc,
        "chromium": chromium,
        "wrangler": wrangler,
        "workerd": workerd,
        "summary": summary,
    })
}
