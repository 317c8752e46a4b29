//! Mapping notifications: which `VmoMapping` calls each change makes.

mod vmo_support;

use vm_core::vmo::{ChildKind, Vmo, VmoMapping, VmoOptions};
use vmo_support::*;
use Notice::*;

#[test]
fn decommit_and_shrink_unmap() {
    let m = machine();
    let v = Vmo::create(&m.ctx, 4 * P, VmoOptions::RESIZABLE).unwrap();
    v.commit(0, 4 * P).unwrap();
    let r = Recorder::on(&v);
    v.decommit(P, 2 * P).unwrap();
    assert_eq!(r.take(), vec![Unmap(P, 2 * P)]);
    v.set_size(P).unwrap();
    assert_eq!(r.take(), vec![Unmap(P, 3 * P)]);
    v.set_size(2 * P).unwrap();
    assert_eq!(r.take(), vec![], "growing changes no page");
}

#[test]
fn zero_unmaps_whole_pages_only() {
    let m = machine();
    let v = tagged(&m, 4);
    let r = Recorder::on(&v);
    v.zero(100, 2 * P).unwrap();
    assert_eq!(r.take(), vec![Unmap(P, P)], "edge pages are zeroed in place");
}

#[test]
fn first_write_replaces_the_zero_page() {
    let m = machine();
    let v = vmo(&m, 3);
    let r = Recorder::on(&v);
    v.write(P + 3, &[1]).unwrap();
    assert_eq!(r.take(), vec![], "no translation of the zero frame yet: nobody to tell");
    assert_eq!(v.lookup_for_fault(0, false).unwrap().frame, m.ctx.zero_frame());
    v.write(3, &[1]).unwrap();
    assert_eq!(r.take(), vec![Unmap(0, P)], "the zero frame's translations go");
    v.write(4, &[1]).unwrap();
    assert_eq!(r.take(), vec![], "an owned page is written in place");
    v.commit(0, 3 * P).unwrap();
    assert_eq!(r.take(), vec![Unmap(2 * P, P)]);
    v.lookup_for_fault(0, true).unwrap();
    assert_eq!(r.take(), vec![]);
}

#[test]
fn snapshot_write_protects_parent_and_forks_unmap_the_writer_only() {
    let m = machine();
    let v = tagged(&m, 4);
    let rv = Recorder::on(&v);
    let c = snapshot(&v, 1, 2);
    let rc = Recorder::on(&c);
    assert_eq!(rv.take(), vec![RemoveWrite(0, 4 * P)]);
    set_tag(&v, 1, 9);
    assert_eq!(rv.take(), vec![Unmap(P, P)]);
    assert_eq!(rc.take(), vec![]);
    let f = c.lookup_for_fault(P, true).unwrap();
    assert!(f.writable);
    assert_eq!(rc.take(), vec![Unmap(P, P)]);
    assert_eq!(rv.take(), vec![]);
    let read = c.lookup_for_fault(0, false).unwrap();
    assert!(!read.writable, "the page the parent forked away moved to the clone");
    assert_eq!(read.frame, c.lookup_for_fault(0, false).unwrap().frame);
}

#[test]
fn fault_reads_of_shared_pages_are_read_only() {
    let m = machine();
    let v = tagged(&m, 1);
    let before = v.lookup_for_fault(0, false).unwrap();
    assert!(before.writable);
    let c = snapshot(&v, 0, 1);
    let shared = v.lookup_for_fault(0, false).unwrap();
    assert_eq!(shared.frame, before.frame);
    assert!(!shared.writable);
    assert_eq!(c.lookup_for_fault(0, false).unwrap(), shared);
    let private = v.lookup_for_fault(0, true).unwrap();
    assert_ne!(private.frame, shared.frame);
    assert_eq!(
        c.lookup_for_fault(0, true).unwrap().frame,
        shared.frame,
        "the last sharer takes the original without copying"
    );
}

