//! The end-to-end measurements of issue 8, in one run: every server under every workload,
//! measured as server CPU time per message; RSS with many idle connections; peak RSS while a
//! 1 GiB message streams through.
//!
//! ```text
//! cargo build --release -p smtp-benches -p smtp-tokio -p smtp-blocking --examples --bins
//! target/release/e2e                 # everything (about 20 minutes)
//! target/release/e2e --quick         # a smoke run (about a minute)
//! ```
//!
//! Each server is started on a free 127.0.0.1 port with `RUST_LOG=error` (so no per-message
//! log line is measured), warmed up, then loaded by `smtp-load` for `--duration` seconds. The
//! server's CPU time (all threads, user + system, from `/proc`) before and after, divided by
//! the messages sent, is its CPU cost per message: on 2 cores the load client saturates a core
//! long before a fast server does, so messages/s cannot tell fast servers apart. Rounds are
//! interleaved (round, workload, server) and the median of the rounds is reported. Every
//! process is stopped by its PID; every wait is bounded.

use clap::Parser;
use smtp_benches::load::{self, parse_size};
use smtp_benches::procfs::{self, CpuSnapshot, Precision};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(
    about = "End-to-end benchmarks: our servers, the floor sinks and mailin-embedded under smtp-load."
)]
struct Args {
    /// Folder of the release binaries (smtp-load, smtp-floor, ... and examples/smtpd,
    /// examples/smtpd-blocking). Default: this program's folder.
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Seconds of load per measurement.
    #[arg(long, default_value_t = 3.0)]
    duration: f64,
    /// Rounds of every measurement; the median is reported.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Connections at once in the load.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Only these servers (comma-separated names; see the table).
    #[arg(long, value_delimiter = ',')]
    servers: Vec<String>,
    /// Idle connections to open for the RSS measurement.
    #[arg(long, default_value_t = 10_000)]
    idle: usize,
    /// Size of the large message.
    #[arg(long, default_value = "1GiB", value_parser = parse_size)]
    large: u64,
    /// Skip the CPU-per-message measurements.
    #[arg(long)]
    skip_load: bool,
    /// Skip the idle-connections measurement.
    #[arg(long)]
    skip_idle: bool,
    /// Skip the large message.
    #[arg(long)]
    skip_large: bool,
    /// A quick smoke run: 1 s of load, one round, 1000 idle connections, a 64 MiB message.
    #[arg(long)]
    quick: bool,
}

/// One server under test.
#[derive(Clone, Debug)]
struct Server {
    name: &'static str,
    /// What it is, for the tables.
    what: &'static str,
    program: &'static str,
    args: &'static [&'static str],
    /// Its connection cap, if it cannot be raised from the command line.
    cap: Option<usize>,
    /// It does not offer PIPELINING but reads line by line: pipeline anyway.
    force_pipelining: bool,
    /// The floor of the same IO model.
    floor: &'static str,
}

const SERVERS: &[Server] = &[
    Server {
        name: "smtpd",
        what: "smtp-tokio example `smtpd --discard`",
        program: "examples/smtpd",
        args: &["--discard", "--max-size", "0"],
        cap: Some(1000),
        force_pipelining: false,
        floor: "floor",
    },
    Server {
        name: "smtpd-blocking",
        what: "smtp-blocking example `smtpd-blocking --discard`",
        program: "examples/smtpd-blocking",
        args: &["--discard", "--max-size", "0"],
        cap: Some(1000),
        force_pipelining: false,
        floor: "floor-threads",
    },
    Server {
        name: "sink-tokio",
        what: "smtp-tokio, discarding handler (`smtp-sink --adapter tokio`)",
        program: "smtp-sink",
        args: &["--adapter", "tokio"],
        cap: None,
        force_pipelining: false,
        floor: "floor",
    },
    Server {
        name: "sink-blocking",
        what: "smtp-blocking, discarding handler (`smtp-sink --adapter blocking`)",
        program: "smtp-sink",
        args: &["--adapter", "blocking"],
        cap: None,
        force_pipelining: false,
        floor: "floor-threads",
    },
    Server {
        name: "floor",
        what: "floor sink, tokio tasks (`smtp-floor`)",
        program: "smtp-floor",
        args: &[],
        cap: None,
        force_pipelining: false,
        floor: "floor",
    },
    Server {
        name: "floor-threads",
        what: "floor sink, a thread per connection (`smtp-floor --threads`)",
        program: "smtp-floor",
        args: &["--threads"],
        cap: None,
        force_pipelining: false,
        floor: "floor-threads",
    },
    Server {
        name: "mailin",
        what: "mailin-embedded 0.8, discarding handler (`mailin-sink`)",
        program: "mailin-sink",
        args: &[],
        cap: None,
        force_pipelining: true,
        floor: "floor-threads",
    },
];

