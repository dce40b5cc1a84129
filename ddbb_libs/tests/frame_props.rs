//! Property tests of the RESP2 codec: round trips, chunked input, hostile input.

use bytes::{Bytes, BytesMut};
use ddbb_libs::{Command, Error, Frame, FrameLimits};
use proptest::prelude::*;

fn arb_frame() -> impl Strategy<Value = Frame> {
    let leaf = prop_oneof![
        "[a-zA-Z0-9 ]{0,20}".prop_map(Frame::Simple),
        "[a-zA-Z0-9 ]{0,20}".prop_map(Frame::Error),
        any::<i64>().prop_map(Frame::Integer),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(|v| Frame::Bulk(Bytes::from(v))),
        Just(Frame::Null),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        proptest::collection::vec(inner, 0..8).prop_map(Frame::Array)
    })
}

/// Feeds `input` in the given chunk sizes and collects what a reader would see:
/// every frame parsed, then the first error (or `None` if the input just ran out).
fn feed(input: &[u8], chunks: &[usize], limits: &FrameLimits) -> (Vec<Frame>, Option<String>) {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut offset = 0;
    let mut sizes = chunks.iter().cycle();
    while offset < input.len() {
        let n = (*sizes.next().unwrap_or(&1))
            .max(1)
            .min(input.len() - offset);
        buf.extend_from_slice(&input[offset..offset + n]);
        offset += n;
        loop {
            match Frame::check(&buf, limits) {
                Ok(len) => {
                    let bytes = buf.split_to(len).freeze();
                    frames.push(Frame::parse(&bytes).expect("parse after check"));
                }
                Err(Error::Incomplete) => break,
                Err(e) => return (frames, Some(e.to_string())),
            }
        }
    }
    (frames, None)
}

proptest! {
    #[test]
    fn any_frame_survives_serialize_then_parse(frame in arb_frame()) {
        let bytes = frame.serialize();
        prop_assert_eq!(Frame::check(&bytes, &FrameLimits::default()).unwrap(), bytes.len());
        prop_assert_eq!(Frame::parse(&bytes).unwrap(), frame);
    }

    #[test]
    fn frames_fed_in_pieces_parse_as_when_whole(
        frames in proptest::collection::vec(arb_frame(), 1..6),
        chunks in proptest::collection::vec(1usize..17, 1..8),
    ) {
        let mut input = BytesMut::new();
        for f in &frames {
            f.write_to(&mut input);
        }
        let limits = FrameLimits::default();
        let whole = feed(&input, &[input.len()], &limits);
        let pieces = feed(&input, &chunks, &limits);
        prop_assert_eq!(&whole.0, &frames);
        prop_assert_eq!(whole, pieces);
    }

    #[test]
    fn any_bytes_fed_in_pieces_give_the_same_result_as_whole(
        input in proptest::collection::vec(any::<u8>(), 0..256),
        chunks in proptest::collection::vec(1usize..17, 1..8),
    ) {
        let limits = FrameLimits::with_max_frame_bytes(1024);
        prop_assert_eq!(feed(&input, &[input.len().max(1)], &limits), feed(&input, &chunks, &limits));
    }

    #[test]
    fn resp_like_garbage_never_panics(
        parts in proptest::collection::vec(prop_oneof![
            Just(b"*".to_vec()), Just(b"$".to_vec()), Just(b":".to_vec()), Just(b"+".to_vec()),
            Just(b"-".to_vec()), Just(b"\r\n".to_vec()), Just(b"-1".to_vec()),
            Just(b"99999999999999999999".to_vec()), Just(b"3".to_vec()), Just(b"0".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..4),
        ], 0..40)
    ) {
        let input: Vec<u8> = parts.concat();
        let (frames, _) = feed(&input, &[3], &FrameLimits::with_max_frame_bytes(4096));
        // Whatever parsed must also be a valid command or a clean command error.
        for f in frames {
            let _ = Command::from_frame(f);
        }
    }

    #[test]
    fn commands_never_panic_on_arbitrary_arrays(
        words in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..8), 0..8),
        verb in prop_oneof![Just("SET"), Just("PUT"), Just("GET"), Just("DEL"), Just("DELRANGE"),
            Just("CAS"), Just("RANGE"), Just("PING"), Just("STATUS"), Just("CONFIG"), Just("ZZZ")],
    ) {
        let mut all: Vec<Bytes> = vec![Bytes::from(verb)];
        all.extend(words.into_iter().map(Bytes::from));
        if let Ok(cmd) = Command::from_frame(Frame::command(all)) {
            // Whatever parses must round-trip through its own frame.
            prop_assert_eq!(Command::from_frame(cmd.to_frame()).unwrap(), cmd);
        }
    }
}
