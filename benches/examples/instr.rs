//! Runs one workload a fixed number of times, for instruction counts that do not depend on
//! how busy the machine is: `valgrind --tool=callgrind target/release/examples/instr WORKLOAD N`.
//! Workloads: seed, commands-ours, commands-stalwart, and DATA with 1 MiB bodies:
//! data78-ours, data78-stalwart (78-octet lines), data998-ours, data998-stalwart (998-octet
//! lines), datadots-ours, datadots-stalwart (78-octet lines, every fourth dot-stuffed),
//! dataprose-ours-buf, dataprose-stalwart (prose, a dot every 45 octets or so); reads-buf is
//! the -buf workloads' set-up alone, to subtract from their CPU time.
//! A `-buf` suffix on ours hands the reads over without a copy (measure with
//! `--toggle-collect='smtp_benches::run_session_buf*'`, which leaves out the set-up); a further
//! `-accept` suffix accepts bare CR/LF instead of looking for them (Stalwart does not look).
//! msg1k-ours (100 messages of 1 KiB on one connection) and fresh1k-ours (one per connection,
//! 100 times) are what the core costs per message in the end-to-end runs, fed as the adapters
//! feed it (`--toggle-collect='smtp_benches::run_session_reused*'`).

use smtp_benches::{
    body, command_mix, mail_parser_leaves, mime_message, parse_mime, prose_body, reads_buf,
    run_session, run_session_buf, run_session_reused, seed_session_input,
};
use smtp_proto::{BareLineEndings, Config};
use std::hint::black_box;
use std::sync::Arc;

fn main() {
    let mut args = std::env::args().skip(1);
    let workload = args.next().unwrap_or_else(|| "seed".into());
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let mut config = Config::new("bench.example");
    config.max_message_size = 0;
    let workload = match workload.strip_suffix("-accept") {
        Some(w) => {
            config.bare_line_endings = BareLineEndings::Accept;
            w.to_string()
        }
        None => workload,
    };
    let config = Arc::new(config);
    let mix = command_mix(100);
    let mut ours = b"EHLO client.example\r\n".to_vec();
    ours.extend_from_slice(&mix);
    // (ours: the whole session's input; Stalwart's: the terminated body) per DATA workload.
    let data = |body: Vec<u8>| {
        let mut ours =
            b"EHLO c\r\nMAIL FROM:<a@c.example>\r\nRCPT TO:<b@d.example>\r\nDATA\r\n".to_vec();
        ours.extend_from_slice(&body);
        ours.extend_from_slice(b".\r\n");
        let mut terminated = body;
        terminated.extend_from_slice(b".\r\n");
        (ours, terminated)
    };
    let (data78, data78_stalwart) = data(body(1 << 20, 78, 0));
    let (data998, data998_stalwart) = data(body(1 << 20, 998, 0));
    let (datadots, datadots_stalwart) = data(body(1 << 20, 78, 4));
    let (dataprose, dataprose_stalwart) = data(prose_body(1 << 20, 78));
    let seed = seed_session_input();
    // 100 messages of 1 KiB on one connection, each command and each body its own read, as
    // smtp-load sends them one by one: what the core costs per message in the e2e runs.
    let msg1k: Vec<Vec<u8>> = {
        let mut reads = vec![b"EHLO client.example\r\n".to_vec()];
        let mut text = body(1024, 78, 0);
        text.extend_from_slice(b".\r\n");
        for _ in 0..100 {
            reads.push(b"MAIL FROM:<load@example.com>\r\n".to_vec());
            reads.push(b"RCPT TO:<sink@example.com>\r\n".to_vec());
            reads.push(b"DATA\r\n".to_vec());
            reads.push(text.clone());
        }
        reads.push(b"QUIT\r\n".to_vec());
        reads
    };
    let mime = if workload.starts_with("mime") {
        mime_message(10 << 20)
    } else {
        Vec::new()
    };
    for _ in 0..n {
        match workload.as_str() {
            "seed" => {
                black_box(run_session(&config, &[&seed]));
            }
            "commands-ours" => {
                black_box(run_session(&config, &[&ours]));
            }
            "commands-stalwart" => {
                let mut r = stalwart_smtp_proto::request::receiver::RequestReceiver::default();
                let mut iter = mix.iter();
                while let Ok(req) = r.ingest(&mut iter) {
                    black_box(&req);
                }
            }
            "data78-ours" => data_ours(&config, &data78),
            "data998-ours" => data_ours(&config, &data998),
            "datadots-ours" => data_ours(&config, &datadots),
            "data78-ours-buf" => data_ours_buf(&config, &data78),
            "data998-ours-buf" => data_ours_buf(&config, &data998),
            "datadots-ours-buf" => data_ours_buf(&config, &datadots),
            "dataprose-ours-buf" => data_ours_buf(&config, &dataprose),
            // The -buf workloads' set-up alone (the reads put into their buffers), to
            // subtract from their CPU time.
            "reads-buf" => {
                for mut read in reads_buf(&data78, 64 * 1024) {
                    black_box(read.split().freeze());
                }
            }
            "msg1k-ours" => {
                let reads: Vec<&[u8]> = msg1k.iter().map(|r| &r[..]).collect();
                black_box(run_session_reused(&config, &reads));
            }
            "fresh1k-ours" => {
                // One message per connection (smtp-load -k 1): the session's set-up, the
                // greeting, EHLO and QUIT are paid per message.
                let reads: Vec<&[u8]> = msg1k[..5]
                    .iter()
                    .chain(msg1k.last())
                    .map(|r| &r[..])
                    .collect();
                for _ in 0..100 {
                    black_box(run_session_reused(&config, &reads));
                }
            }
            "mime-ours" => {
                black_box(parse_mime(&mime, 64 * 1024));
            }
            "mime-mailparser" => {
                black_box(mail_parser_leaves(&mime));
            }
            "data78-stalwart" => data_stalwart(&data78_stalwart),
            "data998-stalwart" => data_stalwart(&data998_stalwart),
            "datadots-stalwart" => data_stalwart(&datadots_stalwart),
            "dataprose-stalwart" => data_stalwart(&dataprose_stalwart),
            other => panic!("unknown workload {other}"),
        }
    }
}

/// The whole session through our core, the input in 64 KiB reads.
fn data_ours(config: &Arc<Config>, input: &[u8]) {
    let reads: Vec<&[u8]> = input.chunks(64 * 1024).collect();
    black_box(run_session(config, &reads));
}

/// The whole session through our core, the input in 64 KiB reads handed over without a copy.
fn data_ours_buf(config: &Arc<Config>, input: &[u8]) {
    let reads = reads_buf(input, 64 * 1024);
    black_box(run_session_buf(config, reads));
}

/// Stalwart's DataReceiver on the terminated body, in 64 KiB reads.
fn data_stalwart(terminated: &[u8]) {
    let mut r = stalwart_smtp_proto::request::receiver::DataReceiver::new();
    let mut out = Vec::with_capacity(64 * 1024);
    for read in terminated.chunks(64 * 1024) {
        let done = r.ingest(&mut read.iter(), &mut out);
        black_box(&out);
        out.clear();
        if done {
            break;
        }
    }
}
