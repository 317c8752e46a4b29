//! Virtual memory objects: anonymous and pager-backed VMOs and their
//! children (digest §2.8-2.11, §2.15).
//!
//! A [`Vmo`] is a *view* onto one visible node of a copy-on-write tree
//! ([`crate::cow`]) shared by its whole family (the root, its clones, slices
//! and references), behind one `spin::Mutex`. A root or clone views its own
//! node; a REFERENCE views the same node as its parent; a SLICE views a
//! fixed window of its parent's node, so every operation on it acts on the
//! parent. Argument checks follow the digest's precedence: INVALID_ARGS, then
//! OUT_OF_RANGE, then state (NOT_SUPPORTED, UNAVAILABLE, BAD_STATE).
//!
//! A failed call changes nothing: the frames a step may need are taken up
//! front (a `Reserve`). On a pager family a call may reach pages the pager
//! has not supplied; it then does what it can, records how far it got,
//! registers a ticket with the family's [page source](crate::page_source)
//! and returns `Stop::Wait`; `Vmo::blocking` drops the lock, waits, and
//! runs the next step from where the last one stopped. What the completed
//! steps did stays done, as in Zircon (a read or write is not atomic, and a
//! COMMIT failed by the pager keeps the pages it got).
//!
//! `vmo_read` and `vmo_write` move bytes between frames and the caller's
//! buffer through a bounce buffer, copying to or from the caller with no
//! lock held: the buffer may be a mapping whose pages are not there yet
//! (even of the same VMO), and the fault that copy takes must be able to
//! take its own locks and wait for its own pager.
//!
//! Mappings register a [`VmoMapping`]; when a page a mapping may translate
//! changes, the VMO calls it under the family lock, before the frames it
//! let go of are freed (see `notices`).

mod cache_op;
mod cache_policy;
mod content_size;
mod discard;
mod eviction;
mod family;
mod info;
mod notices;
mod paged;
mod writeback;

use alloc::sync::{Arc, Weak};
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::context::VmContext;
use crate::cow::{Content, CowTree, NodeId, Reserve};
use crate::page_list::{DirtyState, Entry};
use crate::page_source::{PageSource, Ticket};
use crate::platform::{CachePolicy, FrameAllocator, PhysAddr};
use crate::signals::{Signals, VMO_ZERO_CHILDREN};
use crate::slab::Slab;
use crate::vmar::mapping::Mapping;
use crate::{Status, PAGE_SIZE};
use discard::Discard;
pub(crate) use eviction::{evict_from, Evictable};
use family::{Family, Need, View, Window};
pub use info::{VmoInfo, NAME_LEN};
use notices::{NoticeKind, Notices, Runs};
pub(crate) use paged::PagedFamily;
pub use writeback::{DirtyRange, Writeback};

/// The largest VMO size: `round_down(u64::MAX, P)`.
pub const MAX_SIZE: u64 = u64::MAX - (PAGE_SIZE - 1);

/// How many bytes `read` and `write` move per lock hold.
const BOUNCE: usize = 16 * PAGE_SIZE as usize;

bitflags::bitflags! {
    /// `zx_vmo_create` options handled by vm-core (digest §1.3 values).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct VmoOptions: u32 {
        const RESIZABLE = 1 << 1;
        const DISCARDABLE = 1 << 2;
        /// Pager VMOs only: the pager approves first writes (§3.1).
        const TRAP_DIRTY = 1 << 3;
        /// The largest size, [`MAX_SIZE`]; the size asked for is the
        /// content size.
        const UNBOUNDED = 1 << 4;
    }
}

/// The type of a child (digest §2.10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildKind {
    /// Behaves as an eager copy; parent and child diverge lazily both ways.
    /// Not on pager families (NOT_SUPPORTED).
    Snapshot,
    /// Copy-on-write only: the child sees the parent's pages live until it
    /// writes them. On anonymous VMOs built as [`ChildKind::Snapshot`].
    SnapshotAtLeastOnWrite,
    /// Snapshot of the pages modified below the pager root, live view of the
    /// root's own (§3.4); on anonymous VMOs built as a snapshot.
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
    /// Whether the frame may be mapped writable: it is private to the VMO
    /// and, if dirty-tracked, already Dirty.
    pub writable: bool,
}

/// A mapping of a VMO, told when translations it may hold become stale.
/// Offsets are in the mapped VMO's own offset space. Calls are made with the
/// VMO's family lock held (mapping state and table locks come after it in
/// the lock order), before any frame the change released is freed. Each
/// reports to `written` the pages whose translations had been written
/// through ([`Translation`](crate::platform::Translation)'s dirty state)
/// and lose that state in the call.
pub trait VmoMapping: Send + Sync {
    /// The pages of `[offset, offset + len)` changed: drop their translations.
    fn unmap_vmo_range(&self, offset: u64, len: u64, written: &mut dyn FnMut(u64));
    /// The pages of `[offset, offset + len)` must take a fault on their next
    /// write (shared copy-on-write, or being written back): remove write
    /// permission from their translations.
    fn remove_write_vmo_range(&self, offset: u64, len: u64, written: &mut dyn FnMut(u64));
    /// Reports the translations of `[offset, offset + len)` written through
    /// since the last report, and makes them clean again.
    fn harvest_written(&self, offset: u64, len: u64, written: &mut dyn FnMut(u64));
    /// The address space the mapping is in: equal for two mappings exactly
    /// when they share one (`ZX_INFO_VMO.share_count`).
    fn address_space(&self) -> usize;
}

