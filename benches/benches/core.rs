//! The core with no IO at all, and Stalwart's parser on the same bytes.
//!
//! `cargo bench -p smtp-benches --bench core`

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use smtp_benches::{
    body, command_mix, mail_parser_leaves, mime_message, parse_mime, prose_body, reads_buf,
    run_session, run_session_buf, seed_session_input, COMMANDS_PER_MIX,
};
use smtp_proto::{BareLineEndings, Config};
use std::hint::black_box;
use std::sync::Arc;

/// Read size for streamed bodies, as an adapter's socket reads would deliver them.
const READ: usize = 64 * 1024;

fn seed_workload(c: &mut Criterion) {
    let config = Arc::new(Config::new("bench.example"));
    let input = seed_session_input();
    let mut g = c.benchmark_group("seed_session");
    g.throughput(Throughput::Elements(1));
    // The seed's published number is 186,928 ns/op for this session over an in-memory pipe.
    g.bench_function("smtp-proto", |b| {
        b.iter(|| run_session(&config, &[black_box(&input)]))
    });
    g.finish();
}

fn command_parsing(c: &mut Criterion) {
    let config = Arc::new(Config::new("bench.example"));
    let transactions = 100;
    let mix = command_mix(transactions);
    let mut ours = b"EHLO client.example\r\n".to_vec();
    ours.extend_from_slice(&mix);
    let mut g = c.benchmark_group("command_mix");
    g.throughput(Throughput::Elements(
        (transactions * COMMANDS_PER_MIX) as u64,
    ));
    // Ours does more than parse: it checks the sequence, decides, and encodes every reply.
    g.bench_function("smtp-proto session", |b| {
        b.iter(|| run_session(&config, &[black_box(&ours)]))
    });
    g.bench_function("stalwart smtp-proto parser", |b| {
        b.iter(|| {
            let mut receiver = stalwart_smtp_proto::request::receiver::RequestReceiver::default();
            let mut iter = black_box(&mix[..]).iter();
            let mut n = 0usize;
            loop {
                match receiver.ingest(&mut iter) {
                    Ok(request) => {
                        black_box(&request);
                        n += 1;
                    }
                    Err(stalwart_smtp_proto::Error::NeedsMoreData { .. }) => break,
                    Err(e) => panic!("{e:?}"),
                }
            }
            assert_eq!(n, transactions * COMMANDS_PER_MIX);
            n
        })
    });
    g.finish();
}

fn data_decoding(c: &mut Criterion) {
    let config = Arc::new(Config::new("bench.example"));
    let mut g = c.benchmark_group("data_1MiB");
    for (name, body) in [
        ("78-octet lines", body(1 << 20, 78, 0)),
        ("998-octet lines", body(1 << 20, 998, 0)),
        (
            "78-octet lines, every 4th dot-stuffed",
            body(1 << 20, 78, 4),
        ),
        ("prose in 78-octet lines", prose_body(1 << 20, 78)),
    ] {
        g.throughput(Throughput::Bytes(body.len() as u64));
        let mut input =
            b"EHLO c.example\r\nMAIL FROM:<a@c.example>\r\nRCPT TO:<b@d.example>\r\nDATA\r\n"
                .to_vec();
        input.extend_from_slice(&body);
        input.extend_from_slice(b".\r\nQUIT\r\n");
        let reads: Vec<&[u8]> = input.chunks(READ).collect();
        let mut config = (*config).clone();
        config.max_message_size = 0;
        let config = Arc::new(config);
        g.bench_with_input(
            BenchmarkId::new("smtp-proto session", name),
            &reads,
            |b, reads| b.iter(|| run_session(&config, black_box(reads))),
        );
        // As an adapter that reads into a BytesMut feeds it: the reads are where the socket
        // put them (the setup, not timed), the session decodes them in place. One input per
        // iteration, made just before it: fresh from the copy, in cache, as a read leaves it
        // (batches of inputs made ahead would be read cold, while Stalwart's side reads the
        // same slices every time).
        g.bench_with_input(
            BenchmarkId::new("smtp-proto session, zero-copy input", name),
            &input,
            |b, input| {
                b.iter_batched(
                    || reads_buf(input, READ),
                    |reads| run_session_buf(&config, reads),
                    BatchSize::PerIteration,
                )
            },
        );
        // The same, accepting bare CR/LF instead of looking for them: the work Stalwart's
        // DataReceiver does (it does not look for them).
        let mut accept = (*config).clone();
        accept.bare_line_endings = BareLineEndings::Accept;
        let accept = Arc::new(accept);
        g.bench_with_input(
            BenchmarkId::new(
                "smtp-proto session, zero-copy input, bare CR/LF accepted",
                name,
            ),
            &input,
            |b, input| {
                b.iter_batched(
                    || reads_buf(input, READ),
                    |reads| run_session_buf(&accept, reads),
                    BatchSize::PerIteration,
                )
            },
        );
        let mut terminated = body.clone();
        terminated.extend_from_slice(b".\r\n");
        let reads: Vec<&[u8]> = terminated.chunks(READ).collect();
        g.bench_with_input(
            BenchmarkId::new("stalwart DataReceiver", name),
            &reads,
            |b, reads| {
                b.iter(|| {
                    let mut receiver = stalwart_smtp_proto::request::receiver::DataReceiver::new();
                    let mut out = Vec::with_capacity(READ);
                    let mut total = 0;
                    for read in reads.iter() {
                        let mut iter = black_box(*read).iter();
                        let done = receiver.ingest(&mut iter, &mut out);
                        total += out.len();
                        out.clear();
                        if done {
                            break;
                        }
                    }
                    total
                })
            },
        );
    }
    g.finish();
}

/// A message with a 10 MiB base64 attachment: our streaming parser in 64 KiB reads, and
/// Stalwart's mail-parser on the whole message in memory; both decode every leaf part.
fn mime_parsing(c: &mut Criterion) {
    let n = 10 << 20;
    let message = mime_message(n);
    let mut g = c.benchmark_group("mime_10MiB_base64");
    g.throughput(Throughput::Bytes(message.len() as u64));
    g.sample_size(20);
    g.bench_function("smtp-proto mime::Parser", |b| {
        b.iter(|| parse_mime(black_box(&message), READ))
    });
    g.bench_function("mail-parser", |b| {
        b.iter(|| mail_parser_leaves(black_box(&message)))
    });
    g.finish();
}

criterion_group!(
    benches,
    seed_workload,
    command_parsing,
    data_decoding,
    mime_parsing
);
criterion_main!(benches);
