//! The service load run: the orchestrator over the PostgreSQL documentation on a durable
//! cluster of our own, driven by `wrk` with a fixed list of questions; requests/s, latency
//! percentiles, errors and the service's peak RSS.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

pub use crate::cli::Door;

/// What one `wrk` run measured (printed by the Lua script's `done` hook).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct WrkResult {
    /// Requests completed.
    pub requests: u64,
    /// Run time, microseconds.
    pub duration_us: u64,
    /// Median latency, microseconds.
    pub p50_us: u64,
    /// 99th percentile latency, microseconds.
    pub p99_us: u64,
    /// Slowest request, microseconds.
    pub max_us: u64,
    /// Responses with a status other than 2xx/3xx.
    pub non_2xx: u64,
    /// Socket errors: connect, read, write, timeout.
    pub connect_errors: u64,
    /// Read errors.
    pub read_errors: u64,
    /// Write errors.
    pub write_errors: u64,
    /// Requests that timed out.
    pub timeouts: u64,
    /// 2xx answers that say the call failed (an MCP tool result with `isError`, or a JSON-RPC
    /// error), when the script looks for them.
    #[serde(default)]
    pub failed_answers: u64,
}

impl WrkResult {
    /// Requests per second.
    pub fn requests_per_second(&self) -> f64 {
        self.requests as f64 / (self.duration_us as f64 / 1e6).max(f64::MIN_POSITIVE)
    }

    /// Every kind of error, summed.
    pub fn errors(&self) -> u64 {
        self.non_2xx
            + self.connect_errors
            + self.read_errors
            + self.write_errors
            + self.timeouts
            + self.failed_answers
    }
}

/// Marks the line of the Lua `done` hook in wrk's output.
const RESULT_MARK: &str = "AIBLOX_WRK_RESULT ";

impl Door {
    /// The path the load posts to.
    pub fn path(self) -> &'static str {
        match self {
            Door::Query => "/v1/query",
            Door::Mcp => "/mcp",
        }
    }

    /// The body that asks `query` (the `/v1/query` body) through this door.
    pub fn body(self, query: serde_json::Value) -> String {
        match self {
            Door::Query => query.to_string(),
            Door::Mcp => serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "search", "arguments": query}})
            .to_string(),
        }
    }
}

