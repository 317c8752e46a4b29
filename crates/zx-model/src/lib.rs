//! Model-based checking of the zx layer: a sequence of calls ([`Op`]) runs
//! against the real `Zx` over vm-core's mocks (`harness`) and against a
//! plain model of contents and dirty state (`model`). Each call's status
//! must be one the spec allows for it; what a call changes, the model
//! changes too; every few calls, and at the end, every open VMO is read
//! whole (with `vmo_read` and a load of each page through its mapping) and
//! compared, and every pager VMO's dirty ranges (with their zero flags)
//! and disk too. The writeback runs whole, or split into its BEGIN half
//! and its END so that the calls between race it (a write to an
//! AwaitingClean page must stay dirty). At the end every handle is closed
//! and every frame must be back.
//!
//! The same sequences come from proptest (`tests/model.rs`, which shrinks a
//! failing one), from the soak run (`cargo xtask soak`) and from the fuzz
//! target (`fuzz/`), all through [`run_bytes`].

mod harness;
mod model;
pub mod ops;

use arbitrary::Unstructured;
use std::collections::BTreeSet;
use zx::ops::{ZX_PAGER_OP_FAIL, ZX_VMO_OP_COMMIT, ZX_VMO_OP_DECOMMIT, ZX_VMO_OP_ZERO};
use zx::options::*;
use zx::{Handle, Rights, Status};

use harness::Harness;
use model::{Body, HandleModel, Model, Node};
pub use ops::{ChildKind, Op, RangeOp};

/// The page size.
pub const P: u64 = 4096;

/// The most pages a VMO is created or resized with.
const MAX_PAGES: u64 = 6;

/// The most handles a sequence opens; later creations are skipped.
const MAX_HANDLES: usize = 12;

/// Whether [`run`] prints each call with the open handles (for reading a
/// minimized failure).
pub static TRACE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The statuses [`Op::Fail`] passes: the five `pager_op_range.md` allows,
/// then two it refuses with INVALID_ARGS (a status outside them, and a
/// value that is no status).
pub const FAIL_STATUSES: [u64; 7] = [
    Status::Io.into_raw() as i64 as u64,
    Status::IoDataIntegrity.into_raw() as i64 as u64,
    Status::BadState.into_raw() as i64 as u64,
    Status::NoSpace.into_raw() as i64 as u64,
    Status::BufferTooSmall.into_raw() as i64 as u64,
    Status::Internal.into_raw() as i64 as u64,
    0x11_ffff_ffff,
];

/// Every how many calls everything is compared.
const CHECK_EVERY: usize = 8;

/// The calls `bytes` decode to.
pub fn decode(bytes: &[u8]) -> Vec<Op> {
    let mut u = Unstructured::new(bytes);
    let mut ops = Vec::new();
    while !u.is_empty() {
        match u.arbitrary::<Op>() {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    ops
}

/// A smallest subsequence of the failing `ops` that still fails: calls are
/// dropped one at a time while the rest keeps failing.
pub fn minimize(mut ops: Vec<Op>) -> Vec<Op> {
    let mut i = 0;
    while i < ops.len() {
        let mut fewer = ops.clone();
        fewer.remove(i);
        if run(&fewer).is_err() {
            ops = fewer;
        } else {
            i += 1;
        }
    }
    ops
}

/// `len` pseudo-random bytes from `seed` (xorshift), the input of sequence
/// `seed` of the soak and of the heap check.
pub fn seeded_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Decodes `bytes` into calls and runs them ([`run`]).
pub fn run_bytes(bytes: &[u8]) -> Result<(), String> {
    run(&decode(bytes))
}

/// Runs `ops`; `Err` names the first call whose result, or the first
/// state, differs from the model's, or the panic the sequence caused.
pub fn run(ops: &[Op]) -> Result<(), String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_checked(ops))).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned());
        Err(format!("panicked: {}", what.unwrap_or_default()))
    })
}

