//! A seeded stress run of the VM through zx on four cores at once: cores 0,
//! 2 and 3 each do [`OPS`] random operations on objects they own — stores
//! and loads through mappings, `vmo_write`/`vmo_read`, unmapping and
//! re-mapping ranges, DECOMMIT and ZERO, a new snapshot child — on an
//! anonymous VMO, a parent and its snapshot child (copy-on-write breaks on
//! both sides), and their own pages of a pager VMO without TRAP_DIRTY
//! (with writeback passes of those pages to a "disk" and evictions of every
//! Clean page), while the pager on core 1 answers READs from that disk.
//! Each core owns what it writes, so a model per core says what every
//! owned page holds: every load and read is checked against it as the run
//! goes, and at the end every object is read back through `vmo_read` and
//! its mapping, the disk after a last writeback equals the pager VMO, and
//! (in `with_pager`) every frame is back and every CPU's real table writes,
//! barriers and TLBIs obeyed the break-before-make and TLB maintenance
//! rules. The seed is the boot argument `seed=N`, else [`DEFAULT_SEED`];
//! it is printed, and a failure names the core and the operation.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write as _;
use platform_virt::smp::cpu_index;
use platform_virt::wait::EventWaiter;
use platform_virt::{println, Boot};
use qemu_tests::access::{load, store};
use qemu_tests::user_pager::*;
use spin::Mutex;
use vm_core::platform::Waiter;
use zx::ops::{ZX_VMO_OP_DECOMMIT, ZX_VMO_OP_ZERO};
use zx::options::{ZX_VMO_CHILD_SNAPSHOT, ZX_VM_SPECIFIC};
use zx::port::ZX_PAGER_VMO_READ;
use zx::{Handle, Status, Zx};

platform_virt::test_image!(four_cores_fault_cow_unmap_write_back_and_evict_at_once);

/// Operations each of cores 0, 2 and 3 does.
const OPS: u64 = 3000;
const DEFAULT_SEED: u64 = 1;
/// Pages of each object a core owns.
const PAGES: u64 = 8;
const LEN: usize = (PAGES * P) as usize;
/// The pager VMO's key; core `i` of [`FAULTERS`] owns its pages
/// `[i * PAGES, (i + 1) * PAGES)`.
const KEY: u64 = 9;
const PAGER_PAGES: u64 = FAULTERS.len() as u64 * PAGES;

/// SplitMix64: small, and the same sequence for a seed on any host.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform enough in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A random byte range of at most `max` bytes inside `[0, LEN)`.
    fn range(&mut self, max: u64) -> (usize, usize) {
        let start = self.below(LEN as u64);
        let len = 1 + self.below(max.min(LEN as u64 - start));
        (start as usize, len as usize)
    }

    /// A random page range inside `[0, PAGES)`, in pages.
    fn pages(&mut self) -> (u64, u64) {
        let first = self.below(PAGES);
        (first, 1 + self.below(PAGES - first))
    }
}

/// The objects a core owns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// An anonymous VMO with no children: DECOMMIT works on it.
    Plain,
    /// An anonymous VMO with a snapshot child.
    Parent,
    /// That child, made again from time to time.
    Child,
    /// The core's pages of the pager VMO.
    Paged,
}

/// One owned object: a VMO, the owned pages' place in it and in the root
/// VMAR, and what they must hold.
struct Object {
    kind: Kind,
    vmo: Handle,
    /// The first owned page of `vmo`.
    first: u64,
    /// Where the owned pages are mapped (read-write, whole).
    va: u64,
    model: Vec<u8>,
}

/// The operations, for the counts each core prints.
#[derive(Clone, Copy, Debug)]
enum Op {
    Store,
    Load,
    Write,
    Read,
    Remap,
    Snapshot,
    Decommit,
    Zero,
    WriteBack,
    Evict,
}

/// How often each operation is picked, out of their sum.
const MIX: [(Op, u64); 10] = [
    (Op::Store, 30),
    (Op::Load, 20),
    (Op::Write, 10),
    (Op::Read, 8),
    (Op::Remap, 6),
    (Op::Snapshot, 2),
    (Op::Decommit, 3),
    (Op::Zero, 4),
    (Op::WriteBack, 6),
    (Op::Evict, 3),
];

