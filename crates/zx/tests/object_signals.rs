//! `ZX_VMO_ZERO_CHILDREN` (digest §1.9, §2.8, §2.10, §4.5 Children),
//! `zx_object_wait_one` with deadlines and `zx_object_wait_async` signal
//! packets on a port, with every error of each.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::*;
use zx::options::*;
use zx::port::{SignalPacket, ZX_PKT_TYPE_SIGNAL_ONE, ZX_TIME_INFINITE};
use zx::signals::*;
use zx::{Handle, Rights, Status};

/// The signals `vmo` has asserted now (a wait that only looks).
fn signals(env: &Env, vmo: Handle) -> u32 {
    let mut observed = 0;
    let _ = env.zx.object_wait_one(vmo, u32::MAX, 0, Some(&mut observed));
    observed
}

fn zero_children(env: &Env, vmo: Handle) -> bool {
    signals(env, vmo) & ZX_VMO_ZERO_CHILDREN != 0
}

/// The next packet on `port`, if one comes within `timeout`.
fn packet(env: &Env, port: Handle, timeout: Duration) -> Option<(u64, SignalPacket)> {
    match env.zx.port_wait(port, env.zx.deadline_after(timeout.as_nanos() as i64)) {
        Ok(p) => {
            assert_eq!((p.packet_type, p.status), (ZX_PKT_TYPE_SIGNAL_ONE, 0));
            Some((p.key, p.signal_packet().unwrap()))
        }
        Err(Status::TimedOut) => None,
        Err(status) => panic!("port_wait: {status:?}"),
    }
}

#[test]
fn zero_children_follows_every_kind_of_child() {
    let up = UserPager::new();
    let env = &up.env;
    let vmo = env.vmo(2);
    assert!(zero_children(env, vmo), "asserted on creation");
    for options in
        [ZX_VMO_CHILD_SNAPSHOT, ZX_VMO_CHILD_SLICE, ZX_VMO_CHILD_REFERENCE, ZX_VMO_CHILD_SNAPSHOT_MODIFIED]
    {
        let size = if options == ZX_VMO_CHILD_REFERENCE { 0 } else { P };
        let child = env.zx.vmo_create_child(vmo, options, 0, size).unwrap();
        assert!(!zero_children(env, vmo), "a child ({options:#x}) deasserts it");
        assert!(zero_children(env, child));
        env.zx.handle_close(child).unwrap();
        assert!(zero_children(env, vmo), "asserted again when it goes");
    }
    let paged = up.vmo(1, 1);
    assert!(zero_children(env, paged));
    let clone = env.zx.vmo_create_child(paged, ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 0, P).unwrap();
    assert!(!zero_children(env, paged));
    // Only direct children count: a grandchild does not keep its closed
    // parent counted.
    let grandchild = env.zx.vmo_create_child(clone, ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 0, P).unwrap();
    assert!(!zero_children(env, clone));
    env.zx.handle_close(clone).unwrap();
    assert!(zero_children(env, paged));
    assert_eq!(env.zx.object_get_info_vmo(paged).unwrap().num_children, 0);
    env.zx.handle_close(grandchild).unwrap();
    assert!(zero_children(env, paged));
    up.close_all_and_check_clean(&[vmo, paged]);
}

#[test]
fn a_mapping_of_a_child_keeps_zero_children_deasserted() {
    let env = Env::new();
    let vmo = env.vmo(1);
    let child = env.zx.vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, 0, P).unwrap();
    let va = env.map_rw(child, 1);
    env.zx.handle_close(child).unwrap();
    assert!(!zero_children(&env, vmo), "the mapping keeps the child");
    env.store(va, &[3]).unwrap();
    env.zx.vmar_unmap(env.zx.root_vmar(), va, P).unwrap();
    assert!(zero_children(&env, vmo));
    assert_eq!(env.read(vmo, 0, 1), [0], "the child's write was its own");
    env.close_all_and_check_clean(&[vmo]);
}

