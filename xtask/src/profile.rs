//! `cargo xtask bench profile JOB [--cpu CPU] [--pages N]`: where one job of
//! the QEMU bench image spends its guest instructions.
//!
//! QEMU's TCG logs the instructions of every block it translates
//! (`-d in_asm`) and every block it runs (`-d exec`, with `nochain` so that
//! chained blocks are logged too). The job's last repetition is timed
//! between two reads of `CNTVCT_EL0`; everything the CPU ran between them
//! is counted, per operation (an exception taken, or a page of the
//! repetition for jobs that take none): guest instructions, blocks (each
//! ends in a branch; an indirect one costs TCG a lookup), exclusive loads
//! (spin locks and atomics), barriers and TLB invalidations, and the
//! instructions of each part of a fault (the vm-core part against the
//! page's zeroing or copy, issue 15's comparison) and of each function of
//! the image. Counts, not times: they do
//! not move from run to run, so a change shows without a benchmark's noise.
//! The image boots with one CPU, so the log is of that CPU alone.
//!
//! Release images are optimised as one program (LTO), so most of a fault
//! is inlined into the exception handler. Each instruction counts for the
//! function its code came from, read from the image's DWARF: the innermost
//! inlined function that is not of the Rust library (`core`, `alloc`) or a
//! collection crate, whose code belongs to its caller.

use crate::qemu::{self, Boot};
use object::{Object, ObjectSymbol, SymbolKind};
use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::Path;
use std::time::Duration;

const USAGE: &str = "usage: cargo xtask bench profile JOB [--cpu CPU] [--pages N]";

/// A text symbol of the image: start, size, demangled name.
struct Symbol {
    start: u64,
    size: u64,
    name: String,
}

/// The image's functions, by address.
fn symbols(image: &Path) -> Result<Vec<Symbol>, String> {
    let data = fs::read(image).map_err(|e| format!("reading {}: {e}", image.display()))?;
    let file = object::File::parse(&*data).map_err(|e| format!("{}: {e}", image.display()))?;
    let mut symbols: Vec<Symbol> = file
        .symbols()
        .filter(|s| s.kind() == SymbolKind::Text)
        .filter_map(|s| {
            let name = format!("{:#}", rustc_demangle::demangle(s.name().ok()?));
            Some(Symbol { start: s.address(), size: s.size().max(1), name })
        })
        .collect();
    symbols.sort_by_key(|s| s.start);
    Ok(symbols)
}

fn function(symbols: &[Symbol], pc: u64) -> &str {
    let i = symbols.partition_point(|s| s.start <= pc);
    match i.checked_sub(1).map(|i| &symbols[i]) {
        Some(s) if pc < s.start + s.size => &s.name,
        _ => "(no symbol)",
    }
}

/// Whether function `name` is library code that counts for its caller when
/// inlined: of the Rust library, a collection crate, or a trait's method
/// for a primitive or built-in type (`<u64 as core::cmp::Ord>::cmp`).
fn is_library(name: &str) -> bool {
    const LIBRARY: [&str; 4] = ["core", "alloc", "smallvec", "spin"];
    const PRIMITIVE: [&str; 16] = [
        "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize", "bool",
        "char", "str", "",
    ];
    let path = name.trim_start_matches(['<', '&', '[', '(', '*']);
    let path = path.strip_prefix("const ").or_else(|| path.strip_prefix("mut ")).unwrap_or(path);
    let first = &path[..path.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(path.len())];
    LIBRARY.contains(&first) || PRIMITIVE.contains(&first)
}

/// The function each instruction counts for: the innermost of the functions
/// inlined there (innermost first in `inlined`) that is not library code
/// ([`is_library`]), else the function of the symbol it lies in.
fn owner<'a>(inlined: &'a [String], symbol: &'a str) -> &'a str {
    inlined.iter().find(|name| !is_library(name)).map_or(symbol, String::as_str)
}

/// The image's functions by instruction address, through its symbols and
/// the inlining its DWARF records.
struct Functions {
    symbols: Vec<Symbol>,
    dwarf: Option<addr2line::Loader>,
    names: HashMap<u64, String>,
}

