//! `zx_port_create`, `zx_port_queue` and `zx_port_wait`: options, rights,
//! statuses, the packet round trip, FIFO order, deadlines, the pending-packet
//! limit and waking a waiter on another thread (digest §1.2, §1.9, §1.10).

mod support;

use std::sync::Arc;

use support::*;
use zx::port::{
    MAX_PENDING_USER_PACKETS, ZX_PAGER_VMO_READ, ZX_PKT_TYPE_PAGE_REQUEST, ZX_PKT_TYPE_USER,
    ZX_PORT_BIND_TO_INTERRUPT, ZX_TIME_INFINITE,
};
use zx::{Handle, ObjectType, PortPacket, Rights, Status};

/// A user packet whose fields all derive from `key`.
fn packet(key: u64) -> PortPacket {
    let mut payload = [0u8; 32];
    for (i, b) in payload.iter_mut().enumerate() {
        *b = (key as u8).wrapping_mul(7).wrapping_add(i as u8);
    }
    PortPacket { key, packet_type: ZX_PKT_TYPE_USER, status: -(key as i32 % 50), payload }
}

/// A handle value no instance hands out (values grow from 7 up).
const NEVER: Handle = Handle::from_raw(0x7fff_fff3);

#[test]
fn port_create_accepts_only_options_zero() {
    let env = Env::new();
    assert_eq!(env.zx.port_create(ZX_PORT_BIND_TO_INTERRUPT), Err(Status::NotSupported));
    for options in [1 << 1, 1 << 2, ZX_PORT_BIND_TO_INTERRUPT | 1 << 1, 1 << 31, u32::MAX] {
        assert_eq!(env.zx.port_create(options), Err(Status::InvalidArgs), "options {options:#x}");
    }
    assert_eq!(env.zx.handle_count(), 1, "a failed create adds no handle");
    let port = env.zx.port_create(0).unwrap();
    env.close_all_and_check_clean(&[port]);
}

#[test]
fn port_create_gives_a_port_handle_with_default_port_rights() {
    let env = Env::new();
    let port = env.zx.port_create(0).unwrap();
    let info = env.zx.object_get_info_handle_basic(port).unwrap();
    assert_eq!(info.rights, Rights::DEFAULT_PORT);
    // ZX_DEFAULT_PORT_RIGHTS = (BASIC & ~WAIT) | READ | WRITE (digest §1.2).
    assert_eq!(
        info.rights,
        Rights::TRANSFER | Rights::DUPLICATE | Rights::INSPECT | Rights::READ | Rights::WRITE
    );
    assert_eq!(info.object_type, ObjectType::Port);
    assert_eq!(info.object_type.into_raw(), 6);
    env.close_all_and_check_clean(&[port]);
}

#[test]
fn a_queued_packet_comes_back_with_its_key_status_and_payload_as_a_user_packet() {
    let env = Env::new();
    let port = env.zx.port_create(0).unwrap();
    for packet_type in [ZX_PKT_TYPE_USER, ZX_PKT_TYPE_PAGE_REQUEST, 0x1234, u32::MAX] {
        let sent = PortPacket { packet_type, ..packet(0xfeed_f00d_0000_0001) };
        env.zx.port_queue(port, &sent).unwrap();
        let got = env.zx.port_wait(port, ZX_TIME_INFINITE).unwrap();
        assert_eq!(
            got,
            PortPacket { packet_type: ZX_PKT_TYPE_USER, ..sent },
            "queued with type {packet_type:#x}"
        );
    }
    // Extreme field values survive too.
    let sent =
        PortPacket { key: u64::MAX, packet_type: ZX_PKT_TYPE_USER, status: i32::MIN, payload: [0xff; 32] };
    env.zx.port_queue(port, &sent).unwrap();
    assert_eq!(env.zx.port_wait(port, 0), Ok(sent));
    env.close_all_and_check_clean(&[port]);
}

