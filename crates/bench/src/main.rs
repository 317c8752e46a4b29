//! `host-bench [--quick] [--only TEXT] [--json PATH]`: runs every job (see
//! the crate docs), or those whose name contains TEXT, prints the table and
//! writes the JSON of the run to PATH.
//! `cargo xtask bench host` runs it built with `--release`.

use std::process::exit;

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut quick, mut json, mut only) = (false, None, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--json" => json = args.next(),
            "--only" => only = args.next(),
            other => {
                eprintln!("host-bench: unknown argument {other}; usage: host-bench [--quick] [--only TEXT] [--json PATH]");
                exit(2);
            }
        }
    }
    let mut config = if quick { host_bench::Config::quick() } else { host_bench::Config::full() };
    config.only = only;
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