impl Functions {
    fn new(image: &Path) -> Result<Functions, String> {
        // Without debug information every instruction counts for its symbol.
        let dwarf = addr2line::Loader::new(image).ok();
        Ok(Functions { symbols: symbols(image)?, dwarf, names: HashMap::new() })
    }

    /// The function the instruction at `pc` counts for ([`owner`]).
    fn at(&mut self, pc: u64) -> &str {
        let (symbols, dwarf) = (&self.symbols, &self.dwarf);
        self.names.entry(pc).or_insert_with(|| {
            let inlined = dwarf.as_ref().map(|d| inlined_at(d, pc)).unwrap_or_default();
            owner(&inlined, function(symbols, pc)).to_string()
        })
    }
}

/// The demangled names of the functions whose code is at `pc`, innermost
/// first (the symbol's own function last).
fn inlined_at(dwarf: &addr2line::Loader, pc: u64) -> Vec<String> {
    let mut names = Vec::new();
    let Ok(mut frames) = dwarf.find_frames(pc) else { return names };
    while let Ok(Some(frame)) = frames.next() {
        if let Some(Ok(raw)) = frame.function.as_ref().map(|f| f.raw_name()) {
            names.push(format!("{:#}", rustc_demangle::demangle(&raw)));
        }
    }
    names
}

/// What a QEMU log holds: each block's instructions (mnemonic, operands)
/// by start address, the last translation winning, and the blocks run, in
/// order.
#[derive(Default)]
struct Log {
    blocks: HashMap<u64, Vec<(String, String)>>,
    runs: Vec<u64>,
}

fn parse(text: &str) -> Log {
    let mut log = Log::default();
    let mut block: Option<(u64, Vec<(String, String)>)> = None;
    for line in text.lines() {
        if let Some(run) = line.strip_prefix("Trace ") {
            // `Trace 0: 0xHOST [FLAGS/PC/...] ...`
            let pc = run.split('[').nth(1).and_then(|f| f.split('/').nth(1));
            if let Some(pc) = pc.and_then(|pc| u64::from_str_radix(pc, 16).ok()) {
                log.runs.push(pc);
            }
        } else if let Some(insn) = line.strip_prefix("0x") {
            // `0xPC:  ENCODING  MNEMONIC OPERANDS`
            let mut words = insn.split_whitespace();
            let pc = words.next().and_then(|pc| u64::from_str_radix(pc.trim_end_matches(':'), 16).ok());
            let (Some(pc), Some(_encoding), Some(mnemonic)) = (pc, words.next(), words.next()) else {
                continue;
            };
            let operands = words.collect::<Vec<_>>().join(" ");
            block.get_or_insert_with(|| (pc, Vec::new())).1.push((mnemonic.to_string(), operands));
            continue;
        }
        if let Some((pc, insns)) = block.take() {
            log.blocks.insert(pc, insns);
        }
    }
    if let Some((pc, insns)) = block {
        log.blocks.insert(pc, insns);
    }
    log
}

/// The branches whose target TCG looks up at run time (it chains direct
/// ones): under TCG each costs far more than an instruction.
const INDIRECT: [&str; 3] = ["ret", "br", "blr"];

/// Whether TCG chains the block at `from` to the next block run, at `to`:
/// it does for a direct branch or fall-through to the page the block
/// starts on (QEMU's `translator_use_goto_tb`); otherwise, after an
/// indirect branch, a branch to another page or an exception, it looks the
/// next block up.
fn chained(log: &Log, from: u64, to: u64) -> bool {
    let last = log.blocks.get(&from).and_then(|b| b.last()).map(|(m, _)| m.as_str());
    let direct = last.is_some_and(|m| !INDIRECT.contains(&m) && !["eret", "svc", "msr"].contains(&m));
    let next = from + 4 * log.blocks.get(&from).map_or(0, |b| b.len() as u64);
    // A block that ends where an exception was taken does not fall through.
    let exception = !last
        .is_some_and(|m| m.starts_with('b') || m == "cbz" || m == "cbnz" || m.starts_with("tb"))
        && to != next;
    direct && !exception && from >> 12 == to >> 12
}

