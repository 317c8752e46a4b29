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
//! Requests are resolved only by supply (or zeroing, which supplies zeros),
//! FAIL, detach, pager close and a shrinking resize. A request tracks its
//! *front*, the first page not supplied yet: a ticket wakes when the front
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

use crate::page_list::PageList;
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
    /// [`PagerPort::cancel_page_request`].
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

/// An outstanding READ request; its start is its front (see the module
/// docs), by which the source keys it.
struct Request {
    /// One past its last page.
    end: u64,
    /// Pages from the front on that are neither supplied nor failed.
    unresolved: u64,
    /// Page ranges failed while not at the front.
    failed: Vec<(u64, u64)>,
    /// The port packet that asked for it.
    packet: u64,
    waiters: Vec<Waiting>,
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

/// The request tracking of one pager family (see the module docs). Page
/// indices are the root's.
pub(crate) struct PageSource {
    port: Arc<dyn PagerPort>,
    key: u64,
    /// The pager that created the VMO (its koid).
    pager: u64,
    attachment: Attachment,
    requests: BTreeMap<u64, Request>,
    /// Tickets were resolved since the last [`PageSource::take_wake`].
    wake: bool,
}

fn overlap(a: (u64, u64), b: (u64, u64)) -> u64 {
    a.1.min(b.1).saturating_sub(a.0.max(b.0))
}

impl PageSource {
    pub fn new(port: Arc<dyn PagerPort>, key: u64, pager: u64) -> PageSource {
        PageSource {
            port,
            key,
            pager,
            attachment: Attachment::Attached,
            requests: BTreeMap::new(),
            wake: false,
        }
    }

    /// The koid of the pager that created the VMO.
    pub fn pager(&self) -> u64 {
        self.pager
    }

    /// Whether the pager can still be asked for pages.
    pub fn is_attached(&self) -> bool {
        self.attachment == Attachment::Attached
    }

    /// How many operations wait on outstanding requests.
    pub fn waiters(&self) -> usize {
        self.requests.values().map(|r| r.waiters.len()).sum()
    }

    /// Whether a wake-up is due, clearing the flag.
    pub fn take_wake(&mut self) -> bool {
        core::mem::take(&mut self.wake)
    }

    /// A ticket for root page `page`, the first of the missing run
    /// `[page, run_end)`: joined to the outstanding request covering `page`,
    /// or to a new request for the run up to the next outstanding one,
    /// whose READ packet is queued. BAD_STATE once the pager is gone.
    pub fn wait_for(&mut self, page: u64, run_end: u64) -> Result<Arc<Ticket>, Status> {
        if !self.is_attached() {
            return Err(Status::BadState);
        }
        let ticket = Ticket::new();
        let waiting = Waiting { page, ticket: ticket.clone(), failed: None };
        if let Some((_, request)) = self.requests.range_mut(..=page).next_back().filter(|(_, r)| r.end > page)
        {
            request.waiters.push(waiting);
            return Ok(ticket);
        }
        let end = self.requests.range(page..).next().map_or(run_end, |(&start, _)| start.min(run_end));
        let packet = PageRequestPacket {
            command: PagerCommand::Read,
            offset: page * crate::PAGE_SIZE,
            length: (end - page) * crate::PAGE_SIZE,
        };
        let packet = self.port.queue_page_request(self.key, packet);
        let request =
            Request { end, unresolved: end - page, failed: Vec::new(), packet, waiters: vec![waiting] };
        self.requests.insert(page, request);
        Ok(ticket)
    }

    /// Root pages `[start, end)`, all missing before, now have content
    /// (`pages` is the root's list, already updated): requests advance their
    /// fronts and wake the tickets passed, and complete when nothing is left
    /// to resolve.
    pub fn filled(&mut self, start: u64, end: u64, pages: &PageList) {
        let keys: Vec<u64> = self.overlapping(start, end);
        for key in keys {
            let mut request = self.requests.remove(&key).expect("an overlapping request");
            let failed: u64 = request.failed.iter().map(|&f| overlap(f, (start, end))).sum();
            request.unresolved -= overlap((key, request.end), (start, end)) - failed;
            let mut front = key;
            while front < request.end && !pages.get(front).is_empty() {
                front += 1;
            }
            self.reinsert(front, request);
        }
    }

