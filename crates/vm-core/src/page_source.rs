//! Page sources: how a pager-backed VMO asks for pages it does not have,
//! and how the operation that needs them waits without holding any lock
//! (digest §2.15, §3.3; Zircon's `page_source.h`).
//!
//! The objects:
//! - `PageSource`: one per pager family, kept with the family under its
//!   lock. It tracks the outstanding *requests* (ranges of root pages the
//!   pager was asked for) and the operations blocked on them, and sends the
//!   request packets through a [`PagerPort`].
//! - `Ticket`: what a blocked operation holds while it waits. It is
//!   resolved to "retry" or to a failure status, and is the only thing the
//!   waiting thread looks at, so waiting takes no VM lock.
//!
//! A typical flow:
//! 1. A VMO operation (read, write, COMMIT, a fault...) runs under its
//!    family lock and reaches a page its paged root has not been supplied
//!    (`Content::Missing` of the copy-on-write tree). It records its progress,
//!    asks the source for a ticket on that page (`PageSource::wait_for`)
//!    and returns "wait for this ticket".
//! 2. The source joins the ticket to the outstanding request covering the
//!    page, or creates a request for the maximal missing run (clipped where
//!    the next outstanding request starts, so ranges are requested once)
//!    and queues its READ packet.
//! 3. The caller drops every lock, waits on the ticket through the
//!    platform's [`Waiter`], and retries the operation from where it
//!    stopped.
//! 4. Meanwhile the pager supplies pages (or fails them, or the VMO is
//!    detached, or the pager closes, or the VMO shrinks). Whoever changes
//!    the family tells the source (`PageSource::filled`,
//!    `fail`, `detach`, `truncate`)
//!    under the family lock; the source resolves the tickets that can go
//!    on and flags a wake-up, which the VMO layer delivers with
//!    [`Waiter::wake_all`] once the lock is dropped.
//!
//! There are two kinds of request, tracked the same way: READ (supply these
//! pages) and, for TRAP_DIRTY VMOs, DIRTY (approve the first write to these
//! Clean pages or zero ranges, digest §3.1). A READ request is resolved by
//! supply (or zeroing, which supplies zeros), a DIRTY request by
//! `ZX_PAGER_OP_DIRTY`; either by FAIL, detach, pager close and a shrinking
//! resize, and a DIRTY request also when its pages go missing again (the
//! waiting write then asks for them to be read first). A request tracks its
//! *front*, the first page not resolved yet: a ticket wakes when the front
//! passes its page (*early wake*: an operation takes the supplied prefix
//! and waits again on the same request, with no new packet), when the
//! whole request is resolved, or when it fails. A FAIL covering the front
//! fails the request and every ticket on it; a FAIL further in is recorded
//! for the tickets waiting on those pages, which get it once the request
//! completes, while operations that arrive there later retry and ask
//! again (Zircon's FailOverlapRequest). A request supplied before the pager
//! has read its packet is withdrawn from the port.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicI32, Ordering};

use crate::page_list::{DirtyState, Entry, PageList};
use crate::platform::Waiter;
use crate::Status;

/// `zx_packet_page_request_t.command` (digest §1.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum PagerCommand {
    /// `ZX_PAGER_VMO_READ`: supply the range.
    Read = 0,
    /// `ZX_PAGER_VMO_COMPLETE`: the VMO will ask for nothing more.
    Complete = 1,
    /// `ZX_PAGER_VMO_DIRTY`: acknowledge a write to the range.
    Dirty = 2,
}

/// A page-request packet's payload: byte offset and length in the root
/// pager VMO, page-aligned (0 and 0 for COMPLETE).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PageRequestPacket {
    pub command: PagerCommand,
    pub offset: u64,
    pub length: u64,
}