/// The instructions counted by kind, besides the total.
const KINDS: [(&str, &[&str]); 7] = [
    ("exclusive loads (locks, atomics)", &["ldxr", "ldaxr", "ldxrb", "ldaxrb", "ldxp", "ldaxp"]),
    (
        "atomic instructions (LSE)",
        &["cas", "casa", "casal", "casl", "swp", "swpa", "swpal", "ldadd", "ldaddal", "ldaddl"],
    ),
    ("indirect branches and returns", &INDIRECT),
    ("barriers (DSB, DMB, ISB)", &["dsb", "dmb", "isb"]),
    ("TLB invalidations", &["tlbi"]),
    ("DC ZVA", &["dc zva"]),
    // TCG ends the block after each, and returns to its main loop.
    ("system register writes (MSR)", &["msr"]),
];

/// How many of `insns` are of each of [`KINDS`].
fn kinds_of(insns: &[(String, String)]) -> [u64; KINDS.len()] {
    let mut kinds = [0; KINDS.len()];
    for (mnemonic, operands) in insns {
        let with_op = format!("{mnemonic} {}", operands.split(',').next().unwrap_or(""));
        for (i, (_, names)) in KINDS.iter().enumerate() {
            if names.iter().any(|n| *n == mnemonic || *n == with_op.trim_end()) {
                kinds[i] += 1;
            }
        }
    }
    kinds
}

/// The parts of a fault that issue 15's target compares: the vm-core part
/// against the page's zeroing or copy.
const PARTS: [&str; 5] = [
    "the page's zeroing or copy",
    "exception entry, dispatch and return",
    "translation tables",
    "the job's own code",
    "vm-core (with the collections and frame allocator it calls)",
];

/// Which of [`PARTS`] function `name` belongs to. The vectors have no
/// symbol of their own; a generic collection instantiated for vm-core is
/// vm-core's.
fn part_of(name: &str) -> usize {
    let platform = name.contains("platform_virt::");
    let frame_op = name.ends_with("FrameAllocator>::zero") || name.ends_with("FrameAllocator>::copy");
    if (platform && frame_op) || name.starts_with("platform_virt::frame_ops::") {
        0
    } else if name == "(no symbol)"
        || name == "exception_dispatch"
        || name.starts_with("platform_virt::vm::handle_abort")
        || name.starts_with("<platform_virt::esr::")
        || name.starts_with("<platform_virt::vm::AddressSpace>::current")
    {
        1
    } else if name.starts_with("<platform_virt::mmu::") {
        2
    } else if name.starts_with("qemu_tests::") || name.starts_with("bench::") {
        3
    } else {
        4
    }
}

/// Counts the runs of `log` from `from` to `to` (exclusive) per `ops`.
fn report(log: &Log, functions: &mut Functions, from: usize, to: usize, ops: u64) {
    // Each block is classified once, however often it ran.
    let kinds_by_block: HashMap<u64, [u64; KINDS.len()]> =
        log.blocks.iter().map(|(&pc, insns)| (pc, kinds_of(insns))).collect();
    let mut total = 0u64;
    let mut kinds = [0u64; KINDS.len()];
    let mut by_function: HashMap<String, u64> = HashMap::new();
    // Where blocks end in an indirect branch: TCG looks each one up.
    let mut indirect_by_function: HashMap<String, u64> = HashMap::new();
    // Where the exclusive loads are: each a lock taken or an atomic.
    let mut exclusive_by_function: HashMap<String, u64> = HashMap::new();
    for pc in &log.runs[from..to] {
        let Some(insns) = log.blocks.get(pc) else { continue };
        total += insns.len() as u64;
        // A block is one straight run of 4-byte instructions.
        for (i, (mnemonic, _)) in insns.iter().enumerate() {
            let name = functions.at(pc + 4 * i as u64);
            *by_function.entry(name.to_string()).or_default() += 1;
            if i + 1 == insns.len() && INDIRECT.contains(&mnemonic.as_str()) {
                *indirect_by_function.entry(name.to_string()).or_default() += 1;
            }
            if KINDS[0].1.contains(&mnemonic.as_str()) {
                *exclusive_by_function.entry(name.to_string()).or_default() += 1;
            }
        }
        for (sum, n) in kinds.iter_mut().zip(kinds_by_block[pc]) {
            *sum += n;
        }
    }
    let per = |n: u64| n as f64 / ops as f64;
    println!("per operation ({ops} in the timed part of the last repetition):");
    println!("  {:>9.1}  guest instructions", per(total));
    println!("  {:>9.1}  blocks run", per((to - from) as u64));
    for ((what, _), n) in KINDS.iter().zip(kinds) {
        println!("  {:>9.1}  {what}", per(n));
    }
    let unchained: Vec<(u64, u64)> =
        log.runs[from..to].windows(2).filter(|w| !chained(log, w[0], w[1])).map(|w| (w[0], w[1])).collect();
    println!(
        "  {:>9.1}  block changes TCG looks up (indirect, to another page, or an exception)",
        per(unchained.len() as u64)
    );
    let mut parts = [0u64; PARTS.len()];
    for (name, n) in &by_function {
        parts[part_of(name)] += n;
    }
    println!("instructions per operation, by part:");
    for (what, n) in PARTS.iter().zip(parts) {
        println!("  {:>9.1}  {what}", per(n));
    }
    print_by_function("instructions per operation, by function:", by_function, 40, per);
    print_by_function(
        "indirect branches and returns per operation, by function:",
        indirect_by_function,
        25,
        per,
    );
    print_by_function(
        "exclusive loads (locks, atomics) per operation, by function:",
        exclusive_by_function,
        25,
        per,
    );
    let mut lookups: HashMap<String, u64> = HashMap::new();
    for (from, to) in unchained {
        let last = from + 4 * log.blocks.get(&from).map_or(1, |b| b.len() as u64 - 1);
        let change = format!("{} → {}", short(functions.at(last)), short(functions.at(to)));
        *lookups.entry(change).or_default() += 1;
    }
    print_by_function(
        "block changes TCG looks up per operation, from function to function:",
        lookups,
        25,
        per,
    );
}

