//! Fuzzes the RESP2 parser: `check` then `parse`, then command parsing, on arbitrary bytes.
//! Run with `cargo +nightly fuzz run frame_parse` from the repository root.
#![no_main]

use bytes::Bytes;
use ddbb_libs::{Command, Frame, FrameLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = FrameLimits::with_max_frame_bytes(1 << 20);
    let mut rest = Bytes::copy_from_slice(data);
    while let Ok(n) = Frame::check(&rest, &limits) {
        let frame_bytes = rest.split_to(n);
        let frame = Frame::parse(&frame_bytes).expect("check accepted it, so parse must");
        assert_eq!(Frame::check(&frame.serialize(), &limits).ok(), Some(frame.serialize().len()));
        let _ = Command::from_frame(frame);
    }
    let _ = Frame::check_inline(data);
});