/// Where a pager's packets go: a port (the zx layer's `Port` implements
/// it). Called with the family lock held, so an implementation takes only
/// locks that are leaves of the lock order and never blocks.
pub trait PagerPort: Send + Sync {
    /// Queues `packet` with the VMO's `key`; returns an id for
    /// [`PagerPort::cancel_page_request`]. A READ or DIRTY packet wakes no
    /// one: vm-core wakes the platform's waiter once it has dropped the
    /// family lock (a pager woken under it would only spin on that lock to
    /// supply). A COMPLETE packet, which may be queued as the family goes,
    /// wakes the port's readers itself.
    fn queue_page_request(&self, key: u64, packet: PageRequestPacket) -> u64;
    /// Withdraws packet `id` if no one has dequeued it yet.
    fn cancel_page_request(&self, id: u64);
}

const WAITING: i32 = 1;
const RETRY: i32 = 0;

/// What an operation blocked on a missing page waits on.
pub(crate) struct Ticket {
    /// [`WAITING`], [`RETRY`], or a failure's raw status (negative).
    state: AtomicI32,
}

impl Ticket {
    fn new() -> Arc<Ticket> {
        Arc::new(Ticket { state: AtomicI32::new(WAITING) })
    }

    fn resolve(&self, result: Result<(), Status>) {
        let value = match result {
            Ok(()) => RETRY,
            Err(status) => status.into_raw(),
        };
        self.state.store(value, Ordering::Release);
    }

    /// Waits, holding no lock, until the ticket is resolved: `Ok` to retry
    /// the operation, or the status it fails with.
    pub fn wait(&self, waiter: &dyn Waiter) -> Result<(), Status> {
        waiter.wait_until(&|| self.state.load(Ordering::Acquire) != WAITING);
        match self.state.load(Ordering::Acquire) {
            RETRY => Ok(()),
            raw => Err(Status::from_raw(raw).unwrap_or(Status::Internal)),
        }
    }
}

/// A ticket waiting on one page of a request.
struct Waiting {
    page: u64,
    ticket: Arc<Ticket>,
    /// A FAIL of this page that reached the request while it was not at
    /// the front: delivered when the request completes.
    failed: Option<Status>,
}

/// An outstanding request; its start is its front (see the module docs),
/// by which its set keys it.
struct Request {
    /// One past its last page.
    end: u64,
    /// Pages from the front on that are neither resolved nor failed.
    unresolved: u64,
    /// Page ranges failed while not at the front.
    failed: Vec<(u64, u64)>,
    /// The port packet that asked for it.
    packet: u64,
    waiters: Vec<Waiting>,
}

/// Counts the pages of `[start, end)` a request still has to resolve, given
/// its failed ranges.
type Remaining<'a> = &'a dyn Fn(u64, u64, &[(u64, u64)]) -> u64;

/// The outstanding requests of one command, by front.
struct Requests {
    command: PagerCommand,
    map: BTreeMap<u64, Request>,
}

fn overlap(a: (u64, u64), b: (u64, u64)) -> u64 {
    a.1.min(b.1).saturating_sub(a.0.max(b.0))
}

/// `a` minus `b`, as up to two ranges.
fn subtract(a: (u64, u64), b: (u64, u64)) -> impl Iterator<Item = (u64, u64)> {
    [(a.0, a.1.min(b.0)), (a.0.max(b.1), a.1)].into_iter().filter(|r| r.0 < r.1)
}

/// Whether a READ request no longer needs root page `index`: it has content.
fn read_done(pages: &PageList, index: u64) -> bool {
    !pages.get(index).is_empty()
}

/// Whether a DIRTY request no longer needs root page `index`: it is a Dirty
/// page, or it went missing (the write must read it first).
fn dirty_done(pages: &PageList, index: u64) -> bool {
    matches!(pages.get(index), Entry::Empty | Entry::Page { state: DirtyState::Dirty, .. })
}

/// What a source does with resolved tickets and withdrawn packets while it
/// changes its requests.
struct Effects<'a> {
    port: &'a dyn PagerPort,
    wake: &'a mut bool,
}