    /// Fails root pages `[start, end)` with `status` (ZX_PAGER_OP_FAIL): a
    /// request whose front is in the range fails with every ticket on it;
    /// one that merely overlaps records the failure (see the module docs).
    pub fn fail(&mut self, start: u64, end: u64, status: Status, pages: &PageList) {
        for key in self.overlapping(start, end) {
            let mut request = self.requests.remove(&key).expect("an overlapping request");
            if (start..end).contains(&key) {
                self.port.cancel_page_request(request.packet);
                for w in request.waiters {
                    w.ticket.resolve(Err(status));
                }
                self.wake = true;
                continue;
            }
            let (s, e) = (start.max(key), end.min(request.end));
            let mut fresh = vec![(s, e)];
            for &failed in &request.failed {
                fresh = fresh.into_iter().flat_map(|r| subtract(r, failed)).collect();
            }
            request.failed.extend(fresh);
            request.unresolved = unresolved(key, request.end, &request.failed, pages);
            for w in request.waiters.iter_mut().filter(|w| (s..e).contains(&w.page)) {
                w.failed.get_or_insert(status);
            }
            self.reinsert(key, request);
        }
    }

    /// The VMO shrank to `pages` pages: tickets beyond fail with
    /// OUT_OF_RANGE and requests there are withdrawn or cut short
    /// (digest §2.15 rule 5).
    pub fn truncate(&mut self, size: u64, pages: &PageList) {
        for key in self.overlapping(size, u64::MAX) {
            let mut request = self.requests.remove(&key).expect("an overlapping request");
            let (beyond, within): (Vec<Waiting>, Vec<Waiting>) =
                request.waiters.drain(..).partition(|w| w.page >= size);
            for w in beyond {
                w.ticket.resolve(Err(Status::OutOfRange));
                self.wake = true;
            }
            if key >= size {
                self.port.cancel_page_request(request.packet);
                continue;
            }
            request.waiters = within;
            request.end = size;
            request.failed.retain_mut(|f| {
                f.1 = f.1.min(size);
                f.0 < f.1
            });
            request.unresolved = unresolved(key, size, &request.failed, pages);
            self.reinsert(key, request);
        }
    }

    /// Detaches the source from its pager (`pager_closed` false: detach,
    /// which queues COMPLETE; true: the pager's last handle closed, after
    /// which nothing is sent). Every ticket fails with BAD_STATE and every
    /// unread request packet is withdrawn.
    pub fn detach(&mut self, pager_closed: bool) {
        if self.attachment == Attachment::PagerClosed {
            return;
        }
        for (_, request) in core::mem::take(&mut self.requests) {
            self.port.cancel_page_request(request.packet);
            for w in request.waiters {
                w.ticket.resolve(Err(Status::BadState));
                self.wake = true;
            }
        }
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

    /// The keys of the requests overlapping `[start, end)`.
    fn overlapping(&self, start: u64, end: u64) -> Vec<u64> {
        let before = self.requests.range(..start).next_back().filter(|(_, r)| r.end > start);
        before.into_iter().chain(self.requests.range(start..end)).map(|(&k, _)| k).collect()
    }

    /// Puts `request` back keyed by its (possibly advanced) `front`, waking
    /// the tickets it passed, or completes it when nothing is unresolved.
    fn reinsert(&mut self, front: u64, mut request: Request) {
        if request.unresolved == 0 || front >= request.end {
            self.port.cancel_page_request(request.packet);
            for w in request.waiters {
                w.ticket.resolve(w.failed.map_or(Ok(()), Err));
                self.wake = true;
            }
            return;
        }
        let (passed, waiting): (Vec<Waiting>, Vec<Waiting>) =
            request.waiters.drain(..).partition(|w| w.page < front && w.failed.is_none());
        for w in passed {
            w.ticket.resolve(Ok(()));
            self.wake = true;
        }
        request.waiters = waiting;
        request.failed.retain(|f| f.1 > front);
        self.requests.insert(front, request);
    }
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

/// `a` minus `b`, as up to two ranges.
fn subtract(a: (u64, u64), b: (u64, u64)) -> impl Iterator<Item = (u64, u64)> {
    [(a.0, a.1.min(b.0)), (a.0.max(b.1), a.1)].into_iter().filter(|r| r.0 < r.1)
}

/// The pages of `[start, end)` that are neither present in `pages` nor in
/// one of the (disjoint) `failed` ranges.
fn unresolved(start: u64, end: u64, failed: &[(u64, u64)], pages: &PageList) -> u64 {
    pages
        .gaps(start, end)
        .into_iter()
        .map(|gap| gap.1 - gap.0 - failed.iter().map(|&f| overlap(gap, f)).sum::<u64>())
        .sum()
}