fn run_checked(ops: &[Op]) -> Result<(), String> {
    let mut run = Run { h: Harness::new(), m: Model::default(), real: Vec::new(), keys: Vec::new() };
    let mut result = Ok(());
    for (i, op) in ops.iter().enumerate() {
        result = run.step(op).and_then(|()| if i % CHECK_EVERY == 0 { run.check_all() } else { Ok(()) });
        if let Err(why) = result {
            result = Err(format!("call {i} ({op:?}): {why}"));
            break;
        }
    }
    if result.is_ok() {
        result = run.check_all().map_err(|why| format!("at the end: {why}"));
    }
    run.close_all();
    let Run { h, .. } = run;
    result.and(h.finish())
}

/// A running sequence: the real handles (with their mappings) beside the
/// model's.
struct Run {
    h: Harness,
    m: Model,
    /// Per model handle: the real handle and its mapping's address.
    real: Vec<(Handle, u64)>,
    /// Per model node: the pager key of a pager VMO.
    keys: Vec<Option<u64>>,
}

/// The pages `[offset, offset + len)` touches.
fn pages(offset: u64, len: u64) -> std::ops::Range<u64> {
    offset / P..if len == 0 { offset / P } else { (offset + len).div_ceil(P) }
}

/// Where a write or commit needs a pager that is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Blocked {
    /// Nowhere: it succeeds.
    Nowhere,
    /// At its first page: it fails with BAD_STATE, having changed nothing.
    First,
    /// Later: it fails with BAD_STATE after changing the pages before, which
    /// the model does not follow, so the call is not made.
    Later,
}

/// `Ok` if `got` is one of `allowed`.
fn expect(got: Result<(), Status>, allowed: &[Result<(), Status>]) -> Result<(), String> {
    if allowed.contains(&got) {
        Ok(())
    } else {
        Err(format!("returned {got:?}, the spec allows {allowed:?}"))
    }
}

/// `[offset, offset + len)` from raw numbers: mostly inside `size`, now
/// and then past it.
fn range(size: u64, offset: u16, len: u16) -> (u64, u64) {
    (offset as u64 % (size + P / 2 + 1), len as u64 % (2 * P + 1))
}

impl Run {
    /// The open handle `raw` picks, if any.
    fn pick(&self, raw: u8) -> Option<usize> {
        let open: Vec<usize> = (0..self.m.handles.len()).filter(|&i| self.m.handles[i].open).collect();
        (!open.is_empty()).then(|| open[raw as usize % open.len()])
    }

    /// The node and key of the pager VMO the handle `raw` picks, if it picks
    /// one.
    fn pick_pager(&self, raw: u8) -> Option<(usize, u64)> {
        let node = self.m.handles[self.pick(raw)?].node;
        Some((node, self.keys[node]?))
    }

    /// The open, mapped handle `raw` picks, and an offset in its mapping.
    fn pick_mapped(&self, raw: u8, offset: u16) -> Option<(usize, u64)> {
        let h = self.pick(raw)?;
        let mapped = self.m.handles[h].mapped;
        (mapped != 0).then(|| (h, offset as u64 % mapped))
    }

    fn size(&self, handle: usize) -> u64 {
        self.m.nodes[self.m.handles[handle].node].size
    }

    /// Records a new handle of `node` with `rights`, mapped whole (with
    /// WRITE if it has it) when the node has a size.
    fn add_handle(&mut self, real: Handle, node: usize, write: bool, resize: bool) -> Result<(), String> {
        let size = self.m.nodes[node].size;
        let perms = ZX_VM_PERM_READ | if write { ZX_VM_PERM_WRITE } else { 0 };
        let va = if size == 0 {
            0
        } else {
            let root = self.h.zx.root_vmar();
            self.h.zx.vmar_map(root, perms, 0, real, 0, size).map_err(|s| format!("vmar_map: {s:?}"))?
        };
        self.m.handles.push(HandleModel { node, write, resize, mapped: size, open: true });
        self.real.push((real, va));
        Ok(())
    }

    fn add_node(&mut self, node: Node, key: Option<u64>) -> usize {
        self.m.nodes.push(node);
        self.keys.push(key);
        self.m.nodes.len() - 1
    }

