//! The sequential specification of one register: what each operation does when it takes effect.
//!
//! The state is the register's value, `None` when the key is absent (the initial state).
//! [`step`] describes an operation that *took effect*; the checker decides which operations
//! did: `:ok` ones must, `:fail` ones did not (they are never stepped), `:info` ones may or may
//! not. A `:fail` cas is therefore not modelled as "the compare mismatched" but as "did not
//! happen", as Knossos does; an `:info` cas that is stepped is one that swapped.
//!
//! DDBB's `DEL` answers a count and is recorded `:ok` whatever the count: a delete always
//! succeeds and leaves the key absent, so it is modelled as a write of `nil`.

use crate::history::{Action, Datum};

/// A register operation with the values the model needs, generic over the value type so that
/// the checker can run it on interned ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegisterOp<V> {
    /// A read that returned this value (`None`: absent).
    Read(Option<V>),
    /// A write of this value (`None`: make absent).
    Write(Option<V>),
    /// A compare-and-swap that swapped: the register held `expected` and now holds `new`.
    Cas {
        /// The value required before.
        expected: Option<V>,
        /// The value after.
        new: Option<V>,
    },
    /// A delete: the register becomes absent.
    Delete,
}

/// The state of a fresh register: absent.
pub fn initial<V>() -> Option<V> {
    None
}

/// Applies `op` to `state`: the new state, or `None` if `op` cannot take effect in `state`
/// (a read of another value, a cas whose expected value is not the current one).
pub fn step<V: PartialEq + Clone>(state: &Option<V>, op: &RegisterOp<V>) -> Option<Option<V>> {
    match op {
        RegisterOp::Read(value) => (value == state).then(|| state.clone()),
        RegisterOp::Write(value) => Some(value.clone()),
        RegisterOp::Cas { expected, new } => (expected == state).then(|| new.clone()),
        RegisterOp::Delete => Some(None),
    }
}

impl RegisterOp<Datum> {
    /// The model operation for a history action.
    pub fn from_action(action: &Action) -> Self {
        match action {
            Action::Read(v) => RegisterOp::Read(v.clone()),
            Action::Write(v) => RegisterOp::Write(v.clone()),
            Action::Cas { expected, new } => RegisterOp::Cas {
                expected: expected.clone(),
                new: new.clone(),
            },
            Action::Delete => RegisterOp::Delete,
        }
    }
}

impl<V> RegisterOp<V> {
    /// The same operation with every value mapped through `f` (used to intern values).
    pub fn map<W>(self, mut f: impl FnMut(V) -> W) -> RegisterOp<W> {
        match self {
            RegisterOp::Read(v) => RegisterOp::Read(v.map(&mut f)),
            RegisterOp::Write(v) => RegisterOp::Write(v.map(&mut f)),
            RegisterOp::Cas { expected, new } => RegisterOp::Cas {
                expected: expected.map(&mut f),
                new: new.map(&mut f),
            },
            RegisterOp::Delete => RegisterOp::Delete,
        }
    }

    /// Whether the operation can change the state (reads cannot).
    pub fn is_mutation(&self) -> bool {
        !matches!(self, RegisterOp::Read(_))
    }
}

impl<V: PartialEq> RegisterOp<V> {
    /// Whether the operation leaves the state unchanged in every state where it can take
    /// effect: a read, or a cas whose new value is the expected one. (A write of the current
    /// value is not one: the same write changes the state elsewhere.)
    pub fn is_observer(&self) -> bool {
        match self {
            RegisterOp::Read(_) => true,
            RegisterOp::Cas { expected, new } => expected == new,
            RegisterOp::Write(_) | RegisterOp::Delete => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_must_match_the_state() {
        assert_eq!(step(&Some(1), &RegisterOp::Read(Some(1))), Some(Some(1)));
        assert_eq!(step(&Some(1), &RegisterOp::Read(Some(2))), None);
        assert_eq!(step(&None::<i32>, &RegisterOp::Read(None)), Some(None));
        assert_eq!(step(&None::<i32>, &RegisterOp::Read(Some(1))), None);
    }

    #[test]
    fn writes_and_deletes_always_apply() {
        assert_eq!(step(&None, &RegisterOp::Write(Some(3))), Some(Some(3)));
        assert_eq!(step(&Some(1), &RegisterOp::Write(None)), Some(None));
        assert_eq!(step(&Some(1), &RegisterOp::<i32>::Delete), Some(None));
        assert_eq!(step(&None, &RegisterOp::<i32>::Delete), Some(None));
    }

    #[test]
    fn cas_applies_only_on_the_expected_value() {
        let cas = RegisterOp::Cas {
            expected: Some(1),
            new: Some(2),
        };
        assert_eq!(step(&Some(1), &cas), Some(Some(2)));
        assert_eq!(step(&Some(3), &cas), None);
        assert_eq!(step(&None, &cas), None);
        let create = RegisterOp::Cas {
            expected: None,
            new: Some(5),
        };
        assert_eq!(step(&None, &create), Some(Some(5)));
        assert_eq!(initial::<i32>(), None);
    }

    #[test]
    fn map_interns_values() {
        let op = RegisterOp::Cas {
            expected: Some("a"),
            new: None,
        };
        assert_eq!(
            op.map(str::len),
            RegisterOp::Cas {
                expected: Some(1),
                new: None
            }
        );
        assert!(op.is_mutation());
        assert!(!RegisterOp::Read(Some(1)).is_mutation());
    }

    #[test]
    fn observers_never_change_the_state() {
        assert!(RegisterOp::Read(Some(1)).is_observer());
        assert!(RegisterOp::Cas {
            expected: Some(1),
            new: Some(1)
        }
        .is_observer());
        assert!(!RegisterOp::Cas {
            expected: Some(1),
            new: Some(2)
        }
        .is_observer());
        assert!(!RegisterOp::Write(Some(1)).is_observer());
        assert!(!RegisterOp::<i32>::Delete.is_observer());
    }
}
