//! A mapping: a window of one VMO placed in an address space.
//!
//! A mapping translates VMO offsets to virtual addresses by one fixed shift.
//! `unmap` and `protect` can cut it into several *runs* (disjoint VA ranges
//! with their own permissions); the runs stay one object registered once with
//! the VMO, so a VMO invalidation can never miss a piece split off by a
//! concurrent unmap. Each run is one child entry of its VMAR.
//!
//! Every change to the runs, and every invalidation from the VMO, bumps a
//! generation number; the fault path installs a page only if the generation
//! it looked the page up under is still current (digest §2.12: a fault
//! racing an unmap or a remap retries against the new state).

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use crate::sync::Mutex;

use crate::fault::Access;
use crate::platform::{MmuFlags, Translation};
use crate::vmo::{FaultPage, Vmo, VmoMapping};
use crate::{Status, PAGE_SIZE};

/// One VA range of a mapping with its permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    pub len: u64,
    pub perms: MmuFlags,
}

struct State {
    /// Runs by start address.
    runs: BTreeMap<u64, Run>,
    generation: u64,
}

pub(crate) struct Mapping {
    vmo: Arc<Vmo>,
    mmu: Arc<dyn Translation>,
    /// `origin_va` translates to VMO offset `origin_offset`.
    origin_va: u64,
    origin_offset: u64,
    /// The most permissions `protect` may give any run (the mapping's
    /// `CAN_MAP_*`, digest §2.13).
    ceiling: MmuFlags,
    /// The memory type of every translation (cache bits of [`MmuFlags`]):
    /// the VMO's cache policy when the mapping registered, which cannot
    /// change while it is registered (§3.6). Set once, before the mapping
    /// is reachable.
    cache: AtomicU32,
    state: Mutex<State>,
}

impl Mapping {
    /// A mapping of `[va, va + len)` to `vmo` from `vmo_offset`, registered
    /// with the VMO.
    pub fn new(
        vmo: Arc<Vmo>,
        mmu: Arc<dyn Translation>,
        va: u64,
        vmo_offset: u64,
        run: Run,
        ceiling: MmuFlags,
    ) -> Arc<Mapping> {
        let mut runs = BTreeMap::new();
        runs.insert(va, run);
        let mapping = Arc::new(Mapping {
            vmo,
            mmu,
            origin_va: va,
            origin_offset: vmo_offset,
            ceiling,
            cache: AtomicU32::new(0),
            state: Mutex::new(State { runs, generation: 0 }),
        });
        // The policy comes from the lock hold that registers the mapping,
        // so no policy change slips in between.
        let cache = mapping.vmo.add_mapping(mapping.listener()).mmu_flags();
        mapping.cache.store(cache.bits(), Ordering::Relaxed);
        mapping
    }

    fn listener(self: &Arc<Self>) -> Weak<dyn VmoMapping> {
        let weak: Weak<dyn VmoMapping> = Arc::downgrade(self) as Weak<dyn VmoMapping>;
        weak
    }

    /// The cache bits every translation of the mapping carries.
    fn cache(&self) -> MmuFlags {
        MmuFlags::from_bits_retain(self.cache.load(Ordering::Relaxed))
    }

    pub fn vmo(&self) -> &Arc<Vmo> {
        &self.vmo
    }

    pub fn ceiling(&self) -> MmuFlags {
        self.ceiling
    }

    /// The VMO offset `va` translates to.
    pub fn offset_of(&self, va: u64) -> u64 {
        self.origin_offset + (va - self.origin_va)
    }

    /// The run that starts at `va`.
    pub fn run(&self, va: u64) -> Option<Run> {
        self.state.lock().runs.get(&va).copied()
    }

    /// The run that starts at `va` and the current generation, read under
    /// one hold of the lock (the fault path's view of the mapping).
    #[inline(always)]
    pub fn run_and_generation(&self, va: u64) -> Option<(Run, u64)> {
        let state = self.state.lock();
        state.runs.get(&va).map(|&run| (run, state.generation))
    }

    /// Starts a new generation for a fault that takes over the unmap notice
    /// of the page it forked ([`Vmo::lookup_for_mapping_fault`], under the
    /// family lock): faults that looked the page up before it look again,
    /// as after the notice. Returns it, for the fault's install.
    pub fn take_over(&self) -> u64 {
        let mut state = self.state.lock();
        state.generation += 1;
        state.generation
    }