    fn step(&mut self, op: &Op) -> Result<(), String> {
        if TRACE.load(std::sync::atomic::Ordering::Relaxed) {
            let open: Vec<(usize, usize)> = (0..self.m.handles.len())
                .filter(|&h| self.m.handles[h].open)
                .map(|h| (h, self.m.handles[h].node))
                .collect();
            eprintln!("{op:?}    open (handle, node): {open:?}");
        }
        let full = self.m.handles.iter().filter(|h| h.open).count() >= MAX_HANDLES;
        match *op {
            Op::CreateAnon { pages, resizable } if !full => {
                let size = pages as u64 % (MAX_PAGES + 1) * P;
                let vmo = self.h.zx.vmo_create(size, if resizable { ZX_VMO_RESIZABLE } else { 0 });
                let vmo = vmo.map_err(|s| format!("vmo_create: {s:?}"))?;
                let node = Node { body: Body::Own(vec![0; size as usize]), size, resizable, cow: false };
                let node = self.add_node(node, None);
                self.add_handle(vmo, node, true, resizable)
            }
            Op::CreatePager { pages, resizable, trap_dirty } if !full => {
                let size = pages as u64 % (MAX_PAGES + 1) * P;
                let key = self.m.nodes.len() as u64 + 1;
                let options = if resizable { ZX_VMO_RESIZABLE } else { 0 }
                    | if trap_dirty { ZX_VMO_TRAP_DIRTY } else { 0 };
                let vmo = self
                    .h
                    .create_pager_vmo(key, options, size)
                    .map_err(|s| format!("pager_create_vmo: {s:?}"))?;
                let disk: Vec<u8> = (0..size).map(|o| model::disk_byte(key, o)).collect();
                let body = Body::Pager {
                    bytes: disk.clone(),
                    disk,
                    dirty: Default::default(),
                    trap: trap_dirty,
                    detached: false,
                };
                let node = self.add_node(Node { body, size, resizable, cow: false }, Some(key));
                self.add_handle(vmo, node, true, resizable)
            }
            Op::CreateChild { parent, kind, offset, pages, resizable, no_write } if !full => {
                let Some(p) = self.pick(parent) else { return Ok(()) };
                self.create_child(
                    p,
                    kind,
                    offset as u64 % (MAX_PAGES + 1) * P,
                    pages as u64 % (MAX_PAGES + 1) * P,
                    resizable,
                    no_write,
                )
            }
            Op::DuplicateReadOnly { handle } if !full => {
                let Some(h) = self.pick(handle) else { return Ok(()) };
                let rights =
                    self.h.zx.object_get_info_handle_basic(self.real[h].0).expect("basic info").rights;
                let dup = self.h.zx.handle_duplicate(self.real[h].0, rights.difference(Rights::WRITE));
                let dup = dup.map_err(|s| format!("handle_duplicate: {s:?}"))?;
                let (node, resize) = (self.m.handles[h].node, self.m.handles[h].resize);
                self.add_handle(dup, node, false, resize)
            }
            Op::Write { handle, offset, len, byte } => {
                let Some(h) = self.pick(handle) else { return Ok(()) };
                let (offset, len) = range(self.size(h), offset, len);
                let data = vec![byte; len as usize];
                let mut allowed = self.write_status(h, offset, len);
                if allowed.is_ok() {
                    match self.blocked(h, pages(offset, len), false) {
                        Blocked::Nowhere => {}
                        Blocked::First => allowed = Err(Status::BadState),
                        Blocked::Later => return Ok(()),
                    }
                }
                let got = self.h.zx.vmo_write(self.real[h].0, &data, offset);
                expect(got, &[allowed])?;
                if got.is_ok() {
                    self.m.write(self.m.handles[h].node, offset, &data);
                }
                Ok(())
            }
            Op::Read { handle, offset, len } => self.read(handle, offset, len, false),
            Op::ReadFailing { handle, offset, len } => self.read(handle, offset, len, true),
            Op::Store { handle, offset, byte } => {
                let Some((h, offset)) = self.pick_mapped(handle, offset) else { return Ok(()) };
                let got = self.h.store(self.real[h].1 + offset, byte);
                let allowed = match (self.m.handles[h].write, offset < self.size(h)) {
                    (false, _) => Err(Status::AccessDenied),
                    (true, false) => Err(Status::OutOfRange),
                    (true, true) if self.blocked(h, pages(offset, 1), false) != Blocked::Nowhere => {
                        Err(Status::BadState)
                    }
                    (true, true) => Ok(()),
                };
                expect(got, &[allowed])?;
                if got.is_ok() {
                    self.m.write(self.m.handles[h].node, offset, &[byte]);
                }
                Ok(())
            }
            Op::Load { handle, offset } => self.load(handle, offset, false),
            Op::LoadFailing { handle, offset } => self.load(handle, offset, true),
            Op::SetSize { handle, pages } => {
                let Some(h) = self.pick(handle) else { return Ok(()) };
                let size = pages as u64 % (MAX_PAGES + 1) * P;
                let got = self.h.zx.vmo_set_size(self.real[h].0, size);
                let node = self.m.handles[h].node;
                // Without WRITE and RESIZE (`zx_vmo_set_size`), ACCESS_DENIED;
                // with them on a VMO that is not resizable, UNAVAILABLE
                // (digest §4.4 ResizeRight, NoResize). A child that is not
                // RESIZABLE may or may not keep its parent handle's RESIZE.
                let rights = self.m.handles[h].resize && self.m.handles[h].write;
                let allowed: &[Result<(), Status>] = match (rights, self.m.nodes[node].resizable) {
                    (false, true) => &[Err(Status::AccessDenied)],
                    (_, false) => &[Err(Status::AccessDenied), Err(Status::Unavailable)],
                    (true, true) => &[Ok(())],
                };
                expect(got, allowed)?;
                if got.is_ok() {
                    self.m.resize(node, size);
                }
                Ok(())
            }
            Op::Range { handle, op, offset, len } => {
                let Some(h) = self.pick(handle) else { return Ok(()) };
                self.range_op(h, op, offset, len)
            }
            Op::Close { handle } => {
                let Some(h) = self.pick(handle) else { return Ok(()) };
                self.close(h);
                Ok(())
            }
            Op::WriteBack { handle } => {
                let Some((node, key)) = self.pick_pager(handle) else { return Ok(()) };
                let size = self.m.nodes[node].size;
                self.check_dirty(node, key)?;
                self.h.begin_write_back(key, size);
                self.h.end_write_back(key, size);
                self.m.writeback_begun(node);
                self.m.writeback_ended(node);
                self.check_dirty(node, key)
            }
            Op::WritebackBegin { handle } => {
                let Some((node, key)) = self.pick_pager(handle) else { return Ok(()) };
                self.check_dirty(node, key)?;
                self.h.begin_write_back(key, self.m.nodes[node].size);
                self.m.writeback_begun(node);
                self.check_dirty(node, key)
            }
            Op::WritebackEnd { handle } => {
                let Some((node, key)) = self.pick_pager(handle) else { return Ok(()) };
                self.h.end_write_back(key, self.m.nodes[node].size);
                self.m.writeback_ended(node);
                self.check_dirty(node, key)
            }
            Op::Fail { handle, page, pages, status } => {
                let Some(h) = self.pick(handle) else { return Ok(()) };
                self.fail(h, page as u64 % (MAX_PAGES + 1), pages as u64 % (MAX_PAGES + 1), status)
            }
            Op::Reclaim => {
                self.h.machine.ctx.reclaim();
                self.m.reclaimed();
                Ok(())
            }
            Op::Detach { handle } => {
                let Some(h) = self.pick(handle) else { return Ok(()) };
                let node = self.m.handles[h].node;
                let got = self.h.zx.pager_detach_vmo(self.h.pager, self.real[h].0);
                // Digest §2.3: not the pager's VMO, INVALID_ARGS; no WRITE,
                // ACCESS_DENIED; detaching again changes nothing.
                let mut allowed = Vec::new();
                if self.keys[node].is_none() {
                    allowed.push(Err(Status::InvalidArgs));
                }
                if !self.m.handles[h].write {
                    allowed.push(Err(Status::AccessDenied));
                }
                if allowed.is_empty() {
                    allowed.push(Ok(()));
                }
                expect(got, &allowed)?;
                if got.is_ok() {
                    self.m.detach(node);
                }
                Ok(())
            }
            // Creations once MAX_HANDLES are open.
            _ => Ok(()),
        }
    }