impl Effects<'_> {
    fn resolve(&mut self, waiting: Waiting, result: Result<(), Status>) {
        waiting.ticket.resolve(result);
        *self.wake = true;
    }
}

impl Requests {
    fn new(command: PagerCommand) -> Requests {
        Requests { command, map: BTreeMap::new() }
    }

    fn waiters(&self) -> usize {
        self.map.values().map(|r| r.waiters.len()).sum()
    }

    /// The keys of the requests overlapping `[start, end)`.
    fn overlapping(&self, start: u64, end: u64) -> Vec<u64> {
        let before = self.map.range(..start).next_back().filter(|(_, r)| r.end > start);
        before.into_iter().chain(self.map.range(start..end)).map(|(&k, _)| k).collect()
    }

    /// Joins `waiting` to the request covering its page, or makes a request
    /// for `[page, run_end)` up to the next outstanding one and queues its
    /// packet through `port` with `key`; returns whether it queued one.
    fn join_or_request(&mut self, waiting: Waiting, run_end: u64, port: &dyn PagerPort, key: u64) -> bool {
        let page = waiting.page;
        if let Some((_, request)) = self.map.range_mut(..=page).next_back().filter(|(_, r)| r.end > page) {
            request.waiters.push(waiting);
            return false;
        }
        let end = self.map.range(page..).next().map_or(run_end, |(&start, _)| start.min(run_end));
        let packet = PageRequestPacket {
            command: self.command,
            offset: page * crate::PAGE_SIZE,
            length: (end - page) * crate::PAGE_SIZE,
        };
        let packet = port.queue_page_request(key, packet);
        let request =
            Request { end, unresolved: end - page, failed: Vec::new(), packet, waiters: vec![waiting] };
        self.map.insert(page, request);
        true
    }

    /// Pages `[start, end)`, none of them resolved before, are resolved now
    /// (`done` tells, page by page, what is): fronts advance, waking the
    /// tickets they pass, and requests with nothing left complete.
    fn resolved(&mut self, start: u64, end: u64, done: &dyn Fn(u64) -> bool, fx: &mut Effects) {
        for key in self.overlapping(start, end) {
            let mut request = self.map.remove(&key).expect("an overlapping request");
            let failed: u64 = request.failed.iter().map(|&f| overlap(f, (start, end))).sum();
            request.unresolved -= overlap((key, request.end), (start, end)) - failed;
            let mut front = key;
            while front < request.end && done(front) {
                front += 1;
            }
            self.reinsert(front, request, fx);
        }
    }

    /// Pages `[start, end)` need resolving again (they were resolved and
    /// went missing): requests count them back in.
    fn unresolved(&mut self, start: u64, end: u64) {
        for key in self.overlapping(start, end) {
            let request = self.map.get_mut(&key).expect("an overlapping request");
            let failed: u64 = request.failed.iter().map(|&f| overlap(f, (start, end))).sum();
            request.unresolved += overlap((key, request.end), (start, end)) - failed;
        }
    }

    /// Completes every request overlapping `[start, end)` at once, waking
    /// its tickets to retry (a DIRTY request whose pages went missing).
    fn release(&mut self, start: u64, end: u64, fx: &mut Effects) {
        for key in self.overlapping(start, end) {
            let request = self.map.remove(&key).expect("an overlapping request");
            fx.port.cancel_page_request(request.packet);
            for w in request.waiters {
                fx.resolve(w, Ok(()));
            }
        }
    }

