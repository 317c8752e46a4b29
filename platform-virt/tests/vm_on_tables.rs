//! vm-core's VMARs and fault path over the platform's own translation
//! tables, with a software model of the MMU walking them: the host fault
//! scenarios of vm-core, on the tables the hardware will walk, with and
//! without hardware access-flag and dirty-state management.

use platform_virt::mmu::maintenance::{Op, Recorder};
use platform_virt::mmu::rules;
use platform_virt::mmu::table_memory::HostTables;
use platform_virt::mmu::tables::{HwFault, HwManaged, TranslationTables};
use std::sync::Arc;
use vm_core::fault::Access;
use vm_core::mock::Machine;
use vm_core::platform::{FrameAllocator, Translation};
use vm_core::vmar::{VmFlags, Vmar, VmarOp};
use vm_core::vmo::{ChildKind, Vmo, VmoOptions};
use vm_core::{Status, PAGE_SIZE as P};

type Space = TranslationTables<Arc<HostTables>, Arc<Recorder>>;

const RW: VmFlags = VmFlags::PERM_READ.union(VmFlags::PERM_WRITE);
const R: VmFlags = VmFlags::PERM_READ;
const MODES: [HwManaged; 2] =
    [HwManaged { access_flag: false, dirty: false }, HwManaged { access_flag: true, dirty: true }];

/// One address space on the real table code, made current on one CPU (the
/// recorder's, CPU 0) and on no other. Field order is drop order: the
/// machine, which checks that every frame came back, goes last.
struct Cpu {
    root: Arc<Vmar>,
    space: Arc<Space>,
    recorder: Arc<Recorder>,
    tables: Arc<HostTables>,
    hw: HwManaged,
    machine: Machine,
}

impl Cpu {
    fn new(hw: HwManaged) -> Cpu {
        let machine = Machine::new(256);
        let tables = Arc::new(HostTables::new(64));
        let recorder = Arc::new(Recorder::default());
        let space = Arc::new(TranslationTables::new(tables.clone(), recorder.clone(), 1, None).unwrap());
        space.enter_here();
        let root = Vmar::new_root(&machine.ctx, space.clone());
        Cpu { root, space, recorder, tables, hw, machine }
    }

    fn vmo(&self, pages: u64) -> Arc<Vmo> {
        Vmo::create(&self.machine.ctx, pages * P, VmoOptions::empty()).unwrap()
    }

    fn map(&self, vmo: &Arc<Vmo>, flags: VmFlags) -> u64 {
        self.root.map(flags.into(), 0, vmo, 0, vmo.size()).unwrap()
    }

    /// What the CPU does for one access: walk; on an access-flag or dirty
    /// fault let the platform's software half resolve it; on any other fault
    /// run vm-core's fault path; retry.
    fn access(&self, va: u64, access: Access) -> Result<u64, Status> {
        for _ in 0..4 {
            match self.space.translate(va, access, self.hw) {
                Ok(pa) => return Ok(pa),
                Err(HwFault::AccessFlag | HwFault::Permission)
                    if self.space.resolve_access_fault(va, access) => {}
                Err(_) => self.root.fault(va, access)?,
            }
        }
        panic!("the access at {va:#x} kept faulting");
    }

    fn store(&self, va: u64, value: u64) -> Result<(), Status> {
        let pa = self.access(va, Access::Write)?;
        self.machine.frames.write(pa & !(P - 1), (pa % P) as usize, &value.to_le_bytes());
        Ok(())
    }

    fn load(&self, va: u64) -> Result<u64, Status> {
        let pa = self.access(va, Access::Read)?;
        let mut b = [0; 8];
        self.machine.frames.read(pa & !(P - 1), (pa % P) as usize, &mut b);
        Ok(u64::from_le_bytes(b))
    }
}

impl Drop for Cpu {
    /// Destroys the address space, then checks everything the tables did
    /// against the break-before-make and TLB maintenance rules.
    fn drop(&mut self) {
        let _ = self.root.destroy();
        if !std::thread::panicking() {
            self.take_checked();
        }
    }
}

impl Cpu {
    /// The maintenance recorded since the last take, checked against the
    /// break-before-make and TLB maintenance rules.
    fn take_checked(&self) -> Vec<Op> {
        let log = self.recorder.take();
        if let Err(violation) = rules::check(&log) {
            panic!("a rule was broken: {violation}; the sequence: {log:x?}");
        }
        log
    }
}

fn read_u64(vmo: &Vmo, offset: u64) -> u64 {
    let mut b = [0; 8];
    vmo.read(offset, &mut b).unwrap();
    u64::from_le_bytes(b)
}

#[test]
fn demand_commit_zero_page_then_private_page() {
    for hw in MODES {
        let cpu = Cpu::new(hw);
        let vmo = cpu.vmo(4);
        let va = cpu.map(&vmo, RW);
        assert_eq!(cpu.load(va + P).unwrap(), 0);
        assert_eq!(
            cpu.space.query(va + P).unwrap().0,
            cpu.machine.ctx.zero_frame(),
            "a read maps the shared zero page"
        );
        assert!(!cpu.space.query(va + P).unwrap().1.write);
        assert_eq!(vmo.committed_bytes(), 0);
        cpu.store(va + P + 8, 0xfeed).unwrap();
        assert_ne!(cpu.space.query(va + P).unwrap().0, cpu.machine.ctx.zero_frame());
        assert_eq!(read_u64(&vmo, P + 8), 0xfeed);
        assert_eq!(vmo.committed_bytes(), P);
        assert!(cpu.space.harvest_dirty(va + P), "the write left the page dirty");
    }
}

