//! Virtual memory objects: anonymous VMOs and their children (digest §2.8-2.11).
//!
//! A [`Vmo`] is a *view* onto one leaf of a copy-on-write tree ([`crate::cow`])
//! shared by its whole family (the root, its snapshots, slices and
//! references), behind one `spin::Mutex`. A root or snapshot child views its
//! own leaf; a REFERENCE views the same leaf as its parent; a SLICE views a
//! fixed window of its parent's leaf, so every operation on it acts on the
//! parent. Argument checks follow the digest's precedence: INVALID_ARGS, then
//! OUT_OF_RANGE, then state (NOT_SUPPORTED, UNAVAILABLE, BAD_STATE). A failed
//! call changes nothing: frames an operation may need are taken up front.
//!
//! Mappings register a [`VmoMapping`]; when a page a mapping may translate
//! changes, the VMO calls it after dropping its lock.

mod cache_op;
mod discard;
mod family;
mod notices;

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::context::VmContext;
use crate::cow::{Content, CowTree, NodeId, Reserve};
use crate::platform::PhysAddr;
use crate::slab::Slab;
use crate::{Status, PAGE_SIZE};
use discard::Discard;
use family::{Family, View, Window};
use notices::{NoticeKind, Notices, Runs};

/// The largest VMO size: `round_down(u64::MAX, P)`.
pub const MAX_SIZE: u64 = u64::MAX - (PAGE_SIZE - 1);

bitflags::bitflags! {
    /// `zx_vmo_create` options handled by vm-core (digest §1.3 values).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct VmoOptions: u32 {
        const RESIZABLE = 1 << 1;
        const DISCARDABLE = 1 << 2;
    }
}

/// The type of a child (digest §2.10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildKind {
    /// Behaves as an eager copy; parent and child diverge lazily both ways.
    Snapshot,
    /// Copy-on-write only; on anonymous VMOs built as [`ChildKind::Snapshot`].
    SnapshotAtLeastOnWrite,
    /// Snapshot of modified pages; on anonymous VMOs built as a snapshot.
    SnapshotModified,
    /// A window onto the parent; every operation acts on the parent.
    Slice,
    /// Another reference to the whole parent.
    Reference,
}

/// `zx_vmo_lock_state_t`: the result of `ZX_VMO_OP_LOCK`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LockState {
    pub offset: u64,
    pub size: u64,
    /// The range that was discarded since the last unlock (reads zero now).
    pub discarded_offset: u64,
    pub discarded_size: u64,
}

/// What a fault at one page resolves to (see [`Vmo::lookup_for_fault`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultPage {
    pub frame: PhysAddr,
    /// Whether the frame may be mapped writable: it is private to the VMO.
    pub writable: bool,
}

/// A mapping of a VMO, told when translations it may hold become stale.
/// Offsets are in the mapped VMO's own offset space; calls are made without
/// any VMO lock held.
pub trait VmoMapping: Send + Sync {
    /// The pages of `[offset, offset + len)` changed: drop their translations.
    fn unmap_vmo_range(&self, offset: u64, len: u64);
    /// The pages of `[offset, offset + len)` became shared copy-on-write:
    /// remove write permission from their translations.
    fn remove_write_vmo_range(&self, offset: u64, len: u64);
}

fn round_up(x: u64) -> Option<u64> {
    x.checked_add(PAGE_SIZE - 1).map(round_down)
}

fn round_down(x: u64) -> u64 {
    x & !(PAGE_SIZE - 1)
}

/// The end of `[offset, offset + len)`, which must lie within `size`
/// (digest §2.9/§2.11: beyond it or overflowing → OUT_OF_RANGE).
fn range_end(offset: u64, len: u64, size: u64) -> Result<u64, Status> {
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(end),
        _ => Err(Status::OutOfRange),
    }
}

/// The next kernel object id: unique and never reused, as Zircon's koids.
fn next_koid() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A virtual memory object. Always handled as `Arc<Vmo>`.
pub struct Vmo {
    ctx: Arc<VmContext>,
    family: Arc<spin::Mutex<Family>>,
    view: usize,
    koid: u64,
    resizable: bool,
    discardable: bool,
}

