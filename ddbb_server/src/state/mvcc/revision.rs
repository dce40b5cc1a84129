//! Revisions: etcd's `(main, sub)` pair.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A point in the store's history, ordered by `main` then `sub`.
///
/// `main` grows by one per write request that changes the store (a Put, a DeleteRange that
/// deleted something, a Txn whose chosen branch wrote); `sub` numbers the changes inside that
/// request from 0. The store starts at main revision 1 (as etcd), so the first write gets
/// `(2, 0)`. The revisions clients see (`create_revision`, `mod_revision`, a Range's
/// `revision`) are `main` values.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Revision {
    /// The write request's revision.
    pub main: i64,
    /// The change's number inside the request.
    pub sub: i64,
}

impl Revision {
    /// The revision `(main, sub)`.
    pub const fn new(main: i64, sub: i64) -> Revision {
        Revision { main, sub }
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.main, self.sub)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_main_then_sub() {
        assert!(Revision::new(2, 0) < Revision::new(2, 1));
        assert!(Revision::new(2, 9) < Revision::new(3, 0));
        assert_eq!(Revision::new(4, 1).to_string(), "4.1");
    }
}