/// Ours: the rows compared with the floor and with mailin.
const OURS: &[&str] = &["smtpd", "smtpd-blocking", "sink-tokio", "sink-blocking"];

#[derive(Clone, Copy, Debug)]
struct Workload {
    size: u64,
    pipelining: bool,
    per_connection: usize,
}

impl Workload {
    fn name(&self) -> String {
        format!(
            "{} {}, {}",
            match self.size {
                s if s >= 1 << 20 => format!("{} MiB", s >> 20),
                s => format!("{} KiB", s >> 10),
            },
            match self.pipelining {
                true => "pipelined",
                false => "one by one",
            },
            match self.per_connection {
                1 => "fresh connections".to_owned(),
                k => format!("{k} per connection"),
            }
        )
    }
}

fn workloads() -> Vec<Workload> {
    let mut all = Vec::new();
    for size in [1u64 << 10, 100 << 10] {
        for per_connection in [100, 1] {
            for pipelining in [false, true] {
                all.push(Workload {
                    size,
                    pipelining,
                    per_connection,
                });
            }
        }
    }
    all
}

/// A running server, stopped (by PID) when dropped.
struct Running {
    child: Child,
    addr: SocketAddr,
    name: &'static str,
}

impl Running {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        stop(&mut self.child, self.name);
    }
}

/// SIGTERM, up to 15 s for a graceful exit, then SIGKILL; always reaped.
fn stop(child: &mut Child, name: &str) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "e2e: {name} (PID {}) ignored SIGTERM: killing it",
        child.id()
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// A command run with the open-files limit raised to its hard limit (`ulimit -n` in a shell
/// that then becomes the program: same PID).
fn with_max_fds(program: &Path) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#"ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@""#)
        .arg(program);
    cmd
}

fn free_port() -> std::io::Result<SocketAddr> {
    // Bound, then let go: the server binds it right after (a race only with other binds).
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

struct Ctx {
    bin: PathBuf,
    args: Args,
}

impl Ctx {
    fn start(&self, server: &Server, extra: &[String]) -> Result<Running, String> {
        let program = self.bin.join(server.program);
        if !program.exists() {
            return Err(format!(
                "{} not found: cargo build --release -p smtp-benches -p smtp-tokio -p smtp-blocking --examples --bins",
                program.display()
            ));
        }
        let addr = free_port().map_err(|e| e.to_string())?;
        let mut cmd = with_max_fds(&program);
        cmd.args(server.args)
            .args(extra)
            .arg("--listen")
            .arg(addr.to_string())
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let child = cmd
            .spawn()
            .map_err(|e| format!("{}: {e}", program.display()))?;
        let mut running = Running {
            child,
            addr,
            name: server.name,
        };
        // Ready once it greets; at most 10 s.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = running.child.try_wait() {
                return Err(format!("{} exited at start: {status}", server.name));
            }
            if load::connect(addr, Duration::from_secs(2)).is_ok() {
                return Ok(running);
            }
            if Instant::now() > deadline {
                stop(&mut running.child, server.name);
                return Err(format!("{} did not greet within 10 s", server.name));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs smtp-load to completion (bounded) and returns its RESULT fields.
    fn load(&self, addr: SocketAddr, extra: &[String]) -> Result<BTreeMap<String, f64>, String> {
        let program = self.bin.join("smtp-load");
        let mut child = with_max_fds(&program)
            .args(extra)
            .arg(addr.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{}: {e}", program.display()))?;
        let out = read_all_bounded(&mut child, Duration::from_secs(300));
        let (status, stdout, stderr) = out?;
        if !status {
            return Err(format!(
                "smtp-load {} failed: {}",
                extra.join(" "),
                stderr.trim()
            ));
        }
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix("RESULT "))
            .ok_or_else(|| format!("no RESULT line from smtp-load: {stdout}"))?;
        Ok(line
            .split_ascii_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
            .collect())
    }
}

/// Waits for a child (up to `limit`, then kills it) and collects its output.
fn read_all_bounded(child: &mut Child, limit: Duration) -> Result<(bool, String, String), String> {
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(o) = stdout.as_mut() {
            let _ = o.read_to_string(&mut s);
        }
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = stderr.as_mut() {
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status.success(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("a child ran longer than {limit:?}: killed"));
            }
        }
    };
    Ok((
        status,
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    ))
}