/// Why a step under the family lock stopped short.
pub(crate) enum Stop {
    /// The call fails with this status.
    Fail(Status),
    /// A page is missing: wait on the ticket with no lock held, then run the
    /// next step.
    Wait(Arc<Ticket>),
}

impl From<Status> for Stop {
    fn from(status: Status) -> Stop {
        Stop::Fail(status)
    }
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

/// The next kernel object id: unique and never reused, as Zircon's koids
/// (shared by every kind of object, the zx layer's included).
pub fn next_koid() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The page-sized pieces of `[pos, pos + len)`: (page, offset in it, length).
fn pieces(pos: u64, len: usize) -> impl Iterator<Item = (u64, usize, usize)> {
    let mut done = 0usize;
    core::iter::from_fn(move || {
        (done < len).then(|| {
            let at = pos + done as u64;
            let in_page = (at % PAGE_SIZE) as usize;
            let n = (PAGE_SIZE as usize - in_page).min(len - done);
            done += n;
            (round_down(at), in_page, n)
        })
    })
}

/// A virtual memory object. Always handled as `Arc<Vmo>`.
pub struct Vmo {
    ctx: Arc<VmContext>,
    family: Arc<crate::sync::Mutex<Family>>,
    view: usize,
    koid: u64,
    resizable: bool,
    discardable: bool,
    /// Made by a pager (`zx_pager_create_vmo`): the view of the paged root
    /// that the pager's calls name.
    paged: bool,
    /// A copy-on-write child (`ZX_INFO_VMO_IS_COW_CLONE`).
    cow_clone: bool,
    /// `ZX_PROP_NAME`: NUL-padded, at most `NAME_LEN - 1` bytes long.
    name: crate::sync::Mutex<[u8; NAME_LEN]>,
    /// `ZX_PROP_VMO_CONTENT_SIZE`, shared with REFERENCE children.
    content_size: Arc<AtomicU64>,
    /// The VMO this one is a child of, and its koid (which stays
    /// reported once the parent is gone).
    parent: Option<(Weak<Vmo>, u64)>,
    /// Children alive (`num_children`): they count until their last
    /// handle and mapping go.
    children: AtomicUsize,
    /// `ZX_VMO_ZERO_CHILDREN` and its observers.
    signals: Signals,
}

impl Vmo {
    /// `zx_vmo_create`: an anonymous VMO of `size` rounded up to pages
    /// (rounding overflow → OUT_OF_RANGE, digest §2.8), or of [`MAX_SIZE`]
    /// if UNBOUNDED; its content size is `size` as given.
    pub fn create(ctx: &Arc<VmContext>, size: u64, options: VmoOptions) -> Result<Arc<Vmo>, Status> {
        let vmo = Self::new_root(ctx, size, options, None)?;
        if vmo.discardable {
            ctx.register_discardable(&vmo);
        }
        Ok(vmo)
    }

    /// A new family's root view: anonymous, or paged with `source`.
    fn new_root(
        ctx: &Arc<VmContext>,
        size: u64,
        options: VmoOptions,
        source: Option<PageSource>,
    ) -> Result<Arc<Vmo>, Status> {
        let content_size = size;
        let size = if options.contains(VmoOptions::UNBOUNDED) {
            MAX_SIZE
        } else {
            round_up(size).ok_or(Status::OutOfRange)?
        };
        let mut cow = CowTree::default();
        let paged = source.is_some();
        let node = cow.add_root(size, paged);
        let mut views = Slab::default();
        let view = views.insert(View::new(node, None, CachePolicy::Cached, true));
        let family = Family {
            cow,
            views,
            discard: Discard::Unset,
            source,
            hints: Default::default(),
            reclaim_events: 0,
            lent: false,
        };
        Ok(Arc::new(Vmo {
            ctx: ctx.clone(),
            family: Arc::new(crate::sync::Mutex::new(family)),
            view,
            koid: next_koid(),
            resizable: options.contains(VmoOptions::RESIZABLE),
            discardable: options.contains(VmoOptions::DISCARDABLE),
            paged,
            cow_clone: false,
            name: crate::sync::Mutex::new([0; NAME_LEN]),
            content_size: Arc::new(AtomicU64::new(content_size)),
            parent: None,
            children: AtomicUsize::new(0),
            signals: Signals::new(VMO_ZERO_CHILDREN),
        }))
    }