    /// The current generation, if `va` lies in one of the runs.
    pub fn generation_at(&self, va: u64) -> Option<u64> {
        let state = self.state.lock();
        Self::run_containing(&state, va).map(|_| state.generation)
    }

    /// Removes `[va, va + len)` (inside the run starting at `run_va`) and its
    /// translations; the VMO learns which of them were written through
    /// ([`Vmo::taking_translations`]). Returns the start of the piece after
    /// the cut, if any; the piece before it keeps `run_va`.
    pub fn cut(&self, run_va: u64, va: u64, len: u64) -> Option<u64> {
        self.vmo.taking_translations(|written| {
            let mut state = self.state.lock();
            state.generation += 1;
            let run = state.runs.remove(&run_va)?;
            self.mmu.unmap(va, len, &mut |va| written(self.offset_of(va)));
            if va > run_va {
                let before = Run { len: va - run_va, ..run };
                state.runs.insert(run_va, before);
            }
            let (end, run_end) = (va + len, run_va + run.len);
            (end < run_end).then(|| {
                let after = Run { len: run_end - end, ..run };
                state.runs.insert(end, after);
                end
            })
        })
    }

    /// Gives `[va, va + len)` (inside the run starting at `run_va`)
    /// permissions `perms`, splitting the run. Present translations are
    /// downgraded (or removed when `perms` is empty); WRITE is never granted
    /// here, since only a write fault knows whether the page is private
    /// (digest §2.13: R→RW must not give hardware write access to shared
    /// copy-on-write pages or the zero page). Returns the starts of the
    /// resulting runs.
    pub fn protect(&self, run_va: u64, va: u64, len: u64, perms: MmuFlags) -> Vec<u64> {
        self.vmo.taking_translations(|written| {
            let mut state = self.state.lock();
            state.generation += 1;
            let Some(run) = state.runs.remove(&run_va) else {
                return Vec::new();
            };
            let mut note = |va| written(self.offset_of(va));
            if perms.is_empty() {
                self.mmu.unmap(va, len, &mut note);
            } else {
                self.mmu.protect(va, len, (perms - MmuFlags::WRITE) | self.cache(), &mut note);
            }
            let (end, run_end) = (va + len, run_va + run.len);
            let mut starts = Vec::new();
            for (start, stop, perms) in [(run_va, va, run.perms), (va, end, perms), (end, run_end, run.perms)]
            {
                if start < stop {
                    let len = stop - start;
                    state.runs.insert(start, Run { len, perms });
                    starts.push(start);
                }
            }
            starts
        })
    }

    /// Whether every run has been cut away.
    pub fn is_empty(&self) -> bool {
        self.state.lock().runs.is_empty()
    }

    /// Stops receiving the VMO's invalidations; called once the last run is
    /// gone.
    pub fn unregister(self: &Arc<Self>) {
        self.vmo.remove_mapping(&self.listener());
    }

    /// Installs `page` at `va` with the permissions of `va`'s run, minus
    /// WRITE unless the VMO handed the page out writable, as touched by the
    /// faulting `access` ([`Translation::map`] of `tables`, the mapping's
    /// own translation under some type). Returns `false`
    /// without installing anything when the mapping changed since
    /// `generation` was read: the caller looks the page up again. With
    /// `stale` (a fault that took over its notice,
    /// [`Vmo::lookup_for_mapping_fault`]), the translation of `va` must not
    /// outlive this: if this does not replace it, it removes it.
    pub fn install<T: Translation + ?Sized>(
        &self,
        tables: &T,
        va: u64,
        page: FaultPage,
        generation: u64,
        access: Option<Access>,
        stale: bool,
    ) -> Result<bool, Status> {
        let installed = self.install_current(tables, va, page, generation, access);
        if stale && !matches!(installed, Ok(true)) {
            self.remove_stale(va);
        }
        installed
    }