/// One measurement of one server under one workload.
#[derive(Clone, Debug, Default)]
struct Sample {
    cpu_us_per_msg: f64,
    rate: f64,
    p50_us: f64,
    p99_us: f64,
    hwm: u64,
    messages: f64,
    precise: bool,
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n % 2 {
        1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn mib(octets: u64) -> f64 {
    octets as f64 / (1u64 << 20) as f64
}

fn measure(ctx: &Ctx, server: &Server, w: &Workload) -> Result<Sample, String> {
    let extra: Vec<String> = match server.name {
        "mailin" => vec!["--threads".into(), (ctx.args.connections + 64).to_string()],
        _ => vec![],
    };
    let running = ctx.start(server, &extra)?;
    let mut args = vec![
        format!("--connections={}", ctx.args.connections),
        format!("--size={}", w.size),
        format!("--per-connection={}", w.per_connection),
    ];
    if w.pipelining {
        args.push("--pipelining".into());
        if server.force_pipelining {
            args.push("--force-pipelining".into());
        }
    }
    let mut warm = args.clone();
    warm.push(format!("--messages={}", 20 * ctx.args.connections));
    ctx.load(running.addr, &warm)?;
    let pid = running.pid();
    let before = CpuSnapshot::of(pid).map_err(|e| e.to_string())?;
    let mut run = args;
    run.push("--messages=100000000".into());
    run.push(format!("--duration={}", ctx.args.duration));
    let result = ctx.load(running.addr, &run)?;
    let after = CpuSnapshot::of(pid).map_err(|e| e.to_string())?;
    let hwm = procfs::status(pid, "VmHWM").unwrap_or(0);
    drop(running);
    let (cpu, precision) = after.since(&before);
    let messages = result.get("messages").copied().unwrap_or(0.0);
    if messages < 1.0 {
        return Err("no message was sent".into());
    }
    Ok(Sample {
        cpu_us_per_msg: cpu.as_secs_f64() * 1e6 / messages,
        rate: result.get("rate").copied().unwrap_or(0.0),
        p50_us: result.get("p50_us").copied().unwrap_or(0.0),
        p99_us: result.get("p99_us").copied().unwrap_or(0.0),
        hwm,
        messages,
        precise: precision == Precision::Threads,
    })
}

fn load_section(ctx: &Ctx, servers: &[&Server], report: &mut String) -> Result<(), String> {
    let workloads = workloads();
    let mut samples: BTreeMap<(usize, &str), Vec<Sample>> = BTreeMap::new();
    for round in 0..ctx.args.rounds {
        for (wi, w) in workloads.iter().enumerate() {
            for server in servers {
                let sample = measure(ctx, server, w)
                    .map_err(|e| format!("{} under {}: {e}", server.name, w.name()))?;
                eprintln!(
                    "e2e: round {} | {:<40} | {:<14} | {:7.1} µs/msg server CPU{} | {:6.0} msg/s | {} msgs",
                    round + 1,
                    w.name(),
                    server.name,
                    sample.cpu_us_per_msg,
                    if sample.precise { "" } else { " (ticks)" },
                    sample.rate,
                    sample.messages
                );
                samples.entry((wi, server.name)).or_default().push(sample);
            }
        }
    }
    let cell = |wi: usize, name: &str, f: fn(&Sample) -> f64| -> f64 {
        median(
            samples
                .get(&(wi, name))
                .map(|v| v.iter().map(f).collect())
                .unwrap_or_default(),
        )
    };
    let names: Vec<&str> = servers.iter().map(|s| s.name).collect();
    let header = |first: &str, cols: &[String]| -> String {
        format!(
            "| {first} | {} |\n|---|{}\n",
            cols.join(" | "),
            "---|".repeat(cols.len())
        )
    };
    report.push_str("### Server CPU time per message (µs, median of rounds)\n\n");
    report.push_str(&header(
        "workload",
        &names.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
    ));
    for (wi, w) in workloads.iter().enumerate() {
        let cells: Vec<String> = names
            .iter()
            .map(|n| format!("{:.1}", cell(wi, n, |s| s.cpu_us_per_msg)))
            .collect();
        report.push_str(&format!("| {} | {} |\n", w.name(), cells.join(" | ")));
    }
    let has = |n: &str| names.contains(&n);
    let ours: Vec<&Server> = servers
        .iter()
        .copied()
        .filter(|s| OURS.contains(&s.name))
        .collect();
    if !ours.is_empty() {
        report.push_str(
            "\n### Ratios of server CPU per message: ours ÷ the floor of the same IO model (target ≤ 1.25) and ours ÷ mailin (target < 1); median of the rounds' ratios; ✗ = target missed\n\n",
        );
        let mut cols = Vec::new();
        for s in &ours {
            if has(s.floor) {
                cols.push(format!("{} ÷ {}", s.name, s.floor));
            }
            if has("mailin") {
                cols.push(format!("{} ÷ mailin", s.name));
            }
        }
        report.push_str(&header("workload", &cols));
        for (wi, w) in workloads.iter().enumerate() {
            let mut cells = Vec::new();
            // The median of the rounds' ratios: each round ran the peers minutes apart at
            // most, so a busy spell of the machine weighs on both sides of a ratio.
            let ratio = |mine: &str, peer: &str| -> f64 {
                let (Some(a), Some(b)) = (samples.get(&(wi, mine)), samples.get(&(wi, peer)))
                else {
                    return f64::NAN;
                };
                median(
                    a.iter()
                        .zip(b)
                        .map(|(a, b)| a.cpu_us_per_msg / b.cpu_us_per_msg)
                        .collect(),
                )
            };
            for s in &ours {
                if has(s.floor) {
                    let r = ratio(s.name, s.floor);
                    cells.push(format!("{r:.2}{}", if r <= 1.25 { "" } else { " ✗" }));
                }
                if has("mailin") {
                    let r = ratio(s.name, "mailin");
                    cells.push(format!("{r:.2}{}", if r < 1.0 { "" } else { " ✗" }));
                }
            }
            report.push_str(&format!("| {} | {} |\n", w.name(), cells.join(" | ")));
        }
    }
    report.push_str(
        "\n### Messages/s and client-side latency p50 / p99 (µs), median of rounds (2 cores shared by client and server)\n\n",
    );
    report.push_str(&header(
        "workload",
        &names.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
    ));
    for (wi, w) in workloads.iter().enumerate() {
        let cells: Vec<String> = names
            .iter()
            .map(|n| {
                format!(
                    "{:.0}/s, {:.0} / {:.0}",
                    cell(wi, n, |s| s.rate),
                    cell(wi, n, |s| s.p50_us),
                    cell(wi, n, |s| s.p99_us)
                )
            })
            .collect();
        report.push_str(&format!("| {} | {} |\n", w.name(), cells.join(" | ")));
    }
    report.push_str("\n### Peak RSS under load (VmHWM, MiB, largest over the workloads)\n\n");
    report.push_str(&header(
        "",
        &names.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
    ));
    let peaks: Vec<String> = names
        .iter()
        .map(|n| {
            let peak = samples
                .iter()
                .filter(|((_, name), _)| name == n)
                .flat_map(|(_, v)| v.iter().map(|s| s.hwm))
                .max()
                .unwrap_or(0);
            format!("{:.1}", mib(peak))
        })
        .collect();
    report.push_str(&format!("| peak RSS | {} |\n", peaks.join(" | ")));
    let imprecise: usize = samples.values().flatten().filter(|s| !s.precise).count();
    let total: usize = samples.values().map(Vec::len).sum();
    report.push_str(&format!(
        "\n{imprecise} of {total} measurements had threads start or end during the load (thread-per-connection servers with fresh connections) and were measured in clock ticks (10 ms steps); the others to the nanosecond from each thread's run time.\n"
    ));
    Ok(())
}

fn idle_section(ctx: &Ctx, servers: &[&Server], report: &mut String) -> Result<(), String> {
    let want = ctx.args.idle;
    report.push_str(&format!(
        "\n### RSS with {want} idle connections (greeted, then silent), and the CPU it takes to hold them\n\n| server | open | RSS before | RSS with them | per connection | threads | CPU while idle |\n|---|---|---|---|---|---|---|\n"
    ));
    for server in servers {
        let n = server.cap.map_or(want, |cap| want.min(cap));
        let extra: Vec<String> = match server.name {
            "mailin" => vec!["--threads".into(), (n + 64).to_string()],
            _ => vec![],
        };
        let running = ctx.start(server, &extra)?;
        let pid = running.pid();
        std::thread::sleep(Duration::from_millis(200));
        let before = procfs::status(pid, "VmRSS").unwrap_or(0);
        let program = ctx.bin.join("smtp-load");
        let mut client = with_max_fds(&program)
            .arg(format!("--idle={n}"))
            .arg("--hold=300")
            .arg(running.addr.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| e.to_string())?;
        let stdout = client.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("READY ") {
                    let _ = tx.send(rest.to_owned());
                }
            }
        });
        let ready = rx.recv_timeout(Duration::from_secs(240));
        std::thread::sleep(Duration::from_secs(1));
        let with = procfs::status(pid, "VmRSS").unwrap_or(0);
        let threads = procfs::status(pid, "Threads").unwrap_or(0);
        // What holding them costs: CPU over 3 s of silence.
        let quiet = Duration::from_secs(3);
        let cpu0 = CpuSnapshot::of(pid).map_err(|e| e.to_string())?;
        std::thread::sleep(quiet);
        let (idle_cpu, _) = CpuSnapshot::of(pid)
            .map_err(|e| e.to_string())?
            .since(&cpu0);
        let idle_cpu = 100.0 * idle_cpu.as_secs_f64() / quiet.as_secs_f64();
        drop(client.stdin.take()); // the client lets go
        let _ = read_all_bounded(&mut client, Duration::from_secs(30));
        drop(running);
        let ready =
            ready.map_err(|_| format!("{}: the idle client never got ready", server.name))?;
        let open: usize = ready
            .split_ascii_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let note = match server.cap {
            Some(cap) if cap < want => format!(" (its cap: {cap})"),
            _ if open < n => " (stopped early, see stderr)".to_owned(),
            _ => String::new(),
        };
        let per = with.saturating_sub(before) as f64 / open.max(1) as f64 / 1024.0;
        eprintln!(
            "e2e: idle | {:<14} | {open} open | {:.1} MiB -> {:.1} MiB | {per:.1} KiB each | {idle_cpu:.1} % CPU",
            server.name,
            mib(before),
            mib(with)
        );
        report.push_str(&format!(
            "| {} | {open}{note} | {:.1} MiB | {:.1} MiB | {per:.1} KiB | {threads} | {idle_cpu:.1} % of a core |\n",
            server.name,
            mib(before),
            mib(with)
        ));
    }
    Ok(())
}