    /// Runs `f` under the family lock, then, still under it, makes the
    /// mapping calls it queued and frees the frames it released; once the
    /// lock is dropped, wakes the waiters whose tickets it resolved.
    fn locked<R>(&self, f: impl FnOnce(&mut Family, &Notices) -> R) -> R {
        let mut fam = self.family.lock();
        let mut notices = Notices::new(&*self.ctx.frames);
        let result = f(&mut fam, &notices);
        notices.deliver();
        let wake = fam.source.as_mut().is_some_and(PageSource::take_wake);
        drop(fam);
        if wake {
            self.ctx.waiter.wake_all();
        }
        result
    }

    /// Runs `step` under the family lock until it finishes; each time it
    /// stops to wait for a page, waits on the ticket with no lock held and
    /// runs it again (see the module docs). `step` keeps its own progress.
    /// A failed wait fails the call with its status.
    fn blocking<R>(&self, step: impl FnMut(&mut Family, &Notices) -> Result<R, Stop>) -> Result<R, Status> {
        self.blocking_or_clipped(false, step)
    }

    /// [`Vmo::blocking`] for the calls that a shrink cuts short rather than
    /// fails (COMMIT, PREFETCH, ALWAYS_NEED, digest §2.15 rule 5): with
    /// `clipped`, a wait ended by a shrink (OUT_OF_RANGE) runs `step` again,
    /// and `step` stops at the new end.
    fn blocking_or_clipped<R>(
        &self,
        clipped: bool,
        mut step: impl FnMut(&mut Family, &Notices) -> Result<R, Stop>,
    ) -> Result<R, Status> {
        loop {
            match self.locked(&mut step) {
                Ok(result) => return Ok(result),
                // No frame: evict or discard some, with no lock held, and
                // try again while that frees any.
                Err(Stop::Fail(Status::NoMemory)) if self.ctx.relieve() > 0 => {}
                Err(Stop::Fail(status)) => return Err(status),
                Err(Stop::Wait(ticket)) => match ticket.wait(&*self.ctx.waiter) {
                    Err(Status::OutOfRange) if clipped => {}
                    waited => waited?,
                },
            }
        }
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

    /// The koid of the pager that created this VMO (not a child of it):
    /// its `related_koid`.
    pub fn pager_koid(&self) -> Option<u64> {
        let fam = self.family.lock();
        fam.source.as_ref().filter(|_| self.paged).map(PageSource::pager)
    }

    /// Whether the VMO's family is backed by a pager (`ZX_INFO_VMO_PAGER_BACKED`).
    pub fn is_pager_backed(&self) -> bool {
        self.family.lock().source.is_some()
    }

    /// How many operations (on any VMO of the family) wait for the pager to
    /// resolve a request: 0 for an anonymous VMO.
    pub fn pager_waiters(&self) -> usize {
        self.family.lock().source.as_ref().map_or(0, PageSource::waiters)
    }

    /// Bytes of pages this VMO owns privately (pages still shared with a
    /// relative live in an ancestor node and are not counted).
    pub fn committed_bytes(&self) -> u64 {
        let fam = self.family.lock();
        let (leaf, base, size) = fam.geometry(self.view);
        fam.cow.own_pages_in(leaf, base, base + size) * PAGE_SIZE
    }

    /// The checks every `read` and `write` step makes: the range within the
    /// current size (OUT_OF_RANGE), a cached VMO (BAD_STATE, digest §3.6)
    /// and, for a non-empty range, not discarded (NOT_FOUND). Returns the
    /// leaf and the leaf offset of `offset`.
    fn check_access(&self, fam: &Family, offset: u64, len: u64) -> Result<(NodeId, u64), Status> {
        let (leaf, base, size) = fam.geometry(self.view);
        range_end(offset, len, size)?;
        if fam.view(self.view).cache != CachePolicy::Cached {
            return Err(Status::BadState);
        }
        if len > 0 {
            fam.check_not_discarded()?;
        }
        Ok((leaf, base + offset))
    }

    /// `zx_vmo_read`: copies `buf.len()` bytes from `offset` (beyond the
    /// size → OUT_OF_RANGE; a discarded VMO not yet locked again →
    /// NOT_FOUND; a pager's failure or absence → its status). Unsupplied
    /// pages are requested in maximal runs and waited for.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), Status> {
        let len = buf.len();
        let mut bounce = vec![0u8; len.min(BOUNCE)];
        let mut done = 0;
        loop {
            let n = self.blocking(|fam, _| {
                let (leaf, start) = self.check_access(fam, offset, len as u64)?;
                let chunk = (len - done).min(BOUNCE);
                Self::copy_out(
                    fam,
                    &*self.ctx.frames,
                    leaf,
                    start + done as u64,
                    &mut bounce[..chunk],
                    start + len as u64,
                )
            })?;
            // Outside the lock: the caller's buffer may fault.
            buf[done..done + n].copy_from_slice(&bounce[..n]);
            done += n;
            if done == len {
                return Ok(());
            }
        }
    }