    /// `vmo_read`, compared with the model; with `failing`, the pager fails
    /// the first READ request, and then the read must fail with its status
    /// (`pager_op_range.md`: each waiter receives exactly `data`), having
    /// changed nothing.
    fn read(&mut self, handle: u8, offset: u16, len: u16, failing: bool) -> Result<(), String> {
        let Some(h) = self.pick(handle) else { return Ok(()) };
        let (offset, len) = range(self.size(h), offset, len);
        let mut buf = vec![0; len as usize];
        let vmo = self.real[h].0;
        let zx = &self.h.zx;
        let mut call = || zx.vmo_read(vmo, &mut buf, offset);
        let (got, failed) = if failing { self.h.failing_first_read(call) } else { (call(), false) };
        let in_range = offset + len <= self.size(h);
        let allowed = match (in_range, self.read_blocked(h, offset, len)) {
            (false, _) => Err(Status::OutOfRange),
            (true, true) => Err(Status::BadState),
            (true, false) if failed => Err(Status::Io),
            (true, false) => Ok(()),
        };
        expect(got, &[allowed])?;
        if got.is_ok() {
            same(&buf, &self.m.bytes(self.m.handles[h].node, offset, len), offset)?;
        }
        Ok(())
    }

    /// A one-byte load through the handle's mapping, compared; `failing` as
    /// for [`Run::read`] (the fault gets the status).
    fn load(&mut self, handle: u8, offset: u16, failing: bool) -> Result<(), String> {
        let Some((h, offset)) = self.pick_mapped(handle, offset) else { return Ok(()) };
        let va = self.real[h].1 + offset;
        let call = || self.h.load(va);
        let (got, failed) = if failing { self.h.failing_first_read(call) } else { (call(), false) };
        let want = if offset >= self.size(h) {
            Err(Status::OutOfRange)
        } else if self.read_blocked(h, offset, 1) {
            Err(Status::BadState)
        } else if failed {
            Err(Status::Io)
        } else {
            Ok(self.m.byte(self.m.handles[h].node, offset))
        };
        if got != want && !(got == Ok(0) && want.is_err() && self.stale_zero(h, offset)) {
            return Err(format!("load at {offset:#x} gave {got:?}, the model {want:?}"));
        }
        Ok(())
    }