/// Operations a failure report lists, the last ones before it.
const HISTORY: usize = 24;

/// One faulting core: its objects, its random sequence, and what it did.
struct Core {
    up: UserPager,
    disk: Arc<Mutex<Vec<u8>>>,
    objects: [Object; 4],
    rng: Rng,
    done: [u64; MIX.len()],
    /// The last [`HISTORY`] operations: number, operation, object.
    history: [Option<(u64, Op, Kind)>; HISTORY],
}

impl Core {
    /// Core `i` of [`FAULTERS`]'s objects, made and mapped on this core
    /// before the run (during it, mappings are only made where the core
    /// has just unmapped its own).
    fn new(up: &UserPager, disk: &Arc<Mutex<Vec<u8>>>, paged: Handle, i: usize, seed: u64) -> Core {
        let zx = up.zx();
        let anon = || zx.vmo_create(PAGES * P, 0).unwrap();
        let (plain, parent) = (anon(), anon());
        let child = snapshot(zx, parent);
        let first = i as u64 * PAGES;
        let object = |kind, vmo, first, model| {
            let va = zx.vmar_map(zx.root_vmar(), RW, 0, vmo, first * P, PAGES * P).unwrap();
            Object { kind, vmo, first, va, model }
        };
        Core {
            up: up.clone(),
            disk: disk.clone(),
            objects: [
                object(Kind::Plain, plain, 0, vec![0; LEN]),
                object(Kind::Parent, parent, 0, vec![0; LEN]),
                object(Kind::Child, child, 0, vec![0; LEN]),
                object(Kind::Paged, paged, first, tagged(KEY, first..first + PAGES)),
            ],
            rng: Rng(seed ^ (FAULTERS[i] as u64).wrapping_mul(0xa076_1d64_78bd_642f)),
            done: [0; MIX.len()],
            history: [None; HISTORY],
        }
    }

    /// Does [`OPS`] operations, each checked against the model.
    fn run(&mut self) {
        let total: u64 = MIX.iter().map(|(_, w)| w).sum();
        for n in 0..OPS {
            let i = op_at(self.rng.below(total));
            let target = self.rng.below(4) as usize;
            self.history[n as usize % HISTORY] = Some((n, MIX[i].0, self.objects[target].kind));
            self.step(MIX[i].0, target, n);
            self.done[i] += 1;
        }
    }