    /// ZX_PAGER_OP_FAIL of `[start, end)` (see the module docs);
    /// `remaining` counts what is still to resolve in a range.
    fn fail(&mut self, start: u64, end: u64, status: Status, remaining: Remaining, fx: &mut Effects) {
        for key in self.overlapping(start, end) {
            let mut request = self.map.remove(&key).expect("an overlapping request");
            if (start..end).contains(&key) {
                fx.port.cancel_page_request(request.packet);
                for w in request.waiters {
                    fx.resolve(w, Err(status));
                }
                continue;
            }
            let (s, e) = (start.max(key), end.min(request.end));
            let mut fresh = vec![(s, e)];
            for &failed in &request.failed {
                fresh = fresh.into_iter().flat_map(|r| subtract(r, failed)).collect();
            }
            request.failed.extend(fresh);
            request.unresolved = remaining(key, request.end, &request.failed);
            for w in request.waiters.iter_mut().filter(|w| (s..e).contains(&w.page)) {
                w.failed.get_or_insert(status);
            }
            self.reinsert(key, request, fx);
        }
    }

    /// The VMO shrank to `size` pages (see [`PageSource::truncate`]).
    fn truncate(&mut self, size: u64, remaining: Remaining, fx: &mut Effects) {
        for key in self.overlapping(size, u64::MAX) {
            let mut request = self.map.remove(&key).expect("an overlapping request");
            let (beyond, within): (Vec<Waiting>, Vec<Waiting>) =
                request.waiters.drain(..).partition(|w| w.page >= size);
            for w in beyond {
                fx.resolve(w, Err(Status::OutOfRange));
            }
            if key >= size {
                fx.port.cancel_page_request(request.packet);
                continue;
            }
            request.waiters = within;
            request.end = size;
            request.failed.retain_mut(|f| {
                f.1 = f.1.min(size);
                f.0 < f.1
            });
            request.unresolved = remaining(key, size, &request.failed);
            self.reinsert(key, request, fx);
        }
    }

    /// Withdraws every request, failing its tickets with `status`.
    fn clear(&mut self, status: Status, fx: &mut Effects) {
        for (_, request) in core::mem::take(&mut self.map) {
            fx.port.cancel_page_request(request.packet);
            for w in request.waiters {
                fx.resolve(w, Err(status));
            }
        }
    }

    /// Puts `request` back keyed by its (possibly advanced) `front`, waking
    /// the tickets it passed, or completes it when nothing is unresolved.
    fn reinsert(&mut self, front: u64, mut request: Request, fx: &mut Effects) {
        if request.unresolved == 0 || front >= request.end {
            fx.port.cancel_page_request(request.packet);
            for w in request.waiters {
                let result = w.failed.map_or(Ok(()), Err);
                fx.resolve(w, result);
            }
            return;
        }
        let (passed, waiting): (Vec<Waiting>, Vec<Waiting>) =
            request.waiters.drain(..).partition(|w| w.page < front && w.failed.is_none());
        for w in passed {
            fx.resolve(w, Ok(()));
        }
        request.waiters = waiting;
        request.failed.retain(|f| f.1 > front);
        self.map.insert(front, request);
    }
}

/// Whether the source still has a pager (digest §2.1, §2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Attachment {
    Attached,
    /// `zx_pager_detach_vmo`: COMPLETE was sent.
    Detached,
    /// The pager's last handle closed: no more packets of any kind.
    PagerClosed,
}

/// The request tracking and dirty bookkeeping of one pager family (see the
/// module docs). Page indices are the root's.
pub(crate) struct PageSource {
    port: Arc<dyn PagerPort>,
    key: u64,
    /// The pager that created the VMO (its koid).
    pager: u64,
    /// Created with TRAP_DIRTY: first writes wait for the pager's approval.
    trap_dirty: bool,
    /// Written since the last stats reset (`ZX_PAGER_VMO_STATS_MODIFIED`).
    modified: bool,
    attachment: Attachment,
    reads: Requests,
    dirties: Requests,
    /// Tickets were resolved since the last [`PageSource::take_wake`].
    wake: bool,
}

/// The pages of `[start, end)` that `done` does not count and that are not
/// in one of the (disjoint) `failed` ranges.
fn count_remaining(start: u64, end: u64, failed: &[(u64, u64)], done: &dyn Fn(u64) -> bool) -> u64 {
    (start..end).filter(|&i| !done(i) && !failed.iter().any(|f| (f.0..f.1).contains(&i))).count() as u64
}