    /// What `vmo_write` of `[offset, offset + len)` through handle `h`
    /// must return (digest §2.9).
    fn write_status(&self, h: usize, offset: u64, len: u64) -> Result<(), Status> {
        if !self.m.handles[h].write {
            Err(Status::AccessDenied)
        } else if offset + len > self.size(h) {
            Err(Status::OutOfRange)
        } else {
            Ok(())
        }
    }

    fn create_child(
        &mut self,
        p: usize,
        kind: ChildKind,
        offset: u64,
        size: u64,
        resizable: bool,
        no_write: bool,
    ) -> Result<(), String> {
        let parent = self.m.handles[p].node;
        let parent_size = self.m.nodes[parent].size;
        let (type_bit, offset, size) = match kind {
            ChildKind::Snapshot => (ZX_VMO_CHILD_SNAPSHOT, offset, size),
            ChildKind::AtLeastOnWrite => (ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, offset, size),
            // A slice past its parent and a reference of a resizable VMO
            // are left out: the model would have to guess their rules.
            ChildKind::Slice if offset + size > parent_size => return Ok(()),
            ChildKind::Slice => (ZX_VMO_CHILD_SLICE, offset, size),
            ChildKind::Reference if self.m.nodes[parent].resizable || resizable => return Ok(()),
            ChildKind::Reference => (ZX_VMO_CHILD_REFERENCE, 0, 0),
        };
        let options = type_bit
            | if resizable { ZX_VMO_CHILD_RESIZABLE } else { 0 }
            | if no_write { ZX_VMO_CHILD_NO_WRITE } else { 0 };
        let got = self.h.zx.vmo_create_child(self.real[p].0, options, offset, size);
        let pager_backed = self.m.pager_backed(parent);
        // Each rule the call breaks gives its status; the spec does not
        // order them.
        let mut allowed = Vec::new();
        if no_write && resizable {
            allowed.push(Err(Status::InvalidArgs));
        }
        match kind {
            ChildKind::Snapshot if pager_backed => allowed.push(Err(Status::NotSupported)),
            ChildKind::Slice if self.m.nodes[parent].resizable => allowed.push(Err(Status::NotSupported)),
            _ => {}
        }
        if kind == ChildKind::Slice && resizable {
            allowed.push(Err(Status::InvalidArgs));
        }
        if allowed.is_empty() {
            allowed.push(Ok(()));
            // AT_LEAST_ON_WRITE of a slice (or a reference of one) of a
            // clone, not of the root: Zircon refuses it of a slice of a
            // snapshot (digest §2.10); vm-core of a slice of any clone.
            let mut under = parent;
            while let Body::Window { parent: of, .. } = self.m.nodes[under].body {
                under = of;
            }
            if kind == ChildKind::AtLeastOnWrite
                && under != parent
                && matches!(self.m.nodes[under].body, Body::Live { .. })
            {
                allowed.push(Err(Status::NotSupported));
            }
        }
        expect(got.map(|_| ()), &allowed)?;
        let Ok(child) = got else { return Ok(()) };
        let write = match kind {
            ChildKind::Snapshot | ChildKind::AtLeastOnWrite => !no_write,
            ChildKind::Slice | ChildKind::Reference => self.m.handles[p].write && !no_write,
        };
        let resize = resizable || self.m.handles[p].resize;
        let size = if kind == ChildKind::Reference { parent_size } else { size };
        let body = match kind {
            ChildKind::AtLeastOnWrite if pager_backed => Body::Live {
                parent,
                offset,
                limit: parent_size.min(offset + size),
                forked: Default::default(),
            },
            ChildKind::Snapshot | ChildKind::AtLeastOnWrite => {
                self.m.nodes[parent].cow = true;
                Body::Own(self.m.bytes(parent, offset, size))
            }
            ChildKind::Slice | ChildKind::Reference => Body::Window { parent, offset },
        };
        let cow =
            matches!(body, Body::Own(_)) || self.m.nodes[parent].cow && matches!(body, Body::Window { .. });
        let node = self.add_node(Node { body, size, resizable, cow }, None);
        self.add_handle(child, node, write, resize)
    }

