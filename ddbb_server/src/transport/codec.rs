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

/// The first frame on a peer connection: `[HELLO, from, cluster, to, knows_you]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The sender.
    pub from: NodeId,
    /// The sender's cluster id.
    pub cluster_id: u32,
    /// The replica the sender means to reach.
    pub to: NodeId,
    /// The sender has seen `to` take part in consensus before (see `Members`).
    pub knows_you: bool,
}

impl Hello {
    /// The hello's frame.
    pub fn to_frame(&self) -> Frame {
        Frame::Array(vec![
            Frame::bulk("HELLO"),
            Frame::Integer(self.from as i64),
            Frame::Integer(self.cluster_id as i64),
            Frame::Integer(self.to as i64),
            Frame::Integer(self.knows_you as i64),
        ])
    }

    /// Reads a hello frame.
    pub fn from_frame(frame: &Frame) -> Result<Hello, String> {
        let Frame::Array(items) = frame else {
            return Err("expected a hello array".into());
        };
        match &items[..] {
            [Frame::Bulk(tag), Frame::Integer(from), Frame::Integer(cluster), Frame::Integer(to), Frame::Integer(knows)]
                if &tag[..] == b"HELLO" && *from > 0 && *to > 0 =>
            {
                let cluster_id =
                    u32::try_from(*cluster).map_err(|_| "bad cluster id".to_string())?;
                Ok(Hello {
                    from: *from as NodeId,
                    cluster_id,
                    to: *to as NodeId,
                    knows_you: *knows != 0,
                })
            }
            _ => Err("malformed hello".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::WriteCommand;
    use ddbb_libs::kv::{PutRequest, WriteRequest};
    use ddbb_libs::RequestId;
    use omnipaxos::messages::sequence_paxos::{PaxosMessage, PaxosMsg};

    #[test]
    fn messages_roundtrip() {
        let entry = LogEntry {
            origin: 2,
            commands: vec![WriteCommand {
                id: RequestId { client: 1, seq: 2 },
                op: WriteRequest::Put(PutRequest::new("k", "v")),
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
        let hello = Hello {
            from: 1,
            cluster_id: 7,
            to: 2,
            knows_you: true,
        };
        assert_eq!(Hello::from_frame(&hello.to_frame()), Ok(hello));
        assert!(Hello::from_frame(&Frame::Null).is_err());
        assert!(Hello::from_frame(&Frame::command(["HELLO", "1"])).is_err());
    }
}
