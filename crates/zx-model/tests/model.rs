//! Random call sequences through the zx layer against the model
//! (`zx_model::run`). Proptest shrinks a failing sequence to a minimal one
//! (fewer calls, smaller numbers); `PROPTEST_CASES` sets how many run.

use proptest::prelude::*;
use zx_model::{ChildKind, Op, RangeOp};

fn child_kind() -> impl Strategy<Value = ChildKind> {
    prop_oneof![
        Just(ChildKind::Snapshot),
        Just(ChildKind::AtLeastOnWrite),
        Just(ChildKind::Slice),
        Just(ChildKind::Reference)
    ]
}

fn range_op() -> impl Strategy<Value = RangeOp> {
    prop_oneof![Just(RangeOp::Commit), Just(RangeOp::Decommit), Just(RangeOp::Zero)]
}

fn op() -> impl Strategy<Value = Op> {
    let h = any::<u8>();
    prop_oneof![
        1 => (any::<u8>(), any::<bool>()).prop_map(|(pages, resizable)| Op::CreateAnon { pages, resizable }),
        1 => (any::<u8>(), any::<bool>(), any::<bool>())
            .prop_map(|(pages, resizable, trap_dirty)| Op::CreatePager { pages, resizable, trap_dirty }),
        1 => (h, child_kind(), any::<u8>(), any::<u8>(), any::<bool>(), any::<bool>()).prop_map(
            |(parent, kind, offset, pages, resizable, no_write)| Op::CreateChild {
                parent,
                kind,
                offset,
                pages,
                resizable,
                no_write
            }
        ),
        1 => h.prop_map(|handle| Op::DuplicateReadOnly { handle }),
        3 => (h, any::<u16>(), any::<u16>(), any::<u8>())
            .prop_map(|(handle, offset, len, byte)| Op::Write { handle, offset, len, byte }),
        2 => (h, any::<u16>(), any::<u16>()).prop_map(|(handle, offset, len)| Op::Read { handle, offset, len }),
        3 => (h, any::<u16>(), any::<u8>()).prop_map(|(handle, offset, byte)| Op::Store { handle, offset, byte }),
        2 => (h, any::<u16>()).prop_map(|(handle, offset)| Op::Load { handle, offset }),
        1 => (h, any::<u8>()).prop_map(|(handle, pages)| Op::SetSize { handle, pages }),
        2 => (h, range_op(), any::<u16>(), any::<u16>())
            .prop_map(|(handle, op, offset, len)| Op::Range { handle, op, offset, len }),
        1 => h.prop_map(|handle| Op::Close { handle }),
        2 => h.prop_map(|handle| Op::WriteBack { handle }),
        2 => h.prop_map(|handle| Op::WritebackBegin { handle }),
        2 => h.prop_map(|handle| Op::WritebackEnd { handle }),
        1 => (h, any::<u8>(), any::<u8>(), any::<u8>())
            .prop_map(|(handle, page, pages, status)| Op::Fail { handle, page, pages, status }),
        1 => Just(Op::Reclaim),
        1 => h.prop_map(|handle| Op::Detach { handle }),
        1 => (h, any::<u16>(), any::<u16>())
            .prop_map(|(handle, offset, len)| Op::ReadFailing { handle, offset, len }),
        1 => (h, any::<u16>()).prop_map(|(handle, offset)| Op::LoadFailing { handle, offset }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 200,
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct(
            "tests/model.proptest-regressions",
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn call_sequences_agree_with_the_model(ops in proptest::collection::vec(op(), 1..120)) {
        let result = zx_model::run(&ops);
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
    }
}