fn large_section(ctx: &Ctx, servers: &[&Server], report: &mut String) -> Result<(), String> {
    let size = ctx.args.large;
    report.push_str(&format!(
        "\n### One {:.0} MiB message (peak RSS growth: VmHWM after it minus VmHWM after a warm-up of ten 1 KiB messages)\n\n| server | VmHWM before | VmHWM after | growth | server CPU | wall |\n|---|---|---|---|---|---|\n",
        mib(size)
    ));
    for server in servers {
        let extra: Vec<String> = match server.name {
            "mailin" => vec!["--threads".into(), "8".into()],
            _ => vec![],
        };
        let running = ctx.start(server, &extra)?;
        let pid = running.pid();
        ctx.load(
            running.addr,
            &["-c1".into(), "-m10".into(), "-k10".into(), "-s1k".into()],
        )?;
        let before = procfs::status(pid, "VmHWM").unwrap_or(0);
        let cpu0 = CpuSnapshot::of(pid).map_err(|e| e.to_string())?;
        let start = Instant::now();
        ctx.load(
            running.addr,
            &[
                "-c1".into(),
                "-m1".into(),
                "-k1".into(),
                format!("--size={size}"),
                "--timeout=120".into(),
            ],
        )?;
        let wall = start.elapsed();
        let after = procfs::status(pid, "VmHWM").unwrap_or(0);
        let (cpu, _) = CpuSnapshot::of(pid)
            .map_err(|e| e.to_string())?
            .since(&cpu0);
        drop(running);
        let growth = after.saturating_sub(before);
        eprintln!(
            "e2e: large | {:<14} | VmHWM {:.2} -> {:.2} MiB (+{:.0} KiB) | {:.2} s CPU",
            server.name,
            mib(before),
            mib(after),
            growth as f64 / 1024.0,
            cpu.as_secs_f64()
        );
        report.push_str(&format!(
            "| {} | {:.2} MiB | {:.2} MiB | {} KiB | {:.2} s | {:.2} s |\n",
            server.name,
            mib(before),
            mib(after),
            growth / 1024,
            cpu.as_secs_f64(),
            wall.as_secs_f64()
        ));
    }
    Ok(())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{cores} cores ({cpu}), Linux {}, load average at start {}",
        kernel.trim(),
        load.split_ascii_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

fn main() -> ExitCode {
    let mut args = Args::parse();
    if args.quick {
        args.duration = 1.0;
        args.rounds = 1;
        args.idle = args.idle.min(1000);
        args.large = args.large.min(64 << 20);
    }
    let bin = args.bin_dir.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("target/release"))
    });
    let servers: Vec<&Server> = SERVERS
        .iter()
        .filter(|s| args.servers.is_empty() || args.servers.iter().any(|n| n == s.name))
        .collect();
    if servers.is_empty() {
        eprintln!(
            "e2e: no such server; the servers: {}",
            SERVERS
                .iter()
                .map(|s| s.name)
                .collect::<Vec<_>>()
                .join(", ")
        );
        return ExitCode::FAILURE;
    }
    let ctx = Ctx { bin, args };
    let started = Instant::now();
    let mut report = format!(
        "Machine: {}. Load: {} connections, {} s per measurement, {} round(s); servers run with RUST_LOG=error.\n\nServers:\n\n",
        machine(),
        ctx.args.connections,
        ctx.args.duration,
        ctx.args.rounds
    );
    for s in &servers {
        report.push_str(&format!("- `{}`: {}\n", s.name, s.what));
    }
    report.push('\n');
    let mut result = Ok(());
    if !ctx.args.skip_load {
        result = load_section(&ctx, &servers, &mut report);
    }
    if result.is_ok() && !ctx.args.skip_idle {
        result = idle_section(&ctx, &servers, &mut report);
    }
    if result.is_ok() && !ctx.args.skip_large {
        result = large_section(&ctx, &servers, &mut report);
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    report.push_str(&format!(
        "\nRun took {:.0} s; load average at the end {}.\n",
        started.elapsed().as_secs_f64(),
        load.split_ascii_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    ));
    println!("{report}");
    let _ = std::io::stdout().flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("e2e: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}