impl Vmo {
    /// `zx_vmo_create`: an anonymous VMO of `size` rounded up to pages
    /// (rounding overflow → OUT_OF_RANGE, digest §2.8).
    pub fn create(ctx: &Arc<VmContext>, size: u64, options: VmoOptions) -> Result<Arc<Vmo>, Status> {
        let size = round_up(size).ok_or(Status::OutOfRange)?;
        let mut cow = CowTree::default();
        let node = cow.add_root(size);
        let mut views = Slab::default();
        let view = views.insert(View { node, window: None, mappings: Vec::new() });
        let family = Family { cow, views, discard: Discard::Unset };
        let vmo = Arc::new(Vmo {
            ctx: ctx.clone(),
            family: Arc::new(spin::Mutex::new(family)),
            view,
            koid: next_koid(),
            resizable: options.contains(VmoOptions::RESIZABLE),
            discardable: options.contains(VmoOptions::DISCARDABLE),
        });
        if vmo.discardable {
            ctx.register_discardable(&vmo);
        }
        Ok(vmo)
    }

    /// Runs `f` under the family lock, then, still under it, makes the
    /// mapping calls it queued and frees the frames it released.
    fn locked<R>(&self, f: impl FnOnce(&mut Family, &mut Notices) -> R) -> R {
        let mut fam = self.family.lock();
        let mut notices = Notices::new(&*self.ctx.frames);
        let result = f(&mut fam, &mut notices);
        notices.deliver();
        drop(fam);
        result
    }

    /// The kernel object id: unique among every VMO ever created.
    pub fn koid(&self) -> u64 {
        self.koid
    }

    /// Current size in bytes (a multiple of the page size).
    pub fn size(&self) -> u64 {
        self.family.lock().geometry(self.view).2
    }

    /// Whether `set_size` may change the size (created with RESIZABLE).
    pub fn is_resizable(&self) -> bool {
        self.resizable
    }

    /// Whether the VMO was created DISCARDABLE (LOCK/UNLOCK apply).
    pub fn is_discardable(&self) -> bool {
        self.discardable
    }

    /// Bytes of pages this VMO owns privately (pages still shared with a
    /// snapshot relative live in a hidden node and are not counted).
    pub fn committed_bytes(&self) -> u64 {
        let fam = self.family.lock();
        let (leaf, base, size) = fam.geometry(self.view);
        fam.cow.own_pages_in(leaf, base, base + size) * PAGE_SIZE
    }

