//! Runs one workload a fixed number of times, for instruction counts that do not depend on
//! how busy the machine is: `valgrind --tool=callgrind target/release/examples/instr WORKLOAD N`.
//! Workloads: seed, commands-ours, commands-stalwart, data78-ours, data78-stalwart.

use smtp_benches::{body, command_mix, run_session, seed_session_input};
use smtp_proto::Config;
use std::hint::black_box;
use std::sync::Arc;

fn main() {
    let mut args = std::env::args().skip(1);
    let workload = args.next().unwrap_or_else(|| "seed".into());
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let mut config = Config::new("bench.example");
    config.max_message_size = 0;
    let config = Arc::new(config);
    let mix = command_mix(100);
    let mut ours = b"EHLO client.example\r\n".to_vec();
    ours.extend_from_slice(&mix);
    let body78 = body(1 << 20, 78, 0);
    let mut data_in =
        b"EHLO c\r\nMAIL FROM:<a@c.example>\r\nRCPT TO:<b@d.example>\r\nDATA\r\n".to_vec();
    data_in.extend_from_slice(&body78);
    data_in.extend_from_slice(b".\r\n");
    let mut terminated = body78.clone();
    terminated.extend_from_slice(b".\r\n");
    let seed = seed_session_input();
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
            "data78-ours" => {
                let reads: Vec<&[u8]> = data_in.chunks(64 * 1024).collect();
                black_box(run_session(&config, &reads));
            }
            "data78-stalwart" => {
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
            other => panic!("unknown workload {other}"),
        }
    }
}
