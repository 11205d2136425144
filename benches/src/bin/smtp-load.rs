//! An SMTP load generator, in the spirit of Postfix's `smtp-source`.
//!
//! ```text
//! cargo run --release -p smtp-benches --bin smtp-load -- -c 8 -m 20000 -s 1k -k 100 --pipelining 127.0.0.1:2525
//! ```
//!
//! Sends `--messages` messages of `--size` octets over `--connections` connections at once,
//! `--per-connection` messages per connection (then QUIT and a fresh connection), optionally
//! as PIPELINING groups (MAIL, RCPT, DATA in one write; RFC 2920). Every reply code is
//! checked: an unexpected one stops the run with exit status 1. Prints messages/s, latency
//! percentiles per message (MAIL sent to the final `250` read), the connection setup time
//! (connect to the EHLO reply), the client's own CPU time, and one `RESULT` line for scripts.
//!
//! `--idle N` instead opens N connections, reads their greetings, prints `READY <open>`, and
//! holds them until its standard input closes (or `--hold` seconds pass).

use clap::Parser;
use smtp_benches::load::{self, parse_size, percentile, LoadConfig};
use smtp_benches::procfs;
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(
    about = "SMTP load generator: N connections, M messages of S octets; prints messages/s and latency percentiles."
)]
struct Args {
    /// The server, e.g. 127.0.0.1:2525.
    addr: SocketAddr,
    /// Connections at once (a client thread each).
    #[arg(short, long, default_value_t = 8)]
    connections: usize,
    /// Messages in all.
    #[arg(short, long, default_value_t = 10_000)]
    messages: usize,
    /// Octets per message, with an optional suffix: 1024, 100k, 1GiB.
    #[arg(short, long, default_value = "1k", value_parser = parse_size)]
    size: u64,
    /// Messages per connection; 1 opens a fresh connection for each message.
    #[arg(short = 'k', long, default_value_t = 100)]
    per_connection: usize,
    /// Send MAIL, RCPT and DATA as one PIPELINING group (RFC 2920).
    #[arg(short, long)]
    pipelining: bool,
    /// With --pipelining, pipeline even if the server does not offer PIPELINING.
    #[arg(long, requires = "pipelining")]
    force_pipelining: bool,
    /// Stop after this many seconds even if fewer than --messages were sent (each connection
    /// finishes its message, then says QUIT).
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Longest wait for one reply, in seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Open this many idle connections instead, print `READY <open>`, and hold them until
    /// standard input closes.
    #[arg(long, value_name = "N")]
    idle: Option<usize>,
    /// With --idle: let go after this many seconds even if standard input stays open.
    #[arg(long, default_value_t = 120)]
    hold: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let timeout = Duration::from_secs(args.timeout.max(1));
    if let Some(n) = args.idle {
        return idle(&args, n, timeout);
    }
    let mut config = LoadConfig::new(args.addr);
    config.connections = args.connections.max(1);
    config.messages = args.messages;
    config.size = args.size;
    config.per_connection = args.per_connection.max(1);
    config.pipelining = args.pipelining;
    config.force_pipelining = args.force_pipelining;
    config.timeout = timeout;
    config.duration = args.duration.map(|s| Duration::from_secs_f64(s.max(0.0)));
    let cpu0 = procfs::own_cpu_time().unwrap_or_default();
    let report = match load::run(config) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("smtp-load: FAILED: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cpu = procfs::own_cpu_time()
        .unwrap_or_default()
        .saturating_sub(cpu0);
    let secs = report.elapsed.as_secs_f64();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let lat = &report.latencies;
    println!(
        "smtp-load: {} messages of {} octets, {} connections ({} at once, {} per connection){}",
        report.messages,
        args.size,
        report.connections,
        args.connections,
        args.per_connection,
        if args.pipelining { ", pipelining" } else { "" }
    );
    println!(
        "  {secs:.3} s, {:.0} messages/s, {:.1} MiB/s",
        report.rate(),
        report.messages as f64 * args.size as f64 / secs.max(1e-9) / (1 << 20) as f64
    );
    println!(
        "  latency per message (MAIL to final 250): p50 {:.0} µs, p90 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
        us(percentile(lat, 0.5)),
        us(percentile(lat, 0.9)),
        us(percentile(lat, 0.99)),
        us(percentile(lat, 1.0))
    );
    let setups = &report.setups;
    println!(
        "  connection setup (connect to EHLO reply): p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
        us(percentile(setups, 0.5)),
        us(percentile(setups, 0.99)),
        us(percentile(setups, 1.0))
    );
    println!(
        "  client CPU: {:.3} s ({:.1} µs per message)",
        cpu.as_secs_f64(),
        us(cpu) / report.messages.max(1) as f64
    );
    println!(
        "RESULT messages={} connections={} seconds={secs:.6} rate={:.1} p50_us={:.0} p90_us={:.0} p99_us={:.0} max_us={:.0} client_cpu_s={:.3}",
        report.messages,
        report.connections,
        report.rate(),
        us(percentile(lat, 0.5)),
        us(percentile(lat, 0.9)),
        us(percentile(lat, 0.99)),
        us(percentile(lat, 1.0)),
        cpu.as_secs_f64()
    );
    ExitCode::SUCCESS
}

fn idle(args: &Args, n: usize, timeout: Duration) -> ExitCode {
    let start = Instant::now();
    let (open, error) = load::open_idle(args.addr, n, 100, timeout);
    if let Some(e) = &error {
        eprintln!(
            "smtp-load: stopped at {} of {n} connections: {e}",
            open.len()
        );
    }
    println!(
        "READY {} in {:.2} s",
        open.len(),
        start.elapsed().as_secs_f64()
    );
    let _ = std::io::stdout().flush();
    // Hold until standard input closes (a line or EOF), or --hold seconds.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = std::io::stdin().lock().read_line(&mut String::new());
        let _ = tx.send(());
    });
    let _ = rx.recv_timeout(Duration::from_secs(args.hold));
    drop(open);
    match error {
        Some(_) if n > 0 => ExitCode::from(2),
        _ => ExitCode::SUCCESS,
    }
}