#[test]
fn slices_and_references_hear_in_their_own_offsets() {
    let m = machine();
    let v = tagged(&m, 4);
    let s = v.create_child(ChildKind::Slice, 2 * P, 2 * P, false).unwrap();
    let reference = v.create_child(ChildKind::Reference, 0, 0, false).unwrap();
    let (rv, rs, rr) = (Recorder::on(&v), Recorder::on(&s), Recorder::on(&reference));
    v.decommit(P, 2 * P).unwrap();
    assert_eq!(rv.take(), vec![Unmap(P, 2 * P)]);
    assert_eq!(rs.take(), vec![Unmap(0, P)]);
    assert_eq!(rr.take(), vec![Unmap(P, 2 * P)]);
    // A read fault maps the zero frame where the slice's page 0 was.
    assert_eq!(s.lookup_for_fault(0, false).unwrap().frame, m.ctx.zero_frame());
    s.write(P, &[1]).unwrap();
    assert_eq!(rs.take(), vec![]);
    s.write(0, &[1]).unwrap();
    assert_eq!(rs.take(), vec![Unmap(0, P)]);
    assert_eq!(rv.take(), vec![Unmap(2 * P, P)]);
    assert_eq!(rr.take(), vec![Unmap(2 * P, P)]);
    let _c = snapshot(&s, 0, 1);
    assert_eq!(rs.take(), vec![RemoveWrite(0, 2 * P)]);
    assert_eq!(rr.take(), vec![RemoveWrite(0, 4 * P)]);
}

#[test]
fn discard_unmaps_everything() {
    let m = machine();
    let v = Vmo::create(&m.ctx, 2 * P, VmoOptions::DISCARDABLE).unwrap();
    v.commit(0, 2 * P).unwrap();
    let r = Recorder::on(&v);
    v.lock(0, 2 * P).unwrap();
    v.unlock(0, 2 * P).unwrap();
    assert_eq!(m.ctx.reclaim(), 2);
    assert_eq!(r.take(), vec![Unmap(0, 2 * P)]);
}

#[test]
fn removed_and_dropped_mappings_hear_nothing() {
    let m = machine();
    let v = tagged(&m, 2);
    let r = Recorder::on(&v);
    let weak: std::sync::Weak<dyn VmoMapping> = std::sync::Arc::downgrade(&r) as _;
    v.remove_mapping(&weak);
    v.decommit(0, P).unwrap();
    assert_eq!(r.take(), vec![]);
    let gone = Recorder::on(&v);
    drop(gone);
    v.decommit(P, P).unwrap();
    assert_eq!(r.take(), vec![]);
}

/// A mapping that, when told to drop its translations, touches the frames
/// it translated to, as a CPU on a stale translation would. The mock frame
/// allocator panics on a freed frame, so this fails unless the VMO tells its
/// mappings before it frees the frames.
struct StaleReader {
    frames: std::sync::Arc<vm_core::mock::MockFrames>,
    translated: std::sync::Mutex<Vec<(u64, vm_core::PhysAddr)>>,
}

impl VmoMapping for StaleReader {
    fn unmap_vmo_range(&self, offset: u64, len: u64, _written: &mut dyn FnMut(u64)) {
        let mut translated = self.translated.lock().unwrap();
        for (_, frame) in translated.iter().filter(|(o, _)| (offset..offset + len).contains(o)) {
            let mut byte = [0];
            vm_core::platform::FrameAllocator::read(&*self.frames, *frame, 0, &mut byte);
        }
        translated.retain(|(o, _)| !(offset..offset + len).contains(o));
    }

    fn remove_write_vmo_range(&self, _: u64, _: u64, _: &mut dyn FnMut(u64)) {}

    fn harvest_written(&self, _: u64, _: u64, _: &mut dyn FnMut(u64)) {}

    fn address_space(&self) -> usize {
        self as *const StaleReader as usize
    }
}

#[test]
fn frames_are_freed_only_after_mappings_let_go() {
    let m = machine();
    let v = Vmo::create(&m.ctx, 4 * P, VmoOptions::RESIZABLE).unwrap();
    v.commit(0, 4 * P).unwrap();
    let reader = std::sync::Arc::new(StaleReader {
        frames: m.frames.clone(),
        translated: std::sync::Mutex::new(
            (0..4).map(|i| (i * P, v.lookup_for_fault(i * P, true).unwrap().frame)).collect(),
        ),
    });
    let weak = std::sync::Arc::downgrade(&reader) as std::sync::Weak<dyn VmoMapping>;
    v.add_mapping(weak.clone());
    v.decommit(0, P).unwrap();
    v.zero(P, P).unwrap();
    v.set_size(2 * P).unwrap();
    assert!(reader.translated.lock().unwrap().is_empty(), "every translated page was unmapped");
    assert_eq!(v.committed_bytes(), 0);
    v.remove_mapping(&weak);
}
