//! Encoding of peer frames: the hello and bincode-encoded OmniPaxos messages.

use bincode::Options;
use bytes::Bytes;
use ddbb_libs::{Frame, NodeId};
use omnipaxos::messages::Message;

use crate::entry::LogEntry;

/// An OmniPaxos message carrying DDBB log entries.
pub type PeerMessage = Message<LogEntry>;

fn options(limit: usize) -> impl Options {
    // Varint lengths keep small messages (heartbeats, Accepted) small. Corrupt lengths cannot
    // make bincode allocate much: it caps preallocation and reads slices with bounds checks;
    // the limit refuses sequences that claim more bytes than the frame holds.
    bincode::DefaultOptions::new().with_limit(limit as u64)
}

/// Encodes a message for a bulk frame.
pub fn encode_message(msg: &PeerMessage) -> Result<Bytes, String> {
    options(usize::MAX)
        .serialize(msg)
        .map(Bytes::from)
        .map_err(|e| e.to_string())
}

/// Decodes a message from a bulk frame of at most `limit` bytes.
pub fn decode_message(bytes: &[u8], limit: usize) -> Result<PeerMessage, String> {
    options(limit).deserialize(bytes).map_err(|e| e.to_string())
}

/// The first frame on a peer connection.
pub fn hello_frame(from: NodeId, cluster_id: u32, to: NodeId) -> Frame {
    Frame::Array(vec![
        Frame::bulk("HELLO"),
        Frame::Integer(from as i64),
        Frame::Integer(cluster_id as i64),
        Frame::Integer(to as i64),
    ])
}

/// Reads a hello: `(from, cluster_id, to)`.
pub fn parse_hello(frame: &Frame) -> Result<(NodeId, u32, NodeId), String> {
    match frame {
        Frame::Array(items) => match &items[..] {
            [Frame::Bulk(tag), Frame::Integer(from), Frame::Integer(cluster), Frame::Integer(to)]
                if &tag[..] == b"HELLO" && *from > 0 && *to > 0 =>
            {
                let cluster = u32::try_from(*cluster).map_err(|_| "bad cluster id".to_string())?;
                Ok((*from as NodeId, cluster, *to as NodeId))
            }
            _ => Err("malformed hello".into()),
        },
        _ => Err("expected a hello array".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{WriteCommand, WriteOp};
    use ddbb_libs::RequestId;
    use omnipaxos::messages::sequence_paxos::{PaxosMessage, PaxosMsg};

    #[test]
    fn messages_roundtrip() {
        let entry = LogEntry {
            origin: 2,
            commands: vec![WriteCommand {
                id: RequestId { client: 1, seq: 2 },
                op: WriteOp::Put {
                    key: "k".into(),
                    value: "v".into(),
                    if_revision: None,
                },
            }],
            barriers: vec![crate::entry::ReadBarrier {
                after: 1,
                number: 3,
            }],
            session_floor: None,
        };
        let msg = Message::SequencePaxos(PaxosMessage {
            from: 2,
            to: 1,
            msg: PaxosMsg::ProposalForward(vec![entry]),
        });
        let bytes = encode_message(&msg).unwrap();
        let back = decode_message(&bytes, 1 << 20).unwrap();
        assert_eq!(format!("{back:?}"), format!("{msg:?}"));
        assert!(
            decode_message(&bytes[..bytes.len() - 1], 1 << 20).is_err(),
            "a truncated message is refused"
        );
        assert!(decode_message(b"\xff\xff\xff", 1 << 20).is_err());
    }

    #[test]
    fn hello_roundtrips_and_rejects_garbage() {
        assert_eq!(parse_hello(&hello_frame(1, 7, 2)), Ok((1, 7, 2)));
        assert!(parse_hello(&Frame::Null).is_err());
        assert!(parse_hello(&Frame::command(["HELLO", "1"])).is_err());
    }
}