    /// Copies bytes from `leaf` at `pos` into `out` up to the first missing
    /// page; with nothing copied, waits for that page (its request runs up
    /// to `end`, the end of the read).
    fn copy_out(
        fam: &mut Family,
        frames: &dyn FrameAllocator,
        leaf: NodeId,
        pos: u64,
        out: &mut [u8],
        end: u64,
    ) -> Result<usize, Stop> {
        let mut copied = 0;
        for (page, in_page, n) in pieces(pos, out.len()) {
            let chunk = &mut out[copied..copied + n];
            match fam.cow.lookup(leaf, page) {
                Content::Own(f, _) | Content::Shared(f, ..) => frames.read(f, in_page, chunk),
                Content::Zero => chunk.fill(0),
                Content::Missing { .. } if copied == 0 => return Err(fam.wait_for_page(leaf, page, end)),
                Content::Missing { .. } => break,
            }
            copied += n;
        }
        Ok(copied)
    }

    /// `zx_vmo_write`: copies `data` to `offset`, forking shared pages and
    /// marking the paged root's pages Dirty (errors as `read`, and
    /// NO_MEMORY).
    pub fn write(&self, offset: u64, data: &[u8]) -> Result<(), Status> {
        let len = data.len();
        let mut bounce = vec![0u8; len.min(BOUNCE)];
        let mut done = 0;
        loop {
            // Outside the lock: the caller's buffer may fault.
            let chunk = (len - done).min(BOUNCE);
            bounce[..chunk].copy_from_slice(&data[done..done + chunk]);
            let mut written = 0;
            loop {
                let n = self.blocking(|fam, notices| {
                    let (leaf, start) = self.check_access(fam, offset, len as u64)?;
                    let at = start + (done + written) as u64;
                    Self::copy_in(fam, notices, leaf, at, &bounce[written..chunk], start + len as u64)
                })?;
                written += n;
                if written == chunk {
                    break;
                }
            }
            done += chunk;
            if done == len {
                return Ok(());
            }
        }
    }

    /// Writes `data` to `leaf` at `pos` up to the first missing page, with
    /// the frames for the pages it forks reserved first; with nothing
    /// written, waits for that page (its request runs up to `end`).
    fn copy_in(
        fam: &mut Family,
        notices: &Notices,
        leaf: NodeId,
        pos: u64,
        data: &[u8],
        end: u64,
    ) -> Result<usize, Stop> {
        let mut reach = 0;
        let mut needed = 0;
        for (page, _, n) in pieces(pos, data.len()) {
            match fam.write_need(leaf, page) {
                Need::Ready => {}
                Need::Frame => needed += 1,
                need if reach == 0 => return Err(fam.wait_to_write(need, leaf, page, end)),
                _ => break,
            }
            reach += n;
        }
        let frames = notices.frames();
        let mut reserve = Reserve::empty(notices.allocator());
        reserve.fill(needed)?;
        let mut forked = Runs::default();
        let mut done = 0;
        for (page, in_page, n) in pieces(pos, reach) {
            let seen = fam.cow.lookup(leaf, page);
            let frame = Self::own_for_write(fam, leaf, page, seen, &mut reserve, &mut forked);
            frames.write(frame, in_page, &data[done..done + n]);
            done += n;
        }
        fam.notify_runs(leaf, &forked, notices);
        fam.note_modified(leaf);
        Ok(reach)
    }

    /// The frame of `leaf`'s page at `page`, made private and writable: a
    /// fork (recorded in `forked`) or, on a paged root, the page marked
    /// Dirty. `seen` is what `leaf` has there ([`CowTree::lookup`]).
    fn own_for_write<F: FrameAllocator + ?Sized>(
        fam: &mut Family,
        leaf: NodeId,
        page: u64,
        seen: Content,
        reserve: &mut Reserve<'_, F>,
        forked: &mut Runs,
    ) -> PhysAddr {
        let (frame, new) = fam.cow.fork_seen(leaf, page, seen, reserve);
        if new {
            forked.add(page);
        } else if fam.cow.is_paged(leaf) {
            fam.cow.set_state(leaf, page, DirtyState::Dirty);
        }
        frame
    }