#[test]
fn copy_on_write_isolation_both_ways_at_depth_three() {
    for hw in MODES {
        let cpu = Cpu::new(hw);
        let parent = cpu.vmo(2);
        let pva = cpu.map(&parent, RW);
        cpu.store(pva, 1).unwrap();
        cpu.store(pva + P, 2).unwrap();
        let mut chain = vec![(parent.clone(), pva)];
        for depth in 1..=3u64 {
            let child = chain.last().unwrap().0.create_child(ChildKind::Snapshot, 0, 2 * P, false).unwrap();
            let va = cpu.map(&child, RW);
            assert_eq!(cpu.load(va).unwrap(), 1, "depth {depth} sees the snapshot");
            chain.push((child, va));
        }
        // Each writes its own page 0; nobody sees anyone else's write.
        for (i, (_, va)) in chain.iter().enumerate() {
            cpu.store(*va, 100 + i as u64).unwrap();
        }
        for (i, (vmo, va)) in chain.iter().enumerate() {
            assert_eq!(cpu.load(*va).unwrap(), 100 + i as u64);
            assert_eq!(read_u64(vmo, 0), 100 + i as u64);
            assert_eq!(cpu.load(*va + P).unwrap(), 2, "page 1 still shared");
        }
        // The grandchild's page 1 write reaches neither ancestors nor its own child.
        cpu.store(chain[2].1 + P, 7).unwrap();
        assert_eq!(cpu.load(chain[1].1 + P).unwrap(), 2);
        assert_eq!(cpu.load(chain[3].1 + P).unwrap(), 2);
        assert_eq!(cpu.load(pva + P).unwrap(), 2);
        assert_eq!(cpu.load(chain[2].1 + P).unwrap(), 7);
    }
}

#[test]
fn protect_downgrade_refuses_writes_and_keeps_contents() {
    for hw in MODES {
        let cpu = Cpu::new(hw);
        let vmo = cpu.vmo(1);
        let va = cpu.map(&vmo, RW);
        cpu.store(va, 5).unwrap();
        cpu.root.protect(R.into(), va, P, true).unwrap();
        assert!(!cpu.space.query(va).is_some_and(|(_, p)| p.write));
        assert_eq!(cpu.store(va, 6), Err(Status::AccessDenied));
        assert_eq!(cpu.load(va).unwrap(), 5);
        cpu.root.protect(RW.into(), va, P, true).unwrap();
        cpu.store(va, 6).unwrap();
        assert_eq!(read_u64(&vmo, 0), 6);
    }
}

#[test]
fn decommit_through_the_vmar_unmaps_and_frees() {
    for hw in MODES {
        let cpu = Cpu::new(hw);
        let vmo = cpu.vmo(2);
        let va = cpu.map(&vmo, RW);
        cpu.store(va, 9).unwrap();
        cpu.store(va + P, 10).unwrap();
        let used = cpu.machine.used_frames();
        cpu.take_checked();
        cpu.root.op_range(VmarOp::Decommit, va, P).unwrap();
        assert_eq!(cpu.space.query(va), None);
        assert_eq!(cpu.machine.used_frames(), used - 1);
        let log = cpu.take_checked();
        let operand = (1u64 << 48) | (va >> 12);
        // On this CPU's TLBs alone: no other CPU made the tables current.
        assert!(log.contains(&Op::TlbiVale1(operand)), "decommit invalidated the page: {log:?}");
        assert_eq!(cpu.load(va).unwrap(), 0);
        assert_eq!(cpu.load(va + P).unwrap(), 10);
    }
}

#[test]
fn dont_need_keeps_contents() {
    for hw in MODES {
        let cpu = Cpu::new(hw);
        let vmo = cpu.vmo(2);
        let va = cpu.map(&vmo, RW);
        cpu.store(va, 3).unwrap();
        cpu.root.op_range(VmarOp::DontNeed, va, 2 * P).unwrap();
        assert_eq!(cpu.load(va).unwrap(), 3);
        assert_eq!(read_u64(&vmo, 0), 3);
    }
}

#[test]
fn tables_and_frames_come_back() {
    let tables;
    {
        let cpu = Cpu::new(MODES[0]);
        tables = cpu.tables.clone();
        let vmo = cpu.vmo(8);
        let va = cpu.map(&vmo, RW);
        for i in 0..8 {
            cpu.store(va + i * P, i).unwrap();
        }
        assert!(tables.free_count() < 64);
        drop(vmo);
    }
    // The machine checked its frames on drop; the tables are back too.
    assert_eq!(tables.free_count(), 64);
}

/// Faults on four threads take the tables their pages need at once
/// (`Translation::prepare`, before the fault changes the VMO): each table
/// is linked in once, so every table frame comes back with the address
/// space. (Unserialised, two threads linked a table into one slot and one
/// of them was lost.)
#[test]
fn tables_taken_by_racing_faults_all_come_back() {
    for _ in 0..20 {
        let tables = Arc::new(HostTables::new(64));
        let free = tables.free_count();
        let space: Arc<Space> =
            Arc::new(TranslationTables::new(tables.clone(), Arc::new(Recorder::default()), 1, None).unwrap());
        let base = space.va_range().0;
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let space = space.clone();
                std::thread::spawn(move || {
                    for region in 0..8u64 {
                        space.prepare(base + region * (1 << 30)).unwrap();
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(
            free - tables.free_count(),
            1 + 1 + 8 + 8,
            "a root, one level-1 table, 8 level-2 and 8 level-3 ones"
        );
        drop(space);
        assert_eq!(tables.free_count(), free, "every table came back");
    }
}
