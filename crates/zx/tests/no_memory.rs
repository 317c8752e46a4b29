//! NO_MEMORY: syscalls that need frames when none are left fail without
//! changing anything (`vmo_op_range.md` ERRORS, digest §2.9, §2.11).

mod support;

use support::*;
use zx::ops::*;
use zx::options::*;
use zx::Status;

/// Frames left for VM objects once the zero frame is taken.
const FREE: u64 = 3;

fn env() -> Env {
    Env::with_frames(FREE as usize + 1)
}

#[test]
fn commit_without_memory() {
    let env = env();
    let vmo = env.vmo(8);
    assert_eq!(env.zx.vmo_op_range(vmo, ZX_VMO_OP_COMMIT, 0, 8 * P, &mut []), Err(Status::NoMemory));
    assert_eq!(env.machine.used_frames(), 0, "a failed commit commits nothing");
    env.zx.vmo_op_range(vmo, ZX_VMO_OP_COMMIT, 0, FREE * P, &mut []).unwrap();
    assert_eq!(env.machine.used_frames(), FREE as usize);
    // Through a mapping too.
    let va = env.map_rw(vmo, 8);
    assert_eq!(
        env.zx.vmar_op_range(env.zx.root_vmar(), ZX_VMAR_OP_COMMIT, va, 8 * P, &mut []),
        Err(Status::NoMemory)
    );
    assert_eq!(env.store(va + 7 * P, b"x"), Err(Status::NoMemory));
    env.zx.vmar_unmap(env.zx.root_vmar(), va, 8 * P).unwrap();
    env.close_all_and_check_frames(&[vmo]);
}

#[test]
fn write_without_memory() {
    let env = env();
    let vmo = env.vmo(8);
    let data = vec![1u8; 8 * P as usize];
    assert_eq!(env.zx.vmo_write(vmo, &data, 0), Err(Status::NoMemory));
    assert_eq!(env.read(vmo, 0, 8 * P as usize), vec![0; 8 * P as usize]);
    env.zx.vmo_write(vmo, &data[..(FREE * P) as usize], 0).unwrap();
    assert_eq!(env.zx.vmo_write(vmo, b"x", FREE * P), Err(Status::NoMemory));
    env.close_all_and_check_frames(&[vmo]);
}

#[test]
fn zero_without_memory() {
    // Zeroing part of a page a clone shares with its parent forks it.
    let env = env();
    let parent = env.vmo(1);
    env.zx.vmo_write(parent, &[7; 4096], 0).unwrap();
    let child = env.zx.vmo_create_child(parent, ZX_VMO_CHILD_SNAPSHOT, 0, P).unwrap();
    let filler = env.vmo(FREE - 1);
    env.zx.vmo_op_range(filler, ZX_VMO_OP_COMMIT, 0, (FREE - 1) * P, &mut []).unwrap();
    assert_eq!(env.machine.used_frames(), FREE as usize);
    assert_eq!(env.zx.vmo_op_range(child, ZX_VMO_OP_ZERO, 1, 10, &mut []), Err(Status::NoMemory));
    assert_eq!(env.machine.used_frames(), FREE as usize);
    assert_eq!(env.read(child, 0, 12), [7; 12]);
    // With a frame back, the same zero succeeds and stays private.
    env.zx.handle_close(filler).unwrap();
    env.zx.vmo_op_range(child, ZX_VMO_OP_ZERO, 1, 10, &mut []).unwrap();
    assert_eq!(env.read(child, 0, 12), [7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7]);
    assert_eq!(env.read(parent, 0, 12), [7; 12]);
    env.close_all_and_check_frames(&[parent, child]);
}