    /// `zx_vmo_read`: copies `buf.len()` bytes from `offset` (beyond the
    /// size → OUT_OF_RANGE; a discarded VMO not yet locked again →
    /// NOT_FOUND).
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), Status> {
        let fam = self.family.lock();
        let (leaf, base, size) = fam.geometry(self.view);
        range_end(offset, buf.len() as u64, size)?;
        if !buf.is_empty() {
            fam.check_not_discarded()?;
        }
        let mut done = 0;
        while done < buf.len() {
            let pos = base + offset + done as u64;
            let in_page = (pos % PAGE_SIZE) as usize;
            let n = (PAGE_SIZE as usize - in_page).min(buf.len() - done);
            let chunk = &mut buf[done..done + n];
            match fam.cow.lookup(leaf, round_down(pos)) {
                Content::Own(f) | Content::Shared(f) => self.ctx.frames.read(f, in_page, chunk),
                Content::Zero => chunk.fill(0),
            }
            done += n;
        }
        Ok(())
    }

    /// Frames needed to own every page of the leaf's `[start, end)`.
    fn frames_to_own(fam: &Family, leaf: NodeId, start: u64, end: u64) -> u64 {
        (start / PAGE_SIZE..end.div_ceil(PAGE_SIZE))
            .filter(|&p| !matches!(fam.cow.lookup(leaf, p * PAGE_SIZE), Content::Own(_)))
            .count() as u64
    }

    /// `zx_vmo_write`: copies `data` to `offset`, forking shared pages (errors
    /// as `read`, and NO_MEMORY).
    pub fn write(&self, offset: u64, data: &[u8]) -> Result<(), Status> {
        self.locked(|fam, notices| {
            let (leaf, base, size) = fam.geometry(self.view);
            range_end(offset, data.len() as u64, size)?;
            if !data.is_empty() {
                fam.check_not_discarded()?;
            }
            let start = base + offset;
            let end = start + data.len() as u64;
            let frames = &*self.ctx.frames;
            let mut reserve = Reserve::new(frames, Self::frames_to_own(fam, leaf, start, end))?;
            let mut forked = Runs::default();
            let mut done = 0;
            while done < data.len() {
                let pos = start + done as u64;
                let in_page = (pos % PAGE_SIZE) as usize;
                let n = (PAGE_SIZE as usize - in_page).min(data.len() - done);
                let (frame, new) = fam.cow.fork(leaf, round_down(pos), &mut reserve);
                if new {
                    forked.add(round_down(pos));
                }
                frames.write(frame, in_page, &data[done..done + n]);
                done += n;
            }
            fam.notify_runs(leaf, &forked, notices);
            Ok(())
        })
    }

    /// `zx_vmo_set_size`. Rounds up (overflow → OUT_OF_RANGE); an offset in
    /// the family's root plus the size overflowing → INVALID_ARGS
    /// (NoAccumulatedOverflow); not resizable → UNAVAILABLE. Shrinking frees
    /// the pages past the end; growing reads zero.
    pub fn set_size(&self, size: u64) -> Result<(), Status> {
        let size = round_up(size).ok_or(Status::OutOfRange)?;
        self.locked(|fam, notices| {
            let (leaf, base, old) = fam.geometry(self.view);
            if fam.cow.root_offset(leaf).checked_add(base + size).is_none() {
                return Err(Status::InvalidArgs);
            }
            if !self.resizable {
                return Err(Status::Unavailable);
            }
            fam.cow.resize(leaf, size, &*notices);
            if size < old {
                fam.notify(leaf, size, old, NoticeKind::Unmap, notices);
            }
            Ok(())
        })
    }

    /// `ZX_VMO_OP_COMMIT`: the range, rounded out to pages, gets pages of its
    /// own (a clone forks its parent's pages); NOT_FOUND on a discarded VMO
    /// not yet locked again.
    pub fn commit(&self, offset: u64, len: u64) -> Result<(), Status> {
        self.locked(|fam, notices| {
            let (leaf, base, size) = fam.geometry(self.view);
            let end = range_end(offset, len, size)?;
            fam.check_not_discarded()?;
            let (start, end) = (round_down(base + offset), round_up(base + end).unwrap_or(MAX_SIZE));
            let mut reserve = Reserve::new(&*self.ctx.frames, Self::frames_to_own(fam, leaf, start, end))?;
            let mut forked = Runs::default();
            for offset in (start..end).step_by(PAGE_SIZE as usize) {
                if fam.cow.fork(leaf, offset, &mut reserve).1 {
                    forked.add(offset);
                }
            }
            fam.notify_runs(leaf, &forked, notices);
            Ok(())
        })
    }

    /// `ZX_VMO_OP_DECOMMIT`: page-aligned (else INVALID_ARGS, even with
    /// nothing committed); only where absent pages read zero, i.e. not on
    /// clones nor on VMOs with snapshot children (NOT_SUPPORTED).
    pub fn decommit(&self, offset: u64, len: u64) -> Result<(), Status> {
        if !offset.is_multiple_of(PAGE_SIZE) || !len.is_multiple_of(PAGE_SIZE) {
            return Err(Status::InvalidArgs);
        }
        self.locked(|fam, notices| {
            let (leaf, base, size) = fam.geometry(self.view);
            let end = range_end(offset, len, size)?;
            if fam.cow.has_parent(leaf) {
                return Err(Status::NotSupported);
            }
            let (start, end) = (base + offset, base + end);
            fam.cow.decommit(leaf, start, end, &*notices);
            fam.notify(leaf, start, end, NoticeKind::Unmap, notices);
            Ok(())
        })
    }

    /// `ZX_VMO_OP_ZERO`: the bytes read zero afterwards. Whole pages are
    /// freed (or hidden by a zero marker where a parent's content would show);
    /// partial pages are zeroed in place (digest §2.11, vmo-zero.cc).
    pub fn zero(&self, offset: u64, len: u64) -> Result<(), Status> {
        self.locked(|fam, notices| {
            let (leaf, base, size) = fam.geometry(self.view);
            let end = range_end(offset, len, size)?;
            let (start, end) = (base + offset, base + end);
            if start == end {
                return Ok(());
            }
            let (whole_start, whole_end) = (round_up(start).unwrap_or(MAX_SIZE), round_down(end));
            // Partial pages as (page, first byte, end byte) in leaf offsets.
            let mut partial = Vec::new();
            if !start.is_multiple_of(PAGE_SIZE) {
                partial.push((round_down(start), start, end.min(whole_start)));
            }
            if !end.is_multiple_of(PAGE_SIZE) && round_down(end) >= whole_start {
                partial.push((round_down(end), round_down(end), end));
            }
            let needed = partial
                .iter()
                .filter(|&&(p, _, _)| matches!(fam.cow.lookup(leaf, p), Content::Shared(_)))
                .count() as u64;
            let frames = &*self.ctx.frames;
            let mut reserve = Reserve::new(frames, needed)?;
            let mut forked = Runs::default();
            for (p, s, e) in partial {
                let frame = match fam.cow.lookup(leaf, p) {
                    Content::Zero => continue,
                    Content::Own(f) => f,
                    Content::Shared(_) => {
                        forked.add(p);
                        fam.cow.fork(leaf, p, &mut reserve).0
                    }
                };
                frames.zero(frame, (s - p) as usize, (e - s) as usize);
            }
            if whole_start < whole_end {
                fam.cow.zero_pages(leaf, whole_start, whole_end, &*notices);
                fam.notify(leaf, whole_start, whole_end, NoticeKind::Unmap, notices);
            }
            fam.notify_runs(leaf, &forked, notices);
            Ok(())
        })
    }

    /// The range check shared by the hints (rounded out to pages; beyond
    /// the size → OUT_OF_RANGE, test OpOutOfBounds).
    fn check_hint(&self, offset: u64, len: u64) -> Result<(), Status> {
        range_end(offset, len, self.size()).map(|_| ())
    }

    /// `ZX_VMO_OP_DONT_NEED`: an eviction hint; anonymous pages are never
    /// evicted, so only the range is checked.
    pub fn dont_need(&self, offset: u64, len: u64) -> Result<(), Status> {
        self.check_hint(offset, len)
    }

    /// `ZX_VMO_OP_ALWAYS_NEED`: protects pages from eviction, which anonymous
    /// pages never undergo; only the range is checked.
    pub fn always_need(&self, offset: u64, len: u64) -> Result<(), Status> {
        self.check_hint(offset, len)
    }

    /// `ZX_VMO_OP_PREFETCH`: fetches pages from a pager; anonymous content is
    /// always present, so only the range is checked (zero length is OK).
    pub fn prefetch(&self, offset: u64, len: u64) -> Result<(), Status> {
        self.check_hint(offset, len)
    }

    /// `zx_vmo_create_child` (digest §2.10), after the zx layer's handle,
    /// rights and option-bit checks. Snapshot kinds cost O(1) in the parent's
    /// size; a slice must lie within the parent; a reference takes offset and
    /// size 0.
    pub fn create_child(
        self: &Arc<Self>,
        kind: ChildKind,
        offset: u64,
        size: u64,
        resizable: bool,
    ) -> Result<Arc<Vmo>, Status> {
        let child = self.locked(|fam, notices| {
            let (leaf, base, parent_size) = fam.geometry(self.view);
            let window = match kind {
                ChildKind::Reference => {
                    if offset != 0 || size != 0 {
                        return Err(Status::InvalidArgs);
                    }
                    if self.discardable || (resizable && !self.resizable) {
                        return Err(Status::NotSupported);
                    }
                    fam.view(self.view).window
                }
                ChildKind::Slice => {
                    let size = Self::check_child_range(resizable, offset, size)?;
                    if offset.checked_add(size).is_none_or(|end| end > parent_size) {
                        return Err(Status::InvalidArgs);
                    }
                    if self.discardable || self.resizable {
                        return Err(Status::NotSupported);
                    }
                    Some(Window { offset: base + offset, size })
                }
                ChildKind::Snapshot | ChildKind::SnapshotAtLeastOnWrite | ChildKind::SnapshotModified => {
                    let size = Self::check_child_range(false, offset, size)?;
                    let accumulated = fam.cow.root_offset(leaf).checked_add(base);
                    if accumulated
                        .and_then(|a| a.checked_add(offset))
                        .and_then(|a| a.checked_add(size))
                        .is_none()
                    {
                        return Err(Status::InvalidArgs);
                    }
                    if self.discardable {
                        return Err(Status::NotSupported);
                    }
                    let leaf_size = fam.cow.size(leaf);
                    let child = fam.cow.snapshot(leaf, base + offset, size, base + parent_size);
                    fam.notify(leaf, 0, leaf_size, NoticeKind::RemoveWrite, notices);
                    let view = fam.add_view(View { node: child, window: None, mappings: Vec::new() });
                    return Ok((view, resizable));
                }
            };
            let node = fam.view(self.view).node;
            let view = fam.add_view(View { node, window, mappings: Vec::new() });
            Ok((view, resizable))
        })?;
        Ok(Arc::new(Vmo {
            ctx: self.ctx.clone(),
            family: self.family.clone(),
            view: child.0,
            koid: next_koid(),
            resizable: child.1,
            discardable: false,
        }))
    }

    /// Alignment and size checks of a slice or snapshot: page-aligned offset
    /// (else INVALID_ARGS), size rounded up (overflow → OUT_OF_RANGE); a
    /// RESIZABLE slice → INVALID_ARGS.
    fn check_child_range(resizable_slice: bool, offset: u64, size: u64) -> Result<u64, Status> {
        if resizable_slice || !offset.is_multiple_of(PAGE_SIZE) {
            return Err(Status::InvalidArgs);
        }
        round_up(size).ok_or(Status::OutOfRange)
    }

    /// The committed pages a read fault in `[offset, offset + len)` would
    /// find, clipped to the size, committing and forking nothing: what
    /// MAP_RANGE installs (digest §2.12: committed pages only, no requests).
    /// Pages still shared copy-on-write are not writable. Costs O(committed
    /// pages), not O(range length).
    pub fn committed_pages(&self, offset: u64, len: u64) -> Vec<(u64, FaultPage)> {
        let fam = self.family.lock();
        let (leaf, base, size) = fam.geometry(self.view);
        let end = offset.saturating_add(len).min(size);
        if offset >= end {
            return Vec::new();
        }
        let (start, end) = (round_down(base + offset), round_up(base + end).unwrap_or(MAX_SIZE));
        fam.cow
            .visible(leaf, start, end)
            .into_iter()
            .map(|(off, frame)| {
                let writable = matches!(fam.cow.lookup(leaf, off), Content::Own(_));
                (off - base, FaultPage { frame, writable })
            })
            .collect()
    }

    /// The fault path: the frame to map for an access at `offset`.
    ///
    /// A read of a page the VMO owns gives it writable; of a page shared
    /// copy-on-write, the shared frame read-only; of a page never written,
    /// the zero frame read-only. A write commits or forks the page and gives
    /// a private frame, writable; the other mappings of the VMO that may
    /// translate the old frame are told (`unmap_vmo_range`) before this
    /// returns. Beyond the size → OUT_OF_RANGE; discarded and not locked
    /// again → NOT_FOUND; no frame → NO_MEMORY.
    pub fn lookup_for_fault(&self, offset: u64, write: bool) -> Result<FaultPage, Status> {
        self.locked(|fam, notices| {
            let (leaf, base, size) = fam.geometry(self.view);
            if offset >= size {
                return Err(Status::OutOfRange);
            }
            fam.check_not_discarded()?;
            let page = round_down(base + offset);
            let content = fam.cow.lookup(leaf, page);
            match (content, write) {
                (Content::Own(frame), _) => Ok(FaultPage { frame, writable: true }),
                (Content::Shared(frame), false) => Ok(FaultPage { frame, writable: false }),
                (Content::Zero, false) => Ok(FaultPage { frame: self.ctx.zero_frame(), writable: false }),
                (_, true) => {
                    let mut reserve = Reserve::new(&*self.ctx.frames, 1)?;
                    let (frame, _) = fam.cow.fork(leaf, page, &mut reserve);
                    fam.notify(leaf, page, page + PAGE_SIZE, NoticeKind::Unmap, notices);
                    Ok(FaultPage { frame, writable: true })
                }
            }
        })
    }

    /// Registers a mapping to be told about page changes.
    pub fn add_mapping(&self, mapping: Weak<dyn VmoMapping>) {
        let mut fam = self.family.lock();
        let view = fam.views.get_mut(self.view);
        view.mappings.retain(|m| m.strong_count() > 0);
        view.mappings.push(mapping);
    }

    /// Unregisters a mapping added with [`Vmo::add_mapping`].
    pub fn remove_mapping(&self, mapping: &Weak<dyn VmoMapping>) {
        let mut fam = self.family.lock();
        let view = fam.views.get_mut(self.view);
        view.mappings.retain(|m| !Weak::ptr_eq(m, mapping));
    }
}

impl Drop for Vmo {
    /// Closing the last VMO viewing a leaf closes the leaf: its pages are
    /// freed or migrate to the relatives that still see them (§3.4).
    fn drop(&mut self) {
        let mut fam = self.family.lock();
        let view = fam.views.remove(self.view);
        if !fam.views.iter().any(|v| v.node == view.node) {
            fam.cow.close_leaf(view.node, &*self.ctx.frames);
        }
    }
}
