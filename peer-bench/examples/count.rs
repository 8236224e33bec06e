//! Runs one parser N times, for instruction counting under `valgrind --tool=callgrind`:
//! `count <stalwart|slice|reader> <ehlo|single> N`.

use std::hint::black_box;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let input = if args[2] == "ehlo" {
        peer_bench::EHLO
    } else {
        peer_bench::SINGLE
    };
    let n: usize = args[3].parse().unwrap();
    let mut reader = smtp_proto::ReplyReader::new();
    let mut acc = 0;
    for _ in 0..n {
        acc += match args[1].as_str() {
            "stalwart" => peer_bench::stalwart(black_box(input)),
            "slice" => peer_bench::ours_slice(black_box(input)),
            _ => peer_bench::ours_reader(&mut reader, black_box(input)),
        };
    }
    std::process::exit(i32::from(acc == 0));
}