impl PageSource {
    pub fn new(port: Arc<dyn PagerPort>, key: u64, pager: u64, trap_dirty: bool) -> PageSource {
        PageSource {
            port,
            key,
            pager,
            trap_dirty,
            modified: false,
            attachment: Attachment::Attached,
            reads: Requests::new(PagerCommand::Read),
            dirties: Requests::new(PagerCommand::Dirty),
            wake: false,
        }
    }

    /// The koid of the pager that created the VMO.
    pub fn pager(&self) -> u64 {
        self.pager
    }

    /// Whether first writes need the pager's approval (TRAP_DIRTY).
    pub fn traps_dirty(&self) -> bool {
        self.trap_dirty
    }

    /// Whether the pager can still be asked for pages.
    pub fn is_attached(&self) -> bool {
        self.attachment == Attachment::Attached
    }

    /// Notes a modification (digest §2.7).
    pub fn set_modified(&mut self) {
        self.modified = true;
    }

    /// Whether the VMO was modified since the last reset; resets if asked.
    pub fn modified(&mut self, reset: bool) -> bool {
        let modified = self.modified;
        if reset {
            self.modified = false;
        }
        modified
    }

    /// How many operations wait on outstanding requests.
    pub fn waiters(&self) -> usize {
        self.reads.waiters() + self.dirties.waiters()
    }

    /// Whether a wake-up is due, clearing the flag.
    pub fn take_wake(&mut self) -> bool {
        core::mem::take(&mut self.wake)
    }

    fn effects(&mut self) -> (Effects<'_>, &mut Requests, &mut Requests) {
        (Effects { port: &*self.port, wake: &mut self.wake }, &mut self.reads, &mut self.dirties)
    }

    /// A ticket for root page `page`, the first of the missing run
    /// `[page, run_end)`: joined to the outstanding READ request covering
    /// `page`, or to a new one for the run up to the next outstanding
    /// request, whose packet is queued. BAD_STATE once the pager is gone.
    pub fn wait_for(&mut self, page: u64, run_end: u64) -> Result<Arc<Ticket>, Status> {
        self.wait_on(PagerCommand::Read, page, run_end)
    }

    /// [`PageSource::wait_for`] for a DIRTY request: `[page, run_end)` are
    /// Clean pages or zero ranges a write must have approved.
    pub fn wait_for_dirty(&mut self, page: u64, run_end: u64) -> Result<Arc<Ticket>, Status> {
        self.wait_on(PagerCommand::Dirty, page, run_end)
    }

    fn wait_on(&mut self, command: PagerCommand, page: u64, run_end: u64) -> Result<Arc<Ticket>, Status> {
        if !self.is_attached() {
            return Err(Status::BadState);
        }
        let ticket = Ticket::new();
        let waiting = Waiting { page, ticket: ticket.clone(), failed: None };
        let requests = if command == PagerCommand::Read { &mut self.reads } else { &mut self.dirties };
        // A queued packet's reader is woken once the family lock is dropped.
        self.wake |= requests.join_or_request(waiting, run_end, &*self.port, self.key);
        Ok(ticket)
    }

    /// Root pages `[start, end)`, all missing before, now have content
    /// (`pages` is the root's list, already updated): READ requests advance
    /// their fronts and wake the tickets passed, and complete when nothing
    /// is left to resolve.
    pub fn filled(&mut self, start: u64, end: u64, pages: &PageList) {
        let (mut fx, reads, _) = self.effects();
        reads.resolved(start, end, &|i| read_done(pages, i), &mut fx);
    }

    /// Root pages `[start, end)`, none Dirty before, are Dirty now
    /// (ZX_PAGER_OP_DIRTY): the DIRTY requests there are resolved as
    /// [`PageSource::filled`] resolves READs.
    pub fn dirtied(&mut self, start: u64, end: u64, pages: &PageList) {
        let (mut fx, _, dirties) = self.effects();
        dirties.resolved(start, end, &|i| dirty_done(pages, i), &mut fx);
    }