    fn range_op(&mut self, h: usize, op: RangeOp, raw_offset: u16, raw_len: u16) -> Result<(), String> {
        let size = self.size(h);
        let node = self.m.handles[h].node;
        let (offset, len) = range(size, raw_offset, raw_len);
        let code = match op {
            RangeOp::Commit => ZX_VMO_OP_COMMIT,
            RangeOp::Decommit => ZX_VMO_OP_DECOMMIT,
            RangeOp::Zero => ZX_VMO_OP_ZERO,
        };
        let write = self.m.handles[h].write;
        let in_range = offset.checked_add(len).is_some_and(|end| end <= size);
        let aligned = offset % P == 0 && len % P == 0;
        let blocked = match op {
            _ if !write || !in_range => Blocked::Nowhere,
            // COMMIT rounds out: a zero length at an unaligned offset is a page.
            RangeOp::Commit => self.blocked(h, offset / P..(offset + len).div_ceil(P), true),
            // The partial pages are checked before anything changes.
            RangeOp::Zero if len == 0 => Blocked::Nowhere,
            RangeOp::Zero => {
                let partial = [offset, offset + len]
                    .into_iter()
                    .filter(|o| o % P != 0)
                    .any(|o| !self.m.reads_zero(node, o / P) && self.m.write_blocked(node, o / P, false));
                if partial {
                    Blocked::First
                } else {
                    Blocked::Nowhere
                }
            }
            RangeOp::Decommit => Blocked::Nowhere,
        };
        if blocked == Blocked::Later {
            return Ok(());
        }
        let got = self.h.zx.vmo_op_range(self.real[h].0, code, offset, len, &mut []);
        let mut allowed = Vec::new();
        match op {
            _ if !write => allowed.push(Err(Status::AccessDenied)),
            RangeOp::Decommit => {
                if !aligned {
                    allowed.push(Err(Status::InvalidArgs));
                }
                if !in_range {
                    allowed.push(Err(Status::OutOfRange));
                }
                // Only anonymous VMOs without snapshots (and slices of them)
                // must decommit; pager-backed ones must refuse.
                if self.m.pager_backed(node) {
                    allowed.push(Err(Status::NotSupported));
                } else if self.m.nodes[node].cow {
                    allowed.push(Err(Status::NotSupported));
                    if aligned && in_range {
                        allowed.push(Ok(()));
                    }
                } else if aligned && in_range {
                    allowed.push(Ok(()));
                }
            }
            _ if !in_range => allowed.push(Err(Status::OutOfRange)),
            _ if blocked == Blocked::First => allowed.push(Err(Status::BadState)),
            _ => allowed.push(Ok(())),
        }
        expect(got, &allowed)?;
        if got.is_ok() {
            match op {
                RangeOp::Commit => {
                    let end = (offset + len).div_ceil(P).min(size / P);
                    self.m.commit(node, offset / P, end)
                }
                RangeOp::Decommit | RangeOp::Zero => self.m.zero(node, offset, len),
            }
        }
        Ok(())
    }