    fn step(&mut self, op: Op, target: usize, n: u64) {
        let cpu = cpu_index();
        let zx = self.up.zx();
        let rng = &mut self.rng;
        let o = &mut self.objects[target];
        let at = |offset: usize| o.first * P + offset as u64;
        match op {
            Op::Store => {
                let offset = rng.below(LEN as u64 / 8) as usize * 8;
                let value = rng.next();
                store(o.va + offset as u64, value);
                o.model[offset..offset + 8].copy_from_slice(&value.to_ne_bytes());
            }
            Op::Load => {
                let offset = rng.below(LEN as u64 / 8) as usize * 8;
                let expected = word(&o.model, offset);
                assert_eq!(
                    load(o.va + offset as u64),
                    expected,
                    "core {cpu}, op {n}: load {:?}+{offset:#x}",
                    o.kind
                );
            }
            Op::Write => {
                let (offset, len) = rng.range(64);
                let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                zx.vmo_write(o.vmo, &bytes, at(offset)).unwrap();
                o.model[offset..offset + len].copy_from_slice(&bytes);
            }
            Op::Read => {
                let (offset, len) = rng.range(2 * P);
                let mut bytes = vec![0; len];
                zx.vmo_read(o.vmo, &mut bytes, at(offset)).unwrap();
                if let Some(i) = first_difference(&bytes, &o.model[offset..]) {
                    // What a rare failure needs to be understood: the bytes
                    // around it, the disk's, the page's dirty state, and
                    // what this core did last.
                    let at = offset + i;
                    let around = |b: &[u8], base: usize| -> Vec<u8> {
                        b[at.saturating_sub(base)..(at + 8).saturating_sub(base).min(b.len())].to_vec()
                    };
                    let disk = match o.kind {
                        Kind::Paged => around(&self.disk.lock()[(o.first * P) as usize..], 0),
                        _ => Vec::new(),
                    };
                    let page = o.first + at as u64 / P;
                    let dirty = match o.kind {
                        Kind::Paged => alloc::format!("{:?}", self.up.dirty_ranges_in(o.vmo, page, 1)),
                        _ => "-".into(),
                    };
                    let mut last: Vec<_> = self.history.iter().flatten().collect();
                    last.sort_by_key(|h| h.0);
                    panic!(
                        "core {cpu}, op {n}: vmo_read {:?}+{offset:#x}: byte {at:#x} (page {page}) reads {:x?}, \
                         the model says {:x?}, the disk {disk:x?}; the page's dirty ranges {dirty}; \
                         this core's last operations {last:?}",
                        o.kind,
                        around(&bytes, offset),
                        around(&o.model, 0),
                    );
                }
            }
            Op::Remap => {
                let (first, pages) = rng.pages();
                let va = o.va + first * P;
                zx.vmar_unmap(zx.root_vmar(), va, pages * P).unwrap();
                let mapped = map_at(zx, va, o.vmo, (o.first + first) * P, pages * P);
                assert_eq!(mapped, Ok(va), "core {cpu}, op {n}: the range is mapped again where it was");
            }
            Op::Snapshot => {
                // The child goes and a new one of the parent comes, mapped
                // where the old one was.
                let (parent, parent_model) = (self.objects[1].vmo, self.objects[1].model.clone());
                let child = &mut self.objects[2];
                zx.vmar_unmap(zx.root_vmar(), child.va, PAGES * P).unwrap();
                zx.handle_close(child.vmo).unwrap();
                child.vmo = snapshot(zx, parent);
                let mapped = map_at(zx, child.va, child.vmo, 0, PAGES * P);
                assert_eq!(
                    mapped,
                    Ok(child.va),
                    "core {cpu}, op {n}: the new child is mapped where the old was"
                );
                child.model = parent_model;
            }
            Op::Decommit => {
                let plain = &mut self.objects[0];
                let (first, pages) = rng.pages();
                zx.vmo_op_range(plain.vmo, ZX_VMO_OP_DECOMMIT, first * P, pages * P, &mut []).unwrap();
                plain.model[(first * P) as usize..((first + pages) * P) as usize].fill(0);
            }
            Op::Zero => {
                let (offset, len) = rng.range(2 * P);
                zx.vmo_op_range(o.vmo, ZX_VMO_OP_ZERO, at(offset), len as u64, &mut []).unwrap();
                o.model[offset..offset + len].fill(0);
            }
            Op::WriteBack => {
                let paged = &self.objects[3];
                self.up.write_back(paged.vmo, paged.first, PAGES, &self.disk);
                let dirty = self.up.dirty_ranges_in(paged.vmo, paged.first, PAGES);
                assert_eq!(
                    dirty,
                    [],
                    "core {cpu}, op {n}: nothing this core owns is dirty after its writeback"
                );
            }
            Op::Evict => {
                zx.context().reclaim();
            }
        }
    }
}

/// The index in [`MIX`] of the operation `pick`, below the weights' sum,
/// falls on.
fn op_at(mut pick: u64) -> usize {
    for (i, &(_, weight)) in MIX.iter().enumerate() {
        if pick < weight {
            return i;
        }
        pick -= weight;
    }
    unreachable!("the pick is below the weights' sum")
}

/// A snapshot child of all of `parent`.
fn snapshot(zx: &Zx, parent: Handle) -> Handle {
    zx.vmo_create_child(parent, ZX_VMO_CHILD_SNAPSHOT, 0, PAGES * P).unwrap()
}

/// Maps `len` bytes of `vmo` from `vmo_offset` read-write at exactly `va`:
/// where this core has just unmapped its own.
fn map_at(zx: &Zx, va: u64, vmo: Handle, vmo_offset: u64, len: u64) -> Result<u64, Status> {
    let vmar_offset = va - zx.root_vmar_object().base();
    zx.vmar_map(zx.root_vmar(), RW | ZX_VM_SPECIFIC, vmar_offset, vmo, vmo_offset, len)
}