    /// `zx_vmo_set_size`. Rounds up (overflow → OUT_OF_RANGE); an offset in
    /// the family's root plus the size overflowing → INVALID_ARGS
    /// (NoAccumulatedOverflow); not resizable → UNAVAILABLE. Shrinking frees
    /// the pages past the end (and fails the operations waiting for pages
    /// there with OUT_OF_RANGE); growing reads zero, on a pager VMO as a
    /// dirty zero range that needs no request (digest §3.2). The content
    /// size becomes `size` exactly (digest §4.4 ContentSize), and the rest
    /// of its last page reads zero, as after Zircon's `SetSize`: a shrink
    /// zeroes it first (one page, so that step either happens or fails the
    /// call with its status, NO_MEMORY or the pager's), a grow finds it new.
    pub fn set_size(&self, size: u64) -> Result<(), Status> {
        let content_size = size;
        let size = round_up(size).ok_or(Status::OutOfRange)?;
        if self.resizable && content_size < size && size <= self.size() {
            self.zero(content_size, size - content_size)?;
        }
        self.locked(|fam, notices| {
            let (leaf, base, old) = fam.geometry(self.view);
            if fam.cow.root_offset(leaf).checked_add(base + size).is_none() {
                return Err(Status::InvalidArgs);
            }
            if !self.resizable {
                return Err(Status::Unavailable);
            }
            // Whoever sees the range that goes is told before the resize
            // clips the at-least-on-write children's windows onto it: their
            // translations of the freed pages must go too.
            if size < old {
                fam.notify_seeing(leaf, size, old, NoticeKind::Unmap, notices);
            }
            fam.cow.resize(leaf, size, notices.frames());
            fam.note_modified(leaf);
            if size < old {
                if let Some(source) = fam.source.as_mut().filter(|_| fam.cow.is_paged(leaf)) {
                    source.truncate(size / PAGE_SIZE, fam.cow.pages(leaf));
                }
            } else if fam.cow.is_paged(leaf) {
                let _new_tail = fam.cow.zero_range(leaf, old, size, DirtyState::Dirty, notices.frames());
            }
            self.content_size.store(content_size, Ordering::SeqCst);
            Ok(())
        })
    }

    /// `ZX_VMO_OP_COMMIT`: the range, rounded out to pages, gets pages of its
    /// own: a clone forks what it sees, a pager VMO gets its missing pages
    /// requested (in maximal runs) and its zero markers committed as Clean
    /// zero pages; NOT_FOUND on a discarded VMO not yet locked again. A
    /// shrink while waiting cuts the range short.
    pub fn commit(&self, offset: u64, len: u64) -> Result<(), Status> {
        let mut next = None;
        self.blocking_or_clipped(true, |fam, notices| {
            let (leaf, base, size) = fam.geometry(self.view);
            let end = match next {
                None => range_end(offset, len, size)?,
                Some(_) => offset.saturating_add(len).min(size),
            };
            fam.check_not_discarded()?;
            let (start, end) = (round_down(base + offset), round_up(base + end).unwrap_or(MAX_SIZE));
            let from = next.unwrap_or(start).max(start);
            let missing = fam.source.as_ref().and_then(|_| fam.cow.first_missing(leaf, from, end));
            let stop = missing.unwrap_or(end).max(from);
            // A dirty zero range committed under TRAP_DIRTY becomes Dirty
            // pages, which the pager approves first (digest §3.2).
            let zero = fam.first_zero_needing_approval(leaf, from, stop);
            let stop = zero.map_or(stop, |(start, _)| start);
            Self::commit_pages(fam, notices, leaf, from, stop)?;
            next = Some(stop);
            if stop < end {
                let need = fam.write_need(leaf, stop);
                // The approval asked for covers the zero range alone: a
                // COMMIT makes no other page Dirty (digest §2.11).
                let run_end = zero.map_or(end, |(_, zero_end)| zero_end.min(end));
                return Err(fam.wait_to_write(need, leaf, stop, run_end));
            }
            Ok(())
        })
    }

    /// Commits `leaf`'s pages in `[start, end)`, none of them missing.
    fn commit_pages(
        fam: &mut Family,
        notices: &Notices,
        leaf: NodeId,
        start: u64,
        end: u64,
    ) -> Result<(), Status> {
        let pages = (start..end).step_by(PAGE_SIZE as usize);
        let needed = pages.clone().filter(|&p| !matches!(fam.cow.lookup(leaf, p), Content::Own(..))).count();
        let mut reserve = Reserve::empty(notices.allocator());
        reserve.fill(needed as u64)?;
        let mut forked = Runs::default();
        let paged = fam.cow.is_paged(leaf);
        for page in pages {
            let was_marker = fam.cow.entry(leaf, page) == Entry::Marker;
            if fam.cow.fork(leaf, page, &mut reserve).1 {
                forked.add(page);
                if paged && was_marker {
                    fam.cow.set_state(leaf, page, DirtyState::Clean);
                }
            }
        }
        fam.notify_runs(leaf, &forked, notices);
        Ok(())
    }