    /// `pager_op_range(FAIL)` with nothing waiting (`pager_op_range.md`):
    /// each rule the call breaks gives its status, and one that breaks none
    /// is a no-op (checked by the next comparison).
    fn fail(&mut self, h: usize, page: u64, pages: u64, status: u8) -> Result<(), String> {
        let node = self.m.handles[h].node;
        let data = FAIL_STATUSES[status as usize % FAIL_STATUSES.len()];
        let got = self.h.pager_op(ZX_PAGER_OP_FAIL, self.real[h].0, page * P, pages * P, data);
        let mut allowed = Vec::new();
        if self.keys[node].is_none() {
            // Not one of the pager's VMOs: a clone, a slice, an anonymous VMO.
            allowed.push(Err(Status::InvalidArgs));
        }
        if !self.m.handles[h].write {
            allowed.push(Err(Status::AccessDenied));
        }
        if FAIL_STATUSES[5..].contains(&data) {
            allowed.push(Err(Status::InvalidArgs));
        }
        if (page + pages) * P > self.size(h) {
            allowed.push(Err(Status::OutOfRange));
        }
        if matches!(self.m.nodes[node].body, Body::Pager { detached: true, .. }) {
            allowed.push(Err(Status::BadState));
        }
        if allowed.is_empty() {
            allowed.push(Ok(()));
        }
        expect(got, &allowed)
    }

    /// Whether a load at `offset` through handle `h`'s mapping may read the
    /// zero page a writeback left mapped ([`Model::maybe_stale_zero`]).
    fn stale_zero(&self, h: usize, offset: u64) -> bool {
        self.m.maybe_stale_zero(self.m.handles[h].node, offset / P)
    }

    /// Whether reading `[offset, offset + len)` through handle `h` needs a
    /// pager that is gone ([`Model::read_blocked`]).
    fn read_blocked(&self, h: usize, offset: u64, len: u64) -> bool {
        let node = self.m.handles[h].node;
        pages(offset, len).any(|page| self.m.read_blocked(node, page))
    }

    /// Where writing (or committing, with `commit`) `pages` through handle
    /// `h` first needs a pager that is gone ([`Model::write_blocked`]).
    fn blocked(&self, h: usize, mut pages: std::ops::Range<u64>, commit: bool) -> Blocked {
        let node = self.m.handles[h].node;
        let first = pages.start;
        match pages.find(|&page| self.m.write_blocked(node, page, commit)) {
            None => Blocked::Nowhere,
            Some(page) if page == first => Blocked::First,
            Some(_) => Blocked::Later,
        }
    }

    fn close(&mut self, h: usize) {
        let (handle, va) = self.real[h];
        let mapped = self.m.handles[h].mapped;
        if mapped != 0 {
            self.h.zx.vmar_unmap(self.h.zx.root_vmar(), va, mapped).expect("the handle's mapping");
        }
        self.h.zx.handle_close(handle).expect("an open handle");
        self.m.handles[h].open = false;
    }