/// Prints the `top` largest of `counts`, by function.
fn print_by_function(title: &str, counts: HashMap<String, u64>, top: usize, per: impl Fn(u64) -> f64) {
    let mut functions: Vec<_> = counts.into_iter().collect();
    functions.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    println!("{title}");
    for (name, n) in functions.iter().take(top) {
        println!("  {:>9.1}  {}", per(*n), without_generic_arguments(name));
    }
}

/// The last two segments of function `name` without generic arguments
/// (`Vmar>::fault_in`): what a block change is listed under.
fn short(name: &str) -> String {
    let name = without_generic_arguments(name);
    let segments: Vec<&str> = name.split("::").collect();
    segments[segments.len().saturating_sub(2)..].join("::")
}

/// `name` with the generic arguments of its types elided (`Tables<…>`),
/// which otherwise hide the function's own name at the end; the `<`
/// opening a qualified path (`<T as Trait>::f`) is kept.
fn without_generic_arguments(name: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    let mut previous = ' ';
    for c in name.chars() {
        match c {
            '<' if depth > 0 => depth += 1,
            '<' if previous.is_alphanumeric() || previous == '_' => {
                depth = 1;
                out.push_str("<…>");
            }
            '>' if depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            _ => out.push(c),
        }
        previous = c;
    }
    out
}