    /// `ZX_VMO_OP_DECOMMIT`: page-aligned (else INVALID_ARGS, even with
    /// nothing committed); only where absent pages read zero, i.e. not on
    /// clones, VMOs with snapshot children, nor pager families
    /// (NOT_SUPPORTED).
    pub fn decommit(&self, offset: u64, len: u64) -> Result<(), Status> {
        if !offset.is_multiple_of(PAGE_SIZE) || !len.is_multiple_of(PAGE_SIZE) {
            return Err(Status::InvalidArgs);
        }
        self.locked(|fam, notices| {
            let (leaf, base, size) = fam.geometry(self.view);
            let end = range_end(offset, len, size)?;
            if fam.cow.has_parent(leaf) || fam.source.is_some() {
                return Err(Status::NotSupported);
            }
            let (start, end) = (base + offset, base + end);
            fam.cow.decommit(leaf, start, end, notices.frames());
            fam.notify(leaf, start, end, NoticeKind::Unmap, notices);
            Ok(())
        })
    }

    /// `ZX_VMO_OP_ZERO`: the bytes read zero afterwards. Partial pages are
    /// zeroed in place (on a pager VMO after their content is supplied);
    /// whole pages are freed, hidden from a parent by a zero interval, or on
    /// a paged root made a dirty zero range that needs no request and
    /// satisfies requests waiting there (digest §2.11, vmo-zero.cc, §3.2).
    pub fn zero(&self, offset: u64, len: u64) -> Result<(), Status> {
        self.blocking(|fam, notices| {
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
            // A partial page that reads zero already needs nothing.
            partial.retain(|&(p, _, _)| fam.cow.lookup(leaf, p) != Content::Zero);
            let mut needed = 0;
            for &(p, _, _) in &partial {
                match fam.write_need(leaf, p) {
                    Need::Ready => {}
                    Need::Frame => needed += 1,
                    need => return Err(fam.wait_to_write(need, leaf, p, p + PAGE_SIZE)),
                }
            }
            let frames = notices.frames();
            let mut reserve = Reserve::empty(notices.allocator());
            reserve.fill(needed)?;
            let mut forked = Runs::default();
            for (p, s, e) in partial {
                let seen = fam.cow.lookup(leaf, p);
                let frame = Self::own_for_write(fam, leaf, p, seen, &mut reserve, &mut forked);
                frames.zero(frame, (s - p) as usize, (e - s) as usize);
            }
            fam.note_modified(leaf);
            if whole_start < whole_end {
                fam.note_modified(leaf);
                if fam.cow.is_paged(leaf) {
                    let filled =
                        fam.cow.zero_range(leaf, whole_start, whole_end, DirtyState::Dirty, notices.frames());
                    let source = fam.source.as_mut().expect("a paged root has a source");
                    for (s, e) in filled {
                        source.filled(s, e, fam.cow.pages(leaf));
                    }
                    fam.notify_seeing(leaf, whole_start, whole_end, NoticeKind::Unmap, notices);
                } else {
                    fam.cow.zero_pages(leaf, whole_start, whole_end, notices.frames());
                    fam.notify(leaf, whole_start, whole_end, NoticeKind::Unmap, notices);
                }
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

    /// `ZX_VMO_OP_PREFETCH`: has the pager supply every page of the range
    /// (rounded out) that the VMO sees and nobody has: through a clone or a
    /// slice, the root's pages, without forking anything. Anonymous content
    /// is always present, so there only the range is checked. A shrink while
    /// waiting ends the op early with OK.
    pub fn prefetch(&self, offset: u64, len: u64) -> Result<(), Status> {
        self.check_hint(offset, len)?;
        let mut next = 0;
        self.blocking_or_clipped(true, |fam, _| {
            if fam.source.is_none() {
                return Ok(());
            }
            let (leaf, base, size) = fam.geometry(self.view);
            let end = offset.saturating_add(len).min(size);
            let (start, end) = (round_down(base + offset), round_up(base + end).unwrap_or(MAX_SIZE));
            match fam.cow.first_missing(leaf, start.max(next), end) {
                Some(missing) => {
                    next = missing;
                    Err(fam.wait_for_page(leaf, missing, end))
                }
                None => Ok(()),
            }
        })
    }

    /// `zx_vmo_create_child` (digest §2.10, §3.4), after the zx layer's
    /// handle, rights and option-bit checks. Snapshot kinds cost O(1) in the
    /// parent's size; a slice must lie within the parent; a reference takes
    /// offset and size 0. In a pager family SNAPSHOT is NOT_SUPPORTED,
    /// AT_LEAST_ON_WRITE (and SNAPSHOT_MODIFIED of the root or a slice of it)
    /// hangs a child off the parent that sees it live, SNAPSHOT_MODIFIED of a
    /// clone snapshots the clone's own pages, and neither may be taken of a
    /// slice of a clone (NOT_SUPPORTED); no snapshot kind may be taken of
    /// an uncached VMO (BAD_STATE, digest §3.6). The child's content size
    /// is `size` as given (a reference shares its parent's); it counts
    /// among this VMO's children (`ZX_VMO_ZERO_CHILDREN` clears) until it
    /// goes.
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
                    if fam.view(self.view).cache != CachePolicy::Cached {
                        return Err(Status::BadState);
                    }
                    let child = if fam.source.is_some() {
                        let of_root = fam.cow.is_paged(leaf);
                        let slice = fam.view(self.view).window.is_some();
                        match kind {
                            ChildKind::Snapshot => return Err(Status::NotSupported),
                            _ if slice && !of_root => return Err(Status::NotSupported),
                            ChildKind::SnapshotModified if !of_root => {
                                Self::snapshot_of(fam, notices, leaf, base + offset, size, base + parent_size)
                            }
                            _ => {
                                fam.cow.clone_at_least_on_write(leaf, base + offset, size, base + parent_size)
                            }
                        }
                    } else {
                        Self::snapshot_of(fam, notices, leaf, base + offset, size, base + parent_size)
                    };
                    fam.lent = true;
                    let view = fam.add_view(View::new(child, None, CachePolicy::Cached, true));
                    // Counted under the lock `set_cache_policy` checks it under.
                    self.children.fetch_add(1, Ordering::SeqCst);
                    return Ok(view);
                }
            };
            let parent = fam.view(self.view);
            let view = fam.add_view(View::new(parent.node, window, parent.cache, false));
            self.children.fetch_add(1, Ordering::SeqCst);
            Ok(view)
        })?;
        let content_size = match kind {
            ChildKind::Reference => self.content_size.clone(),
            _ => Arc::new(AtomicU64::new(size)),
        };
        let child = Arc::new(Vmo {
            ctx: self.ctx.clone(),
            family: self.family.clone(),
            view: child,
            koid: next_koid(),
            resizable,
            discardable: false,
            paged: false,
            cow_clone: !matches!(kind, ChildKind::Slice | ChildKind::Reference),
            name: crate::sync::Mutex::new([0; NAME_LEN]),
            content_size,
            parent: Some((Arc::downgrade(self), self.koid)),
            children: AtomicUsize::new(0),
            signals: Signals::new(VMO_ZERO_CHILDREN),
        });
        self.update_zero_children();
        Ok(child)
    }