#[test]
fn packets_come_out_in_the_order_they_were_queued() {
    let env = Env::new();
    let port = env.zx.port_create(0).unwrap();
    for key in 1..=20 {
        env.zx.port_queue(port, &packet(key)).unwrap();
    }
    for key in 1..=20 {
        assert_eq!(env.zx.port_wait(port, ZX_TIME_INFINITE), Ok(packet(key)));
    }
    assert_eq!(env.zx.port_wait(port, 0), Err(Status::TimedOut), "every packet was taken once");
    env.close_all_and_check_clean(&[port]);
}

#[test]
fn user_and_page_request_packets_share_one_fifo() {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo(1, 42);
    up.zx().port_queue(up.port, &packet(1)).unwrap();
    let u = up.clone();
    let reader = spawn(move || u.zx().vmo_read(vmo, &mut [0; 4], 0));
    up.wait_blocked(vmo, 1);
    up.zx().port_queue(up.port, &packet(2)).unwrap();
    assert_eq!(up.zx().port_wait(up.port, 0), Ok(packet(1)));
    let request = up.zx().port_wait(up.port, 0).unwrap();
    assert_eq!((request.key, request.packet_type), (42, ZX_PKT_TYPE_PAGE_REQUEST));
    assert_eq!(request.page_request().unwrap().command, ZX_PAGER_VMO_READ);
    assert_eq!(up.zx().port_wait(up.port, 0), Ok(packet(2)));
    up.supply(vmo, 42, 0, 1);
    reader.join().unwrap();
    up.close_all_and_check_clean(&[vmo]);
}

#[test]
fn a_wait_with_a_past_deadline_times_out_at_once() {
    let env = Arc::new(Env::new());
    let port = env.zx.port_create(0).unwrap();
    let e = env.clone();
    let results =
        spawn(move || [0, -1, i64::MIN, e.zx.clock_get_monotonic()].map(|d| e.zx.port_wait(port, d)));
    assert_eq!(results.join(), [Err(Status::TimedOut); 4]);
    // A past deadline still takes a packet that is there.
    env.zx.port_queue(port, &packet(3)).unwrap();
    assert_eq!(env.zx.port_wait(port, 0), Ok(packet(3)));
    env.close_all_and_check_clean(&[port]);
}

#[test]
fn a_wait_with_a_near_deadline_times_out() {
    let env = Arc::new(Env::new());
    let port = env.zx.port_create(0).unwrap();
    let e = env.clone();
    let t = spawn(move || e.zx.port_wait(port, e.zx.deadline_after(2_000_000)));
    assert_eq!(t.join(), Err(Status::TimedOut));
    // The port still works after a timeout.
    env.zx.port_queue(port, &packet(4)).unwrap();
    assert_eq!(env.zx.port_wait(port, env.zx.deadline_after(2_000_000)), Ok(packet(4)));
    env.close_all_and_check_clean(&[port]);
}

#[test]
fn queue_needs_write_and_wait_needs_read() {
    let env = Env::new();
    let port = env.zx.port_create(0).unwrap();
    let no_write = env.with_rights(port, Rights::DEFAULT_PORT.difference(Rights::WRITE));
    let no_read = env.with_rights(port, Rights::DEFAULT_PORT.difference(Rights::READ));
    let write_only = env.with_rights(port, Rights::WRITE);
    let read_only = env.with_rights(port, Rights::READ);
    assert_eq!(env.zx.port_queue(no_write, &packet(1)), Err(Status::AccessDenied));
    assert_eq!(env.zx.port_queue(read_only, &packet(1)), Err(Status::AccessDenied));
    assert_eq!(env.zx.port_wait(no_read, 0), Err(Status::AccessDenied));
    assert_eq!(env.zx.port_wait(write_only, 0), Err(Status::AccessDenied));
    // Nothing was queued by the denied calls; each right alone suffices.
    assert_eq!(env.zx.port_wait(port, 0), Err(Status::TimedOut));
    env.zx.port_queue(write_only, &packet(5)).unwrap();
    env.zx.port_queue(no_read, &packet(6)).unwrap();
    assert_eq!(env.zx.port_wait(read_only, 0), Ok(packet(5)));
    assert_eq!(env.zx.port_wait(no_write, 0), Ok(packet(6)));
    env.close_all_and_check_clean(&[port, no_write, no_read, write_only, read_only]);
}