/// Where `a` and `b` first differ, over the shorter's length.
fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    a.iter().zip(b).position(|(x, y)| x != y)
}

/// The word at `offset` of `bytes`.
fn word(bytes: &[u8], offset: usize) -> u64 {
    u64::from_ne_bytes(bytes[offset..offset + 8].try_into().unwrap())
}

/// Whether `object` holds its model through `vmo_read` and through every
/// word of its mapping.
fn check_object(up: &UserPager, cpu: usize, o: &Object) {
    let bytes = up.read(o.vmo, o.first, PAGES);
    assert_eq!(first_difference(&bytes, &o.model), None, "core {cpu}'s {:?} through vmo_read", o.kind);
    for offset in (0..LEN).step_by(8) {
        assert_eq!(
            load(o.va + offset as u64),
            word(&o.model, offset),
            "core {cpu}'s {:?}+{offset:#x} through its mapping",
            o.kind
        );
    }
}

fn four_cores_fault_cow_unmap_write_back_and_evict_at_once(boot: &Boot) {
    let (seed, from) = match boot.info.bootarg("seed") {
        Some(arg) => (arg.parse().expect("seed=N takes a decimal number"), "the boot arguments"),
        None => (DEFAULT_SEED, "the default; boot with seed=N for another"),
    };
    println!();
    println!("stress: seed {seed} ({from}); cores {FAULTERS:?} do {OPS} operations each");
    with_pager(boot, |up| {
        let disk = Arc::new(Mutex::new(tagged(KEY, 0..PAGER_PAGES)));
        let paged = up.vmo(PAGER_PAGES, KEY);
        let pager = up.serve_from(&[(KEY, paged)], Content::Disk(disk.clone()));
        let mut cores: Vec<Core> =
            (0..FAULTERS.len()).map(|i| Core::new(up, &disk, paged, i, seed)).collect();
        // Cores 2 and 3 start, then this core (0) runs its share.
        let mine = cores.remove(0);
        let others: Vec<_> = cores
            .into_iter()
            .zip(&FAULTERS[1..])
            .map(|(mut core, &cpu)| {
                spawn(cpu, move || {
                    core.run();
                    core
                })
            })
            .collect();
        let mut cores = vec![mine];
        cores[0].run();
        // Unhurried: the others may end well after this core, beyond
        // `join`'s patience (the xtask's hang limit still applies).
        EventWaiter.wait_until(&|| others.iter().all(Pending::is_done));
        cores.extend(others.into_iter().map(Pending::join));
        for (core, cpu) in cores.iter().zip(FAULTERS) {
            let mut line = alloc::format!("stress: core {cpu}:");
            for ((op, _), n) in MIX.iter().zip(core.done) {
                write!(line, " {op:?} {n}").unwrap();
            }
            println!("{line}");
            core.objects.iter().for_each(|o| check_object(up, cpu, o));
        }
        // The last writeback: the disk then equals the pager VMO, which
        // holds every core's model; evicted, it reads back from the disk.
        up.write_back(paged, 0, PAGER_PAGES, &disk);
        assert_eq!(up.dirty_ranges(paged, PAGER_PAGES), [], "nothing is dirty after the last writeback");
        let expected: Vec<u8> = cores.iter().flat_map(|c| c.objects[3].model.iter().copied()).collect();
        let vmo_bytes = up.read(paged, 0, PAGER_PAGES);
        assert!(vmo_bytes == expected, "the pager VMO holds every core's model");
        assert!(*disk.lock() == vmo_bytes, "the disk equals the pager VMO");
        let evicted = up.zx().context().reclaim();
        assert!(up.read(paged, 0, PAGER_PAGES) == expected, "read back from the disk");
        let requests = up.stop(pager);
        assert!(requests.iter().all(|r| r.1 == ZX_PAGER_VMO_READ), "READs only: {requests:?}");
        println!(
            "stress: every object holds its model; the disk equals the pager VMO; {} READs answered, {evicted} pages evicted at the end",
            requests.len()
        );
    });
    let checked = platform_virt::mmu::checking::count();
    println!("stress: every frame is back; {checked} real table writes and maintenance instructions went through the rule checker");
}