#[test]
fn wait_one_with_deadlines() {
    let env = Arc::new(Env::new());
    let vmo = env.vmo(1);
    let mut observed = 0;
    assert_eq!(
        env.zx.object_wait_one(vmo, ZX_VMO_ZERO_CHILDREN, ZX_TIME_INFINITE, Some(&mut observed)),
        Ok(())
    );
    assert_eq!(observed, ZX_VMO_ZERO_CHILDREN);
    let child = env.zx.vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, 0, P).unwrap();
    // A past deadline only looks; a near one passes.
    observed = 0xdead;
    assert_eq!(
        env.zx.object_wait_one(vmo, ZX_VMO_ZERO_CHILDREN, 0, Some(&mut observed)),
        Err(Status::TimedOut)
    );
    assert_eq!(observed, 0);
    let soon = env.zx.deadline_after(1_000_000);
    assert_eq!(env.zx.object_wait_one(vmo, ZX_VMO_ZERO_CHILDREN, soon, None), Err(Status::TimedOut));
    assert!(env.zx.clock_get_monotonic() >= soon, "not before the deadline");
    // A waiter with no deadline wakes when the child goes.
    let waiter = {
        let env = env.clone();
        spawn(move || {
            let mut observed = 0;
            let r = env.zx.object_wait_one(vmo, ZX_VMO_ZERO_CHILDREN, ZX_TIME_INFINITE, Some(&mut observed));
            (r, observed)
        })
    };
    env.zx.handle_close(child).unwrap();
    assert_eq!(waiter.join(), (Ok(()), ZX_VMO_ZERO_CHILDREN));
    env.close_all_and_check_clean(&[vmo]);
}

#[test]
fn closing_the_handle_cancels_a_wait_one() {
    let env = Arc::new(Env::new());
    let vmo = env.vmo(1);
    let child = env.zx.vmo_create_child(vmo, ZX_VMO_CHILD_SLICE, 0, P).unwrap();
    // The waiter cannot finish while the child is there; the handle is
    // closed once it has (most likely) begun to wait. A close that comes
    // first makes the wait BAD_HANDLE: the scenario is then run again.
    for attempt in 1..=10u32 {
        let dup = env.with_rights(vmo, Rights::WAIT);
        let waiter = {
            let env = env.clone();
            spawn(move || {
                let mut observed = 0;
                let r =
                    env.zx.object_wait_one(dup, ZX_VMO_ZERO_CHILDREN, ZX_TIME_INFINITE, Some(&mut observed));
                (r, observed)
            })
        };
        std::thread::sleep(Duration::from_millis(10 * u64::from(attempt)));
        env.zx.handle_close(dup).unwrap();
        match waiter.join() {
            (Err(Status::BadHandle), _) => continue,
            result => {
                assert_eq!(result, (Err(Status::Canceled), ZX_SIGNAL_HANDLE_CLOSED));
                return env.close_all_and_check_clean(&[child, vmo]);
            }
        }
    }
    panic!("the waiter never got to wait");
}

#[test]
fn wait_one_errors() {
    let env = Env::new();
    let vmo = env.vmo(1);
    let bad = Handle::from_raw(0x7fff_fff3);
    assert_eq!(env.zx.object_wait_one(bad, 1, 0, None), Err(Status::BadHandle));
    let no_wait = env.with_rights(vmo, Rights::DEFAULT_VMO - Rights::WAIT);
    let mut observed = 0x55;
    assert_eq!(
        env.zx.object_wait_one(no_wait, ZX_VMO_ZERO_CHILDREN, 0, Some(&mut observed)),
        Err(Status::AccessDenied)
    );
    assert_eq!(observed, 0x55, "nothing observed on an error before the wait");
    // Ports, VMARs and pagers carry no WAIT right.
    let port = env.zx.port_create(0).unwrap();
    let pager = env.zx.pager_create(0).unwrap();
    for h in [port, pager, env.zx.root_vmar()] {
        assert_eq!(env.zx.object_wait_one(h, 1, 0, None), Err(Status::AccessDenied));
    }
    env.close_all_and_check_clean(&[vmo, no_wait, port, pager]);
}

#[test]
fn wait_async_queues_one_packet_when_the_signal_is_asserted() {
    let env = Env::new();
    let port = env.zx.port_create(0).unwrap();
    let vmo = env.vmo(1);
    // Asserted already: a packet at once.
    env.zx.object_wait_async(vmo, port, 5, ZX_VMO_ZERO_CHILDREN, ZX_WAIT_ASYNC_ONCE).unwrap();
    let expected = SignalPacket {
        trigger: ZX_VMO_ZERO_CHILDREN,
        observed: ZX_VMO_ZERO_CHILDREN,
        count: 1,
        timestamp: 0,
    };
    assert_eq!(packet(&env, port, PATIENCE), Some((5, expected)));
    assert_eq!(packet(&env, port, Duration::ZERO), None, "one packet");
    // Not asserted: the packet comes when it is, once.
    let child = env.zx.vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, 0, P).unwrap();
    env.zx.object_wait_async(vmo, port, 6, ZX_VMO_ZERO_CHILDREN, 0).unwrap();
    assert_eq!(packet(&env, port, Duration::ZERO), None);
    env.zx.handle_close(child).unwrap();
    assert_eq!(packet(&env, port, PATIENCE), Some((6, expected)));
    let child = env.zx.vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, 0, P).unwrap();
    env.zx.handle_close(child).unwrap();
    assert_eq!(packet(&env, port, Duration::ZERO), None, "the wait was one-shot");
    env.close_all_and_check_clean(&[vmo, port]);
}

