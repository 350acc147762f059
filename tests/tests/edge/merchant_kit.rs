//! The merchant kit's Node and Python examples (`examples/merchant-backend/`) against a live
//! edge: each mints an intent offline, creates the order as the widget would, pays it in the
//! simulator, receives and verifies the real notification with its language's Standard
//! Webhooks library, and verifies the result token. The Worker notifies a port the example
//! listens on; the examples run one after the other on it.
//!
//! Interpreters: `MERCHANT_KIT_NODE` (default `node`), `MERCHANT_KIT_PYTHON` (default
//! `python3`; it needs `standardwebhooks`, which `cargo xtask setup` installs in a venv).

use std::process::Stdio;
use std::time::Duration;

use tests::edge_harness::{free_port, workspace_root};

use crate::support::{INTENT_KEY, ORIGIN, Stack};

const HOOK_SECRET: &str = "whsec_bWVyY2hhbnQta2l0LWxpdmUtd2ViaG9vay1rZXktMDEyMzQ1Njc4OQ==";
const RESULT_KEY: &str = "merchant-kit-live-result-key-0123456789";

#[tokio::test]
#[ignore = "needs the built Worker and the kit's interpreters: cargo xtask test merchant-kit"]
async fn examples_against_a_live_edge() {
    let port = free_port().unwrap_or_else(|e| panic!("{e}"));
    let env = Stack::start(|vars| {
        vars.set(
            "MERCHANT_WEBHOOK_URL",
            format!("http://127.0.0.1:{port}/webhook"),
        )
        .set("MERCHANT_WEBHOOK_SECRET", HOOK_SECRET)
        .set("CLIENT_RESULT_SECRET", RESULT_KEY)
    })
    .await;
    let health = env.edge_get("/healthz", &[]).await;
    assert_eq!(health.status, 200, "{}", health.text);
    let dir = workspace_root().join("examples").join("merchant-backend");
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    for (language, program, script) in [
        ("node", var("MERCHANT_KIT_NODE", "node"), "live.mjs"),
        ("python", var("MERCHANT_KIT_PYTHON", "python3"), "live.py"),
    ] {
        let started = std::time::Instant::now();
        let child = tokio::process::Command::new(&program)
            .arg(script)
            .current_dir(dir.join(language))
            .env("EDGE_URL", &env.edge.base_url)
            .env("SIM_URL", env.sim.base_url())
            .env("ORIGIN", ORIGIN)
            .env("WEBHOOK_PORT", port.to_string())
            .env("INTENT_SECRET", INTENT_KEY)
            .env("MERCHANT_WEBHOOK_SECRET", HOOK_SECRET)
            .env("CLIENT_RESULT_SECRET", RESULT_KEY)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{language}: starting {program}: {e}"));
        let output = tokio::time::timeout(Duration::from_secs(90), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("{language} live example: no end within 90 s"))
            .unwrap_or_else(|e| panic!("{language} live example: {e}"));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        eprint!("{text}");
        assert!(
            output.status.success(),
            "{language} live example failed ({})",
            output.status
        );
        assert!(
            text.contains("result token verified") && text.contains("order.paid"),
            "{language} live example ended without verifying the notification and the result"
        );
        eprintln!(
            "ok   {language} live example {:>6} ms",
            started.elapsed().as_millis()
        );
    }
}