    /// Asserts `ZX_VMO_ZERO_CHILDREN` exactly when no child is alive, as
    /// the count reads when the signals' lock is held (digest §2.8, §2.10).
    fn update_zero_children(&self) {
        let none = || self.children.load(Ordering::SeqCst) == 0;
        let update = |s: u32| if none() { s | VMO_ZERO_CHILDREN } else { s & !VMO_ZERO_CHILDREN };
        self.signals.update(update, &*self.ctx.waiter);
    }

    /// The VMO's signals (`object_wait_one`, `object_wait_async`).
    pub fn signals(&self) -> &Signals {
        &self.signals
    }

    /// A snapshot child of `leaf` (see [`CowTree::snapshot`]); its pages
    /// become shared, so the mappings of `leaf` lose write permission.
    fn snapshot_of(
        fam: &mut Family,
        notices: &Notices,
        leaf: NodeId,
        offset: u64,
        size: u64,
        limit: u64,
    ) -> NodeId {
        let leaf_size = fam.cow.size(leaf);
        let child = fam.cow.snapshot(leaf, offset, size, limit);
        fam.notify(leaf, 0, leaf_size, NoticeKind::RemoveWrite, notices);
        child
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
    /// find, clipped to the size, committing, forking and requesting
    /// nothing: what MAP_RANGE installs (digest §2.12). Pages still shared
    /// copy-on-write and Clean pager pages are not writable. Costs
    /// O(committed pages), not O(range length).
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
                let writable = fam.maps_writable(leaf, fam.cow.lookup(leaf, off));
                (off - base, FaultPage { frame, writable })
            })
            .collect()
    }

    /// The fault path: the frame to map for an access at `offset`.
    ///
    /// A read of a page the VMO owns gives it writable (read-only while a
    /// pager page is Clean); of a page shared copy-on-write, the shared
    /// frame read-only; of a page never written, the zero frame read-only. A
    /// write commits or forks the page (or marks a pager page Dirty) and
    /// gives a private frame, writable; the other mappings of the VMO that
    /// may translate the old frame are told (`unmap_vmo_range`) before this
    /// returns. A page the pager has not supplied is requested, one page
    /// per fault (digest §2.15), and waited for with no lock held. Beyond the
    /// size → OUT_OF_RANGE; discarded and not locked again → NOT_FOUND; no
    /// frame → NO_MEMORY; the pager's failure or absence → its status.
    pub fn lookup_for_fault(&self, offset: u64, write: bool) -> Result<FaultPage, Status> {
        self.lookup_for(offset, write, None, &*self.ctx.frames).map(|(page, _)| page)
    }

    /// [`Vmo::lookup_for_fault`] for a fault through `mapping`, which
    /// installs the page itself. The unmap notice of a forked page's old
    /// frame goes to every mapping but this one, which instead starts a
    /// new generation ([`Mapping::take_over`]) under the family lock, as
    /// the notice would have, and gets it back here: its translation of
    /// the page is stale, and the fault replaces it (break before make)
    /// under that generation rather than fault again. `frames` is the
    /// context's allocator, under some type.
    pub(crate) fn lookup_for_mapping_fault<F: FrameAllocator + ?Sized>(
        &self,
        offset: u64,
        write: bool,
        mapping: &Mapping,
        frames: &F,
    ) -> Result<(FaultPage, Option<u64>), Status> {
        self.lookup_for(offset, write, Some(mapping), frames)
    }

    #[inline(always)]
    fn lookup_for<F: FrameAllocator + ?Sized>(
        &self,
        offset: u64,
        write: bool,
        faulting: Option<&Mapping>,
        frames: &F,
    ) -> Result<(FaultPage, Option<u64>), Status> {
        self.blocking(|fam, notices| {
            let (leaf, base, size) = fam.geometry(self.view);
            if offset >= size {
                return Err(Stop::Fail(Status::OutOfRange));
            }
            fam.check_not_discarded()?;
            let page = round_down(base + offset);
            let content = fam.cow.lookup(leaf, page);
            match (content, write) {
                (Content::Missing { .. }, false) => Err(fam.wait_for_page(leaf, page, page + PAGE_SIZE)),
                (Content::Own(frame, _), false) => {
                    Ok((FaultPage { frame, writable: fam.maps_writable(leaf, content) }, None))
                }
                (Content::Shared(frame, ..), false) => {
                    fam.lent = true;
                    Ok((FaultPage { frame, writable: false }, None))
                }
                (Content::Zero, false) => {
                    fam.lent = true;
                    Ok((FaultPage { frame: self.ctx.zero_frame(), writable: false }, None))
                }
                (_, true) => {
                    let needed = match fam.write_need_of(leaf, page, content) {
                        Need::Ready => 0,
                        Need::Frame => 1,
                        need => return Err(fam.wait_to_write(need, leaf, page, page + PAGE_SIZE)),
                    };
                    let mut reserve = Reserve::empty(frames);
                    reserve.fill(needed)?;
                    let mut forked = Runs::default();
                    let frame = Self::own_for_write(fam, leaf, page, content, &mut reserve, &mut forked);
                    if let Some(mapping) = faulting {
                        notices.take_over(mapping, round_down(offset));
                    }
                    fam.notify_runs(leaf, &forked, notices);
                    fam.note_modified(leaf);
                    let generation = faulting.filter(|_| notices.took_over()).map(Mapping::take_over);
                    Ok((FaultPage { frame, writable: true }, generation))
                }
            }
        })
    }

    /// Runs `take`, which removes or write-protects translations of this
    /// VMO and reports the offsets of those written through, with the
    /// family lock held; on a pager VMO those pages become Dirty before it
    /// is dropped, so the writes are not lost to the pager. Under one lock
    /// hold: between taking a translation's dirty state and recording it,
    /// an eviction would find the page Clean and drop it with the write.
    pub(crate) fn taking_translations<R>(&self, take: impl FnOnce(&mut dyn FnMut(u64)) -> R) -> R {
        let mut fam = self.family.lock();
        let (leaf, base, _) = fam.geometry(self.view);
        let mut written = Vec::new();
        let result = take(&mut |offset| written.push(base + round_down(offset)));
        fam.absorb_written(leaf, &written);
        result
    }

    /// Registers a mapping to be told about page changes; returns the
    /// cache policy its translations take, read under the same lock as
    /// `set_cache_policy` checks for mappings, so they always agree
    /// (digest §4.4 CachePolicyRace).
    pub fn add_mapping(&self, mapping: Weak<dyn VmoMapping>) -> CachePolicy {
        let mut fam = self.family.lock();
        let view = fam.views.get_mut(self.view);
        view.mappings.retain(|m| m.strong_count() > 0);
        view.mappings.push(mapping);
        view.cache
    }

    /// Unregisters a mapping added with [`Vmo::add_mapping`].
    pub fn remove_mapping(&self, mapping: &Weak<dyn VmoMapping>) {
        let mut fam = self.family.lock();
        let view = fam.views.get_mut(self.view);
        view.mappings.retain(|m| !Weak::ptr_eq(m, mapping));
    }
}

impl Drop for Vmo {
    /// Closing the last VMO viewing a node closes the node: its pages are
    /// freed or migrate to the relatives that still see them (§3.4). The
    /// family itself, and with it a pager's COMPLETE, goes with the last
    /// `Arc` of it.
    fn drop(&mut self) {
        {
            let mut fam = self.family.lock();
            let view = fam.views.remove(self.view);
            if !fam.views.iter().any(|v| v.node == view.node) {
                fam.cow.close_leaf(view.node, &*self.ctx.frames);
            }
        }
        // With no lock held: the parent may go with the `Arc` taken here.
        if let Some(parent) = self.parent.as_ref().and_then(|(p, _)| p.upgrade()) {
            parent.children.fetch_sub(1, Ordering::SeqCst);
            parent.update_zero_children();
        }
    }
}