#[test]
fn edge_and_timestamp_options() {
    let env = Env::new();
    let port = env.zx.port_create(0).unwrap();
    let vmo = env.vmo(1);
    // EDGE ignores the signal already asserted and waits for a new rise.
    env.zx
        .object_wait_async(vmo, port, 1, ZX_VMO_ZERO_CHILDREN, ZX_WAIT_ASYNC_EDGE | ZX_WAIT_ASYNC_TIMESTAMP)
        .unwrap();
    assert_eq!(packet(&env, port, Duration::ZERO), None);
    let child = env.zx.vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, 0, P).unwrap();
    assert_eq!(packet(&env, port, Duration::ZERO), None, "a fall does not trigger");
    let before = env.zx.clock_get_monotonic();
    env.zx.handle_close(child).unwrap();
    let after = env.zx.clock_get_monotonic();
    let (key, signal) = packet(&env, port, PATIENCE).unwrap();
    assert_eq!(
        (key, signal.trigger, signal.observed, signal.count),
        (1, ZX_VMO_ZERO_CHILDREN, ZX_VMO_ZERO_CHILDREN, 1)
    );
    assert!((before..=after).contains(&signal.timestamp), "stamped when it triggered");
    env.zx.object_wait_async(vmo, port, 2, ZX_VMO_ZERO_CHILDREN, ZX_WAIT_ASYNC_BOOT_TIMESTAMP).unwrap();
    let (_, signal) = packet(&env, port, PATIENCE).unwrap();
    assert!(signal.timestamp > 0 && signal.timestamp <= env.zx.clock_get_monotonic());
    env.close_all_and_check_clean(&[vmo, port]);
}

#[test]
fn closing_the_handle_cancels_a_wait_async() {
    let env = Env::new();
    let port = env.zx.port_create(0).unwrap();
    let vmo = env.vmo(1);
    let child = env.zx.vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, 0, P).unwrap();
    let dup = env.with_rights(vmo, Rights::WAIT);
    env.zx.object_wait_async(dup, port, 1, ZX_VMO_ZERO_CHILDREN, 0).unwrap();
    env.zx.object_wait_async(vmo, port, 2, ZX_VMO_ZERO_CHILDREN, 0).unwrap();
    env.zx.handle_close(dup).unwrap();
    env.zx.handle_close(child).unwrap();
    assert_eq!(
        packet(&env, port, PATIENCE).map(|(key, _)| key),
        Some(2),
        "only the wait whose handle is open"
    );
    assert_eq!(packet(&env, port, Duration::ZERO), None);
    env.close_all_and_check_clean(&[vmo, port]);
}

#[test]
fn wait_async_errors() {
    let env = Env::new();
    let port = env.zx.port_create(0).unwrap();
    let vmo = env.vmo(1);
    let bad = Handle::from_raw(0x7fff_fff3);
    let z = ZX_VMO_ZERO_CHILDREN;
    // Options first, before either handle.
    assert_eq!(env.zx.object_wait_async(bad, bad, 0, z, 8), Err(Status::InvalidArgs));
    let both = ZX_WAIT_ASYNC_TIMESTAMP | ZX_WAIT_ASYNC_BOOT_TIMESTAMP;
    assert_eq!(env.zx.object_wait_async(vmo, port, 0, z, both), Err(Status::InvalidArgs));
    // Then the port, then the handle.
    assert_eq!(env.zx.object_wait_async(bad, bad, 0, z, 0), Err(Status::BadHandle));
    assert_eq!(env.zx.object_wait_async(bad, vmo, 0, z, 0), Err(Status::WrongType));
    let read_only_port = env.with_rights(port, Rights::READ);
    assert_eq!(env.zx.object_wait_async(bad, read_only_port, 0, z, 0), Err(Status::AccessDenied));
    assert_eq!(env.zx.object_wait_async(bad, port, 0, z, 0), Err(Status::BadHandle));
    let no_wait = env.with_rights(vmo, Rights::READ);
    assert_eq!(env.zx.object_wait_async(no_wait, port, 0, z, 0), Err(Status::AccessDenied));
    assert_eq!(env.zx.object_wait_async(port, port, 0, z, 0), Err(Status::AccessDenied), "ports lack WAIT");
    assert_eq!(packet(&env, port, Duration::ZERO), None, "no failed call queued anything");
    env.close_all_and_check_clean(&[vmo, port, read_only_port, no_wait]);
}
