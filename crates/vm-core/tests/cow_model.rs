//! Clone trees against a model: random writes, commits, zeroes, resizes,
//! snapshots at random offsets and closes, checking after every step that
//! every live VMO reads what an eager copy would hold and that the family
//! holds exactly one frame per distinct live page content.

mod vmo_support;

use std::collections::HashSet;
use std::sync::Arc;

use vm_core::vmo::{ChildKind, Vmo};
use vmo_support::*;

/// Model page: `None` reads zero without a frame; `Some((tag, id))` holds
/// `tag` in a frame identified by `id` (shared by copy-on-write relatives).
type Page = Option<(u32, u64)>;

struct Live {
    vmo: Arc<Vmo>,
    pages: Vec<Page>,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn distinct_frames(live: &[Live]) -> usize {
    live.iter().flat_map(|l| l.pages.iter().flatten().map(|&(_, id)| id)).collect::<HashSet<_>>().len()
}

fn shared_elsewhere(live: &[Live], me: usize, id: u64) -> bool {
    live.iter().enumerate().any(|(j, l)| j != me && l.pages.iter().flatten().any(|&(_, x)| x == id))
}

fn run(seed: u64, steps: usize) {
    let m = machine();
    let mut rng = Rng(seed);
    let mut next_id = 0u64;
    let mut fresh = || {
        next_id += 1;
        next_id
    };
    let mut live = vec![Live { vmo: resizable(&m, 8), pages: vec![None; 8] }];
    for step in 0..steps {
        let i = rng.next(live.len() as u64) as usize;
        let n = live[i].pages.len() as u64;
        let op = rng.next(11);
        if std::env::var_os("MODEL_TRACE").is_some() {
            eprintln!("step {step}: vmo {i}/{} op {op} size {n}", live.len());
        }
        match op {
            0..=3 if n > 0 => {
                let p = rng.next(n);
                let t = rng.next(1 << 30) as u32 + 1;
                set_tag(&live[i].vmo, p, t);
                live[i].pages[p as usize] = Some((t, fresh()));
            }
            4 if n > 0 => {
                let (p, len) = (rng.next(n), 1 + rng.next(3));
                let len = len.min(n - p);
                live[i].vmo.commit(p * P, len * P).unwrap();
                for q in p..p + len {
                    let page = live[i].pages[q as usize];
                    let keep = matches!(page, Some((_, id)) if !shared_elsewhere(&live, i, id));
                    if !keep {
                        let tag = page.map_or(0, |(t, _)| t);
                        live[i].pages[q as usize] = Some((tag, fresh()));
                    }
                }
            }
            5 if n > 0 => {
                let (p, len) = (rng.next(n), 1 + rng.next(3));
                let len = len.min(n - p);
                live[i].vmo.zero(p * P, len * P).unwrap();
                for q in p..p + len {
                    live[i].pages[q as usize] = None;
                }
            }
            10 if n > 0 => {
                // Bytes 4..12 of a page: the tag survives; a shared page forks.
                let p = rng.next(n);
                live[i].vmo.zero(p * P + 4, 8).unwrap();
                if let Some((tag, id)) = live[i].pages[p as usize] {
                    if shared_elsewhere(&live, i, id) {
                        live[i].pages[p as usize] = Some((tag, fresh()));
                    }
                }
            }
            6 => {
                let size = rng.next(10);
                live[i].vmo.set_size(size * P).unwrap();
                live[i].pages.resize(size as usize, None);
            }
            7 | 8 if live.len() < 7 => {
                let (offset, size) = (rng.next(n + 2), rng.next(10));
                let child =
                    live[i].vmo.create_child(ChildKind::Snapshot, offset * P, size * P, true).unwrap();
                let pages = (offset..offset + size)
                    .map(|q| live[i].pages.get(q as usize).copied().flatten())
                    .collect();
                live.push(Live { vmo: child, pages });
            }
            _ if live.len() > 1 => {
                live.swap_remove(i);
            }
            _ => {}
        }
        for (j, l) in live.iter().enumerate() {
            let expect: Vec<u32> = l.pages.iter().map(|p| p.map_or(0, |(t, _)| t)).collect();
            assert_eq!(tags(&l.vmo), expect, "seed {seed} step {step} vmo {j}");
        }
        assert_eq!(
            m.used_frames(),
            distinct_frames(&live),
            "seed {seed} step {step}: frames held beyond the live contents"
        );
    }
}

#[test]
fn random_clone_trees_match_the_model() {
    for seed in 1..=150u64 {
        run(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15), 400);
    }
}
