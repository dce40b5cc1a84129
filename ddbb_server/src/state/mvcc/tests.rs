//! Unit tests of the MVCC core.