/// A wrk Lua script that posts `bodies` to `door`'s path in turn (each wrk thread starting at
/// its own offset) and prints the figures as one JSON line. Through MCP, answers that report a
/// failed call (`"isError":true`, a JSON-RPC `"error"`) count as errors.
pub fn wrk_script(door: Door, bodies: &[String]) -> String {
    let path = door.path();
    let (accept, check) = match door {
        Door::Query => ("", ""),
        Door::Mcp => (
            r#", ["Accept"] = "application/json, text/event-stream""#,
            r#"
function response(status, headers, body)
  if string.find(body, '"isError":true', 1, true) or string.find(body, '"error":{', 1, true) then
    failed = failed + 1
  end
end"#,
        ),
    };
    let mut script = String::from("local bodies = {\n");
    for body in bodies {
        script.push_str("  [==[");
        script.push_str(body);
        script.push_str("]==],\n");
    }
    script.push_str(&format!(
        r#"}}
local threads = {{}}
local counter = 0
function setup(thread)
  thread:set("offset", counter * 7)
  counter = counter + 1
  table.insert(threads, thread)
end
local next_body = 0
failed = 0
function init(args)
  next_body = offset or 0
end
function request()
  next_body = next_body % #bodies + 1
  return wrk.format("POST", "{path}", {{["Content-Type"] = "application/json"{accept}}}, bodies[next_body])
end{check}
function done(summary, latency, requests)
  local e = summary.errors
  local failed_answers = 0
  for _, thread in ipairs(threads) do
    failed_answers = failed_answers + (thread:get("failed") or 0)
  end
  io.write(string.format(
    '{RESULT_MARK}{{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,'
    .. '"non_2xx":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,'
    .. '"failed_answers":%d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.status, e.connect, e.read, e.write, e.timeout, failed_answers))
end
"#
    ));
    script
}

/// The figures of a wrk run, from its output.
pub fn parse_wrk_output(output: &str) -> anyhow::Result<WrkResult> {
    let line = output
        .lines()
        .find_map(|line| line.strip_prefix(RESULT_MARK))
        .with_context(|| format!("wrk printed no result line:\n{output}"))?;
    serde_json::from_str(line).with_context(|| format!("unreadable wrk result: {line}"))
}

/// Runs wrk: `connections` connections on `threads` threads for `seconds` against `url`.
pub fn run_wrk(
    script: &Path,
    url: &str,
    connections: u32,
    threads: u32,
    seconds: u32,
) -> anyhow::Result<WrkResult> {
    let output = Command::new("wrk")
        .arg(format!("-c{connections}"))
        .arg(format!("-t{threads}"))
        .arg(format!("-d{seconds}s"))
        .arg("--timeout")
        .arg("5s")
        .arg("-s")
        .arg(script)
        .arg(url)
        .output()
        .context("could not run wrk, the load generator: install it (apt-get install wrk)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "wrk failed ({}): {}{}",
            output.status,
            stdout,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    parse_wrk_output(&stdout)
}

/// A free TCP port on 127.0.0.1 (free when asked; the service binds it right after).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("no free TCP port on 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}

/// A service process, stopped (SIGINT, then killed) when dropped.
#[derive(Debug)]
pub struct Service {
    child: Child,
}

impl Service {
    /// Starts `program serve` listening on `listen`, with the embedding model in
    /// `embedding_model` (none: lexical only, whatever the environment says), and waits until
    /// it accepts connections.
    pub fn start(
        program: &Path,
        listen: &str,
        database_url: &str,
        embedding_model: Option<&Path>,
    ) -> anyhow::Result<Service> {
        let mut command = Command::new(program);
        command
            .arg("serve")
            .env("AIBLOX_KB_DATABASE_URL", database_url)
            .env("AIBLOX_LISTEN", listen)
            .env("AIBLOX_LOG_LEVEL", "warn")
            .stdin(Stdio::null());
        match embedding_model {
            Some(dir) => command.env("AIBLOX_EMBEDDING_MODEL", dir),
            None => command.env_remove("AIBLOX_EMBEDDING_MODEL"),
        };
        let child = command
            .spawn()
            .with_context(|| format!("could not start {}", program.display()))?;
        let mut service = Service { child };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(listen).is_err() {
            if let Some(status) = service.child.try_wait()? {
                bail!("the orchestrator exited at start ({status})");
            }
            if Instant::now() > deadline {
                bail!("the orchestrator did not listen on {listen} within 60 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(service)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident set size so far (`VmHWM`), in bytes.
    pub fn peak_rss_bytes(&self) -> Option<u64> {
        status_field(self.pid(), "VmHWM:")
    }

    /// CPU seconds used so far.
    pub fn cpu_seconds(&self) -> Option<f64> {
        crate::cpu::process_cpu_seconds(self.pid())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-INT")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path` of a local service (one request per connection), its status and JSON body.
pub fn get_json(address: &str, path: &str) -> anyhow::Result<(u16, serde_json::Value)> {
    use std::io::{Read as _, Write as _};
    let mut stream = TcpStream::connect(address).with_context(|| format!("connect {address}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .context("not an HTTP response")?;
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    Ok((status, serde_json::from_str(body).context("not JSON")?))
}

/// A `/proc/<pid>/status` field in kB, as bytes.
fn status_field(pid: u32, name: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|line| line.starts_with(name))?;
    let kilobytes: u64 = line[name.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kilobytes * 1024)
}

/// The questions of a relevance file (`{"q": ...}` per line).
pub fn questions(path: &Path) -> anyhow::Result<Vec<String>> {
    #[derive(Deserialize)]
    struct Line {
        q: String,
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("could not read {}", path.display()))?;
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str::<Line>(line)
                .map(|line| line.q)
                .with_context(|| format!("{}: not a question line: {line}", path.display()))
        })
        .collect()
}

/// The PostgreSQL documentation (Debian's `postgresql-doc-15`), when installed.
pub fn default_corpus() -> Option<PathBuf> {
    let path = PathBuf::from("/usr/share/doc/postgresql-doc-15/html");
    path.is_dir().then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_result_line_of_the_script_is_read_back() {
        let output = "Running 1s test @ http://127.0.0.1:1/\n  2 threads and 4 connections\n\
            AIBLOX_WRK_RESULT {\"requests\":120,\"duration_us\":1000000,\"p50_us\":900,\"p99_us\":4000,\
            \"max_us\":5000,\"non_2xx\":1,\"connect_errors\":0,\"read_errors\":2,\"write_errors\":0,\
            \"timeouts\":3}\n";
        let result = parse_wrk_output(output).unwrap();
        assert_eq!(result.requests, 120);
        assert_eq!(result.requests_per_second(), 120.0);
        assert_eq!(result.errors(), 6);
        assert!(parse_wrk_output("no result").is_err());
    }

    #[test]
    fn the_mcp_script_asks_the_search_tool_and_counts_failed_calls() {
        let body = Door::Mcp.body(serde_json::json!({"query": "vacuum", "top_k": 5}));
        let sent: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(sent["method"], "tools/call");
        assert_eq!(sent["params"]["name"], "search");
        assert_eq!(sent["params"]["arguments"]["query"], "vacuum");
        let script = wrk_script(Door::Mcp, &[body]);
        assert!(script.contains(r#"wrk.format("POST", "/mcp""#));
        assert!(script.contains(r#"["Accept"] = "application/json, text/event-stream""#));
        assert!(script.contains(r#"'"isError":true'"#));
        assert!(!wrk_script(Door::Query, &[]).contains("isError"));
    }

    #[test]
    fn the_script_holds_every_body_verbatim() {
        let bodies = vec![
            r#"{"query":"a \"quoted\" word"}"#.to_owned(),
            "{}".to_owned(),
        ];
        let script = wrk_script(Door::Query, &bodies);
        assert!(script.contains(r#"[==[{"query":"a \"quoted\" word"}]==]"#));
        assert!(script.contains(r#"wrk.format("POST", "/v1/query""#));
        assert!(script.contains(RESULT_MARK));
    }
}
