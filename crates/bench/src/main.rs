//! `host-bench [--quick] [--json PATH]`: runs every job (see the crate
//! docs), prints the table and writes the JSON of the run to PATH.
//! `cargo xtask bench host` runs it built with `--release`.

use std::process::exit;

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut quick, mut json) = (false, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--json" => json = args.next(),
            other => {
                eprintln!("host-bench: unknown argument {other}; usage: host-bench [--quick] [--json PATH]");
                exit(2);
            }
        }
    }
    let config = if quick { host_bench::Config::quick() } else { host_bench::Config::full() };
    let run = host_bench::run(&config, &mut |row| eprintln!("host-bench: {} done", row.job));
    print!("{}", run.table());
    if let Some(path) = json {
        if let Err(why) = run.write_json(std::path::Path::new(&path)) {
            eprintln!("host-bench: writing {path}: {why}");
            exit(1);
        }
        println!("JSON: {path}");
    }
}
