//! lin_test.