    /// [`Mapping::install`] at `generation`, leaving a stale translation it
    /// did not replace to the caller.
    #[inline(always)]
    fn install_current<T: Translation + ?Sized>(
        &self,
        tables: &T,
        va: u64,
        page: FaultPage,
        generation: u64,
        access: Option<Access>,
    ) -> Result<bool, Status> {
        let state = self.state.lock();
        if state.generation != generation {
            return Ok(false);
        }
        // The runs only change with the generation, so `va` is still mapped.
        let Some((_, run)) = Self::run_containing(&state, va) else {
            return Ok(false);
        };
        let mut flags = run.perms;
        if !page.writable {
            flags.remove(MmuFlags::WRITE);
        }
        // A run without permissions (MAP_RANGE of a PERM-less mapping)
        // needs no translation, and has none to replace.
        if !flags.is_empty() {
            tables.map(va, page.frame, flags | self.cache(), access)?;
        }
        Ok(true)
    }

    /// Removes the translation of `va`, if `va` is still in one of the runs
    /// (no other mapping's translation can be there then).
    fn remove_stale(&self, va: u64) {
        self.vmo.taking_translations(|written| {
            let state = self.state.lock();
            if Self::run_containing(&state, va).is_some() {
                self.mmu.unmap(va, PAGE_SIZE, &mut |va| written(self.offset_of(va)));
            }
        })
    }

    /// MAP_RANGE (digest §2.12, §2.14): installs translations for the pages
    /// of `[va, va + len)` the VMO has content for, without committing,
    /// forking or requesting anything; pages still shared copy-on-write are
    /// mapped read-only. Pages already translated and pages past the VMO's
    /// end are skipped.
    pub fn populate(&self, va: u64, len: u64) -> Result<(), Status> {
        let Some(generation) = self.generation_at(va) else { return Ok(()) };
        let first = self.offset_of(va);
        for (offset, page) in self.vmo.committed_pages(first, len) {
            let page_va = va + (offset - first);
            // A change since `generation` stops the prefill; faults fill in
            // what it did not.
            if self.mmu.query(page_va).is_none()
                && !self.install(&*self.mmu, page_va, page, generation, None, false)?
            {
                break;
            }
        }
        Ok(())
    }

    #[inline(always)]
    fn run_containing(state: &State, va: u64) -> Option<(u64, Run)> {
        let (&start, &run) = state.runs.range(..=va).next_back()?;
        (va - start < run.len).then_some((start, run))
    }

    /// Calls `f(va, len, run)` for the part of each run that shows VMO bytes
    /// `[offset, offset + len)`, rounded out to pages.
    fn for_each_in_vmo_range(&self, offset: u64, len: u64, mut f: impl FnMut(u64, u64, Run)) {
        let first = offset & !(PAGE_SIZE - 1);
        let last = offset.saturating_add(len).saturating_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
        let mut state = self.state.lock();
        state.generation += 1;
        for (&start, &run) in state.runs.iter() {
            let run_first = self.offset_of(start);
            let lo = first.max(run_first);
            let hi = last.min(run_first + run.len);
            if lo < hi {
                f(start + (lo - run_first), hi - lo, run);
            }
        }
    }
}

impl VmoMapping for Mapping {
    fn unmap_vmo_range(&self, offset: u64, len: u64, written: &mut dyn FnMut(u64)) {
        let mut note = |va| written(self.offset_of(va));
        self.for_each_in_vmo_range(offset, len, |va, len, _| self.mmu.unmap(va, len, &mut note));
    }

    fn remove_write_vmo_range(&self, offset: u64, len: u64, written: &mut dyn FnMut(u64)) {
        let mut note = |va| written(self.offset_of(va));
        self.for_each_in_vmo_range(offset, len, |va, len, run| {
            if run.perms.contains(MmuFlags::WRITE) {
                self.mmu.protect(va, len, (run.perms - MmuFlags::WRITE) | self.cache(), &mut note);
            }
        });
    }

    fn harvest_written(&self, offset: u64, len: u64, written: &mut dyn FnMut(u64)) {
        let mut note = |va| written(self.offset_of(va));
        self.for_each_in_vmo_range(offset, len, |va, len, _| self.mmu.harvest_dirty(va, len, &mut note));
    }

    fn address_space(&self) -> usize {
        Arc::as_ptr(&self.mmu) as *const u8 as usize
    }
}