    fn close_all(&mut self) {
        for h in 0..self.m.handles.len() {
            if self.m.handles[h].open {
                self.close(h);
            }
        }
    }

    /// The pager VMO `node`: its dirty ranges cover exactly the model's
    /// dirty pages, its zero ranges read zero, and its Clean pages equal
    /// the disk.
    fn check_dirty(&self, node: usize, key: u64) -> Result<(), String> {
        let size = self.m.nodes[node].size;
        let ranges = self.h.dirty_ranges(key, size);
        let (mut dirty, mut zero) = (BTreeSet::new(), BTreeSet::new());
        for &(offset, len, is_zero) in &ranges {
            dirty.extend(offset / P..(offset + len) / P);
            if is_zero {
                zero.extend(offset / P..(offset + len) / P);
            }
        }
        let model = self.m.dirty(node);
        if dirty != model.pages || zero != model.zero {
            return Err(format!(
                "dirty pages {dirty:?}, zero {zero:?} (ranges {ranges:?}); the model's {:?}, zero {:?}",
                model.pages, model.zero
            ));
        }
        for page in (0..size / P).filter(|p| !dirty.contains(p)) {
            let disk = self.h.disk(key, page * P, P);
            same(&disk, &self.m.bytes(node, page * P, P), page * P)
                .map_err(|why| format!("Clean page {page} is not its disk: {why}"))?;
        }
        Ok(())
    }

    /// Every open handle reads what the model holds, with `vmo_read` and
    /// through its mapping; every pager VMO's dirty state is the model's.
    fn check_all(&self) -> Result<(), String> {
        for h in (0..self.m.handles.len()).filter(|&h| self.m.handles[h].open) {
            let (node, size) = (self.m.handles[h].node, self.size(h));
            let want = self.m.bytes(node, 0, size);
            // Page by page where a detach left pages that need the pager.
            let step = if self.read_blocked(h, 0, size) { P } else { size.max(1) };
            for offset in (0..size).step_by(step as usize) {
                let len = step.min(size - offset);
                let mut got = vec![0; len as usize];
                let read = self.h.zx.vmo_read(self.real[h].0, &mut got, offset);
                let blocked = self.read_blocked(h, offset, len);
                match (read, blocked) {
                    (Ok(()), false) => same(&got, &want[offset as usize..][..len as usize], offset)
                        .map_err(|why| format!("handle {h}: vmo_read: {why}"))?,
                    (Err(Status::BadState), true) => {}
                    (read, _) => return Err(format!("handle {h}: vmo_read at {offset:#x}: {read:?}")),
                }
            }
            for page in 0..self.m.handles[h].mapped.min(size) / P {
                let offset = page * P + (page * 97) % P;
                if TRACE.load(std::sync::atomic::Ordering::Relaxed) {
                    eprintln!("  check: handle {h} (node {node}) load at {offset:#x}");
                }
                let got = self.h.load(self.real[h].1 + offset);
                let expected = if self.read_blocked(h, offset, 1) {
                    Err(Status::BadState)
                } else {
                    Ok(want[offset as usize])
                };
                if got != expected && !(got == Ok(0) && expected.is_err() && self.stale_zero(h, offset)) {
                    return Err(format!("handle {h}: load at {offset:#x} gave {got:?}, not {expected:?}"));
                }
            }
        }
        for (node, key) in self.keys.iter().enumerate().filter_map(|(n, k)| Some((n, (*k)?))) {
            self.check_dirty(node, key).map_err(|why| format!("pager VMO {key}: {why}"))?;
        }
        Ok(())
    }
}

/// `Ok` if `got` equals `want`; else where they first differ (`base` is
/// the offset of their first byte).
fn same(got: &[u8], want: &[u8], base: u64) -> Result<(), String> {
    match got.iter().zip(want).position(|(a, b)| a != b) {
        None => Ok(()),
        Some(i) => {
            Err(format!("byte {:#x} is {:#04x}, the model's {:#04x}", base + i as u64, got[i], want[i]))
        }
    }
}
