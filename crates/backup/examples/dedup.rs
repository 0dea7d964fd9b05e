//! How much of a second day's stream the store writes again, per chunk size: the measure
//! behind `ChunkParams::DATABASE` (bench/README.md).
//!
//! `cargo run --release -p slipway-backup --example dedup -- DAY1 DAY2`
//! (two versions of a stream, e.g. `pg_dump -Fc -Z0` of a database on two days).

use std::fs::File;
use std::time::Instant;

use slipway_backup::store::{ChunkParams, Store};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [day1, day2] = args.as_slice() else {
        return Err("usage: dedup DAY1 DAY2".into());
    };
    println!("avg chunk   chunks  day 1 stored  day 2 stored again  ratio  seconds");
    for (min, avg, max) in [
        (256 << 10, 1 << 20, 4 << 20),
        (64 << 10, 256 << 10, 1 << 20),
        (16 << 10, 64 << 10, 256 << 10),
        (8 << 10, 32 << 10, 128 << 10),
        (4 << 10, 16 << 10, 64 << 10),
        (2 << 10, 8 << 10, 32 << 10),
    ] {
        let dir = tempfile::tempdir()?;
        let store = Store::with_params(dir.path(), ChunkParams { min, avg, max })?;
        let started = Instant::now();
        let mut session = store.begin_write()?;
        let first = session.put_stream(File::open(day1)?)?;
        let stored = session.bytes_written();
        session.put_stream(File::open(day2)?)?;
        let again = session.bytes_written() - stored;
        println!(
            "{:>6} KiB {:>9} {:>10} KiB {:>15} KiB {:>7.3} {:>8.1}",
            avg >> 10,
            first.chunks.len(),
            stored >> 10,
            again >> 10,
            again as f64 / stored as f64,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