#[test]
fn queue_and_wait_on_other_objects_or_bad_handles() {
    let env = Env::new();
    let vmo = env.vmo(1);
    let pager = env.zx.pager_create(0).unwrap();
    // The type is checked before the rights: a VMO handle with no rights is
    // WRONG_TYPE, not ACCESS_DENIED.
    let bare_vmo = env.with_rights(vmo, Rights::empty());
    for other in [vmo, bare_vmo, pager, env.zx.root_vmar()] {
        assert_eq!(env.zx.port_queue(other, &packet(1)), Err(Status::WrongType), "{other:?}");
        assert_eq!(env.zx.port_wait(other, 0), Err(Status::WrongType), "{other:?}");
    }
    let closed = env.zx.port_create(0).unwrap();
    env.zx.handle_close(closed).unwrap();
    for bad in [Handle::INVALID, NEVER, closed] {
        assert_eq!(env.zx.port_queue(bad, &packet(1)), Err(Status::BadHandle), "{bad:?}");
        assert_eq!(env.zx.port_wait(bad, 0), Err(Status::BadHandle), "{bad:?}");
    }
    env.close_all_and_check_clean(&[vmo, bare_vmo, pager]);
}

#[test]
fn queue_is_should_wait_while_the_user_packet_limit_is_reached() {
    let env = Env::new();
    let port = env.zx.port_create(0).unwrap();
    let limit = MAX_PENDING_USER_PACKETS as u64;
    for key in 0..limit {
        env.zx.port_queue(port, &packet(key)).unwrap();
    }
    assert_eq!(env.zx.port_queue(port, &packet(limit)), Err(Status::ShouldWait));
    assert_eq!(env.zx.port_queue(port, &packet(limit + 1)), Err(Status::ShouldWait));
    // Dequeuing one makes room for exactly one.
    assert_eq!(env.zx.port_wait(port, 0), Ok(packet(0)));
    env.zx.port_queue(port, &packet(limit + 2)).unwrap();
    assert_eq!(env.zx.port_queue(port, &packet(limit + 3)), Err(Status::ShouldWait));
    // The refused packets were not queued.
    for key in (1..limit).chain([limit + 2]) {
        assert_eq!(env.zx.port_wait(port, 0), Ok(packet(key)));
    }
    assert_eq!(env.zx.port_wait(port, 0), Err(Status::TimedOut));
    env.close_all_and_check_clean(&[port]);
}

#[test]
fn a_waiter_on_another_thread_wakes_when_a_packet_is_queued() {
    let env = Arc::new(Env::new());
    let port = env.zx.port_create(0).unwrap();
    let e = env.clone();
    let waiter = spawn(move || e.zx.port_wait(port, ZX_TIME_INFINITE));
    // Give the waiter a chance to block first (not needed for correctness).
    std::thread::sleep(std::time::Duration::from_millis(20));
    env.zx.port_queue(port, &packet(9)).unwrap();
    assert_eq!(waiter.join(), Ok(packet(9)));
    env.close_all_and_check_clean(&[port]);
}

#[test]
fn two_waiters_take_one_packet_each() {
    let env = Arc::new(Env::new());
    let port = env.zx.port_create(0).unwrap();
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let e = env.clone();
            spawn(move || e.zx.port_wait(port, ZX_TIME_INFINITE))
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(20));
    env.zx.port_queue(port, &packet(10)).unwrap();
    env.zx.port_queue(port, &packet(11)).unwrap();
    let mut keys: Vec<u64> = waiters.into_iter().map(|w| w.join().unwrap().key).collect();
    keys.sort();
    assert_eq!(keys, [10, 11]);
    assert_eq!(env.zx.port_wait(port, 0), Err(Status::TimedOut));
    env.close_all_and_check_clean(&[port]);
}