    /// Root pages `[start, end)`, which had content, are missing again (a
    /// written-back zero range became a gap, or the pages were evicted): READ
    /// requests still waiting for them count them back in. A DIRTY request
    /// there stays until the pager answers it; see
    /// [`PageSource::release_dirty`].
    pub fn emptied(&mut self, start: u64, end: u64) {
        self.reads.unresolved(start, end);
    }

    /// A `ZX_PAGER_OP_DIRTY` of `[start, end)` failed (NOT_FOUND over a
    /// page gone missing, detached, no memory...): the DIRTY requests there
    /// end, so their writes retry and ask again, for a READ first where the
    /// page is missing (Zircon's DelayedDirtyNotFound).
    pub fn release_dirty(&mut self, start: u64, end: u64) {
        let (mut fx, _, dirties) = self.effects();
        dirties.release(start, end, &mut fx);
    }

    /// Fails root pages `[start, end)` with `status` (ZX_PAGER_OP_FAIL), for
    /// READ and DIRTY requests alike: a request whose front is in the range
    /// fails with every ticket on it; one that merely overlaps records the
    /// failure (see the module docs).
    pub fn fail(&mut self, start: u64, end: u64, status: Status, pages: &PageList) {
        let (mut fx, reads, dirties) = self.effects();
        reads.fail(start, end, status, &|s, e, f| remaining_reads(pages, s, e, f), &mut fx);
        dirties.fail(
            start,
            end,
            status,
            &|s, e, f| count_remaining(s, e, f, &|i| dirty_done(pages, i)),
            &mut fx,
        );
    }

    /// The VMO shrank to `size` pages: tickets beyond fail with
    /// OUT_OF_RANGE and requests there are withdrawn or cut short
    /// (digest §2.15 rule 5).
    pub fn truncate(&mut self, size: u64, pages: &PageList) {
        let (mut fx, reads, dirties) = self.effects();
        reads.truncate(size, &|s, e, f| remaining_reads(pages, s, e, f), &mut fx);
        dirties.truncate(size, &|s, e, f| count_remaining(s, e, f, &|i| dirty_done(pages, i)), &mut fx);
    }

    /// Detaches the source from its pager (`pager_closed` false: detach,
    /// which queues COMPLETE; true: the pager's last handle closed, after
    /// which nothing is sent). Every ticket fails with BAD_STATE and every
    /// unread request packet is withdrawn.
    pub fn detach(&mut self, pager_closed: bool) {
        if self.attachment == Attachment::PagerClosed {
            return;
        }
        let (mut fx, reads, dirties) = self.effects();
        reads.clear(Status::BadState, &mut fx);
        dirties.clear(Status::BadState, &mut fx);
        if pager_closed {
            self.attachment = Attachment::PagerClosed;
        } else if self.attachment == Attachment::Attached {
            self.attachment = Attachment::Detached;
            self.send_complete();
        }
    }

    fn send_complete(&self) {
        let complete = PageRequestPacket { command: PagerCommand::Complete, offset: 0, length: 0 };
        let _id = self.port.queue_page_request(self.key, complete);
    }
}

/// The pages of `[start, end)` a READ request still needs: neither present
/// in `pages` nor failed. O(populated slots), unlike a page-by-page count.
fn remaining_reads(pages: &PageList, start: u64, end: u64, failed: &[(u64, u64)]) -> u64 {
    pages
        .gaps(start, end)
        .into_iter()
        .map(|gap| gap.1 - gap.0 - failed.iter().map(|&f| overlap(gap, f)).sum::<u64>())
        .sum()
}

impl Drop for PageSource {
    /// The family's last VMO is gone: the pager hears COMPLETE (digest
    /// §2.15), unless it was detached (it heard it then) or closed.
    fn drop(&mut self) {
        if self.is_attached() {
            self.send_complete();
        }
    }
}
