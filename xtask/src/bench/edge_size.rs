//! Suite `edge-size`: the Worker Cloudflare runs (`worker-build --release` output, compressed).

use anyhow::{Context as _, Result};

use super::Ctx;
use super::report::{Figure, Goal, Unit};
use crate::env;
use crate::size;

/// Goal for the edge Worker (index_bg.wasm + index.js, gzip -9).
const EDGE_GOAL_BYTES: f64 = 400.0 * 1024.0;

pub(super) fn run(ctx: &Ctx<'_>) -> Result<Vec<Figure>> {
    let env = ctx.env;
    env::run(
        env.command("worker-build")
            .arg("--release")
            .current_dir(env.root.join("edge")),
    )?;
    let build = env.root.join("edge").join("build");
    let mut figures = Vec::new();
    let (mut gzip, mut brotli, mut raw) = (0, 0, 0);
    for name in ["index_bg.wasm", "index.js"] {
        let path = build.join(name);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let (g, b) = (size::gzip_len(&bytes)?, size::brotli_len(&bytes)?);
        gzip += g;
        brotli += b;
        raw += bytes.len();
        figures.push(
            Figure::new(
                "edge size",
                format!("build/{name}"),
                "gzip -9",
                g as f64,
                Unit::Bytes,
            )
            .note(format!("raw {} B, brotli {b} B", bytes.len())),
        );
    }
    figures.push(
        Figure::new(
            "edge size",
            "index_bg.wasm + index.js",
            "gzip -9",
            gzip as f64,
            Unit::Bytes,
        )
        .goal(Goal::AtMost(EDGE_GOAL_BYTES))
        .note(format!(
            "raw {raw} B, brotli {brotli} B (Cloudflare's limit applies to the gzip size)"
        )),
    );
    Ok(figures)
}