/// `cargo xtask bench profile ARGS`.
pub fn run(root: &Path, args: &[String]) -> Result<i32, String> {
    let (mut job, mut cpu, mut pages) = (None, "max,pauth-impdef=on".to_string(), 64u64);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--cpu" => cpu = it.next().ok_or(USAGE)?.clone(),
            "--pages" => pages = it.next().and_then(|n| n.parse().ok()).filter(|&n| n > 0).ok_or(USAGE)?,
            name if job.is_none() && !name.starts_with('-') => job = Some(name.to_string()),
            _ => return Err(USAGE.into()),
        }
    }
    let job = job.ok_or(USAGE)?;
    crate::bench_qemu::check_job(&job)?;
    let image = crate::bench_qemu::build_image(root)?;
    let log_dir = root.join("target").join("bench");
    fs::create_dir_all(&log_dir).map_err(|e| format!("creating {}: {e}", log_dir.display()))?;
    let log_path = log_dir.join("profile.log");
    let mut boot = Boot::new(image.clone(), &cpu, 128);
    (boot.cpu, boot.smp, boot.bootargs) = (cpu.clone(), 1, format!("reps=3 pages={pages} only={job}"));
    let mut cmd = boot.command();
    cmd.args(["-d", "in_asm,exec,nochain", "-D"]).arg(&log_path);
    println!(
        "xtask: -cpu {cpu}, -smp 1: {job}, 3 repetitions of {pages} pages, QEMU's log to {}",
        log_path.display()
    );
    let run = qemu::run_command(cmd, Duration::from_secs(600), false)?;
    if !run.output.lines().any(|l| l.trim() == "bench-done") {
        return Err(format!("the bench image did not finish:\n{}", run.output));
    }
    let text = fs::read_to_string(&log_path).map_err(|e| format!("reading {}: {e}", log_path.display()))?;
    let log = parse(&text);
    let mut functions = Functions::new(&image)?;
    let reads_counter: HashSet<u64> = log
        .blocks
        .iter()
        .filter(|(_, b)| b.iter().any(|(m, o)| m == "mrs" && o.contains("cntvct_el0")))
        .map(|(&pc, _)| pc)
        .collect();
    let marks: Vec<usize> = (0..log.runs.len()).filter(|&i| reads_counter.contains(&log.runs[i])).collect();
    let [.., from, to] = marks[..] else {
        return Err(format!(
            "{job}: no timed part in the log (the jobs that need four cores do not run on the one profiled)"
        ));
    };
    let entry = functions.symbols.iter().find(|s| s.name == "exception_dispatch").map(|s| s.start);
    let exceptions = log.runs[from..to].iter().filter(|&&pc| Some(pc) == entry).count() as u64;
    report(&log, &mut functions, from, to, if exceptions > 0 { exceptions } else { pages });
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_fall_into_parts() {
        let zero = "<platform_virt::vm::PhysFrames as vm_core::platform::FrameAllocator>::zero";
        assert_eq!(PARTS[part_of(zero)], "the page's zeroing or copy");
        assert_eq!(part_of("platform_virt::frame_ops::zero"), 0, "a frame op not inlined");
        let forwarded = "<vm_core::vmo::notices::Notices as vm_core::platform::FrameAllocator>::zero";
        assert_eq!(part_of(forwarded), 4, "vm-core's forwarding call is vm-core's");
        assert_eq!(part_of("(no symbol)"), 1);
        assert_eq!(part_of("platform_virt::vm::handle_abort"), 1);
        let map = "<platform_virt::mmu::tables::TranslationTables<platform_virt::mmu::hw::FrameTables, \
                   platform_virt::mmu::maintenance::Hardware> as vm_core::platform::Translation>::map";
        assert_eq!(part_of(map), 2);
        assert_eq!(part_of("qemu_tests::access::store_each_page"), 3);
        assert_eq!(part_of("<vm_core::vmo::Vmo>::lookup_for"), 4);
        assert_eq!(part_of("memcpy"), 4);
    }

    #[test]
    fn generic_arguments_are_elided() {
        let name = "<platform_virt::mmu::tables::TranslationTables<platform_virt::mmu::hw::FrameTables, \
                    alloc::vec::Vec<u8>> as vm_core::platform::Translation>::map";
        assert_eq!(
            without_generic_arguments(name),
            "<platform_virt::mmu::tables::TranslationTables<…> as vm_core::platform::Translation>::map"
        );
        assert_eq!(
            without_generic_arguments("<vm_core::vmo::Vmo>::lookup_for"),
            "<vm_core::vmo::Vmo>::lookup_for"
        );
    }

    #[test]
    fn a_log_gives_blocks_and_runs() {
        let text = "IN: \n0x40200000:  aa0003f3  mov      x19, x0\n0x40200004:  d53be040  mrs      x0, cntvct_el0\n\n\
                    Trace 0: 0x7f00 [0000000000104004/0000000040200000/00000121/ff000200] \n\
                    Trace 0: 0x7f00 [0000000000104004/0000000040200000/00000121/ff000200] \n";
        let log = parse(text);
        assert_eq!(log.runs, [0x4020_0000, 0x4020_0000]);
        let block = &log.blocks[&0x4020_0000];
        assert_eq!(block.len(), 2);
        assert_eq!(block[1], ("mrs".to_string(), "x0, cntvct_el0".to_string()));
    }
}
