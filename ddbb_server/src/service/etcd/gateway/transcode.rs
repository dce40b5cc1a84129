//! Protobuf JSON ⇄ gRPC messages, by descriptor: no per-message code.
//!
//! etcd's gateway (grpc-gateway v1, `JSONPb{OrigName: true}`) reads the protobuf JSON mapping
//! (either field name spelling, int64 as string or number, bytes as base64, enums by name or
//! number, unknown fields ignored) and writes it with the `.proto` field names, int64/uint64
//! as strings, enums by name, and fields holding their default value left out.
//!
//! A request body is a sequence of JSON values (one for a unary call, any number for a
//! client stream). [`JsonSplitter`] finds where each top-level value ends, incrementally and
//! in one pass over the bytes however they are chunked, so a value is parsed once it is
//! whole and a body is never scanned twice.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use prost::Message;
use prost_reflect::{DeserializeOptions, DynamicMessage, MessageDescriptor, SerializeOptions};
use tonic::codec::{DecodeBuf, Decoder};
use tonic::Status;

/// How etcd's gateway writes JSON: `.proto` names, 64-bit integers as strings, enums by name,
/// default values omitted (`EmitDefaults: false`).
const SERIALIZE: SerializeOptions = SerializeOptions::new()
    .use_proto_field_name(true)
    .stringify_64_bit_integers(true)
    .use_enum_numbers(false)
    .skip_default_fields(true);

/// How etcd's gateway reads JSON: unknown fields are ignored (`AllowUnknownFields: true`).
const DESERIALIZE: DeserializeOptions = DeserializeOptions::new().deny_unknown_fields(false);

/// Parses one JSON value (as [`JsonSplitter`] delimited it) as a `desc` message.
///
/// # Errors
/// `InvalidArgument` with the parser's complaint, as the gateway answers a body it cannot
/// decode.
pub fn message_from_json(desc: &MessageDescriptor, json: &[u8]) -> Result<DynamicMessage, Status> {
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let message =
        DynamicMessage::deserialize_with_options(desc.clone(), &mut deserializer, &DESERIALIZE)
            .and_then(|m| deserializer.end().map(|()| m))
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
    Ok(message)
}

/// Writes `message` as etcd's gateway does (fields in the order of their numbers, as Go's
/// jsonpb writes them in struct order).
pub fn message_to_json(message: &DynamicMessage) -> Result<Vec<u8>, Status> {
    let mut json = Vec::new();
    message
        .serialize_with_options(&mut serde_json::Serializer::new(&mut json), &SERIALIZE)
        .map_err(|e| Status::internal(format!("cannot render the response as JSON: {e}")))?;
    Ok(json)
}

/// One message in gRPC's length-prefixed framing: no compression flag, its length as a
/// big-endian u32, its bytes.
///
/// # Errors
/// `ResourceExhausted` with grpc-go's text when the message is larger than `limit` (what
/// etcd's gRPC server admits: `--max-request-bytes` plus its overhead allowance), as etcd's
/// gateway relays it.
pub fn grpc_frame(message: &DynamicMessage, limit: usize) -> Result<Bytes, Status> {
    let len = message.encoded_len();
    let header = u32::try_from(len)
        .ok()
        .filter(|_| len <= limit)
        .ok_or_else(|| {
            Status::resource_exhausted(format!(
                "grpc: received message larger than max ({len} vs. {limit})"
            ))
        })?;
    let mut frame = BytesMut::with_capacity(5 + len);
    frame.put_u8(0);
    frame.put_u32(header);
    message
        .encode(&mut frame)
        .map_err(|e| Status::internal(e.to_string()))?;
    Ok(frame.freeze())
}

/// Decodes the gRPC responses of a method as [`DynamicMessage`]s of its output type.
pub struct DynamicDecoder(pub MessageDescriptor);

impl Decoder for DynamicDecoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<DynamicMessage>, Status> {
        let message = DynamicMessage::decode(self.0.clone(), src.copy_to_bytes(src.remaining()))
            .map_err(|e| Status::internal(format!("cannot decode the response: {e}")))?;
        Ok(Some(message))
    }
}

/// What [`JsonSplitter::next_value`] found in the buffered bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Split {
    /// A whole top-level value: these bytes (leading whitespace skipped).
    Value(Bytes),
    /// Only part of a value, or nothing but whitespace, so far.
    NeedMore,
}

/// Cuts a stream of bytes into its top-level JSON values without parsing them: a scanner
/// that tracks only nesting depth and whether it is inside a string, and keeps its place
/// between calls, so each byte is looked at once.
///
/// Top-level values must be objects or arrays (a request is a message); anything else is
/// refused at its first byte.
#[derive(Debug, Default)]
pub struct JsonSplitter {
    buf: BytesMut,
    /// Bytes of `buf` already scanned.
    scanned: usize,
    /// Nesting depth at `scanned` (0: between values).
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl JsonSplitter {
    /// Appends received bytes.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// Bytes buffered and not yet handed out (the part of a value received so far).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// True when nothing but whitespace is buffered.
    pub fn is_blank(&self) -> bool {
        self.buf.iter().all(u8::is_ascii_whitespace)
    }

    /// The next whole value, if one is buffered.
    ///
    /// # Errors
    /// `InvalidArgument` when a top-level value is not an object or an array, or a bracket
    /// closes what was not open.
    pub fn next_value(&mut self) -> Result<Split, Status> {
        while self.scanned < self.buf.len() {
            let byte = self.buf[self.scanned];
            self.scanned += 1;
            if self.in_string {
                match (self.escaped, byte) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match byte {
                b'"' if self.depth > 0 => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' if self.depth > 0 => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        let value = self.buf.split_to(self.scanned).freeze();
                        self.scanned = 0;
                        let start = value
                            .iter()
                            .position(|b| !b.is_ascii_whitespace())
                            .unwrap_or(0);
                        return Ok(Split::Value(value.slice(start..)));
                    }
                }
                b if self.depth == 0 && b.is_ascii_whitespace() => {}
                b if self.depth == 0 => {
                    return Err(Status::invalid_argument(format!(
                        "invalid character {:?} looking for beginning of object",
                        char::from(b)
                    )));
                }
                _ => {}
            }
        }
        Ok(Split::NeedMore)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_reflect::DescriptorPool;

    fn pool() -> DescriptorPool {
        DescriptorPool::decode(ddbb_proto::FILE_DESCRIPTOR_SET).expect("descriptors")
    }

    fn values(chunks: &[&str]) -> Result<Vec<String>, Status> {
        let mut splitter = JsonSplitter::default();
        let mut out = Vec::new();
        for chunk in chunks {
            splitter.push(chunk.as_bytes());
            while let Split::Value(v) = splitter.next_value()? {
                out.push(String::from_utf8(v.to_vec()).expect("utf-8"));
            }
        }
        Ok(out)
    }

    #[test]
    fn splits_values_however_the_bytes_are_chunked() {
        let body = r#" {"a": "}{\"]", "b": [1, {"c": 2}]}
{"d": "\\"}[]"#;
        let whole = values(&[body]).expect("split");
        assert_eq!(
            whole,
            vec![
                r#"{"a": "}{\"]", "b": [1, {"c": 2}]}"#.to_string(),
                r#"{"d": "\\"}"#.to_string(),
                "[]".to_string(),
            ]
        );
        let bytes: Vec<String> = body.chars().map(String::from).collect();
        let refs: Vec<&str> = bytes.iter().map(String::as_str).collect();
        assert_eq!(values(&refs).expect("split"), whole);
    }

    #[test]
    fn refuses_top_level_scalars_and_stray_brackets() {
        assert!(values(&["12"]).is_err());
        assert!(values(&["\"x\""]).is_err());
        assert!(values(&["}"]).is_err());
        let mut splitter = JsonSplitter::default();
        splitter.push(b"{\"a\":");
        assert_eq!(splitter.next_value().expect("partial"), Split::NeedMore);
        assert!(!splitter.is_blank());
    }

    #[test]
    fn reads_and_writes_etcds_json_conventions() {
        let pool = pool();
        let desc = pool
            .get_message_by_name("etcdserverpb.RangeRequest")
            .expect("RangeRequest");
        // Both name spellings, int64 as string or number, enum by name, unknown fields ignored.
        let m = message_from_json(
            &desc,
            br#"{"key":"Zm9v","rangeEnd":"Zm9w","revision":"7","limit":3,"sort_order":"DESCEND","junk":1}"#,
        )
        .expect("parse");
        let json = message_to_json(&m).expect("render");
        assert_eq!(
            String::from_utf8(json).expect("utf-8"),
            r#"{"key":"Zm9v","range_end":"Zm9w","limit":"3","revision":"7","sort_order":"DESCEND"}"#
        );
        let err = message_from_json(&desc, br#"{"revision":"x"}"#).expect_err("bad int");
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        let lease = pool
            .get_message_by_name("etcdserverpb.LeaseGrantRequest")
            .expect("LeaseGrantRequest");
        let m = message_from_json(&lease, br#"{"TTL": 5, "ID": "0"}"#).expect("parse");
        assert_eq!(message_to_json(&m).expect("render"), br#"{"TTL":"5"}"#);
    }

    #[test]
    fn frames_carry_the_length_and_refuse_what_grpc_would() {
        let pool = pool();
        let desc = pool
            .get_message_by_name("etcdserverpb.PutRequest")
            .expect("PutRequest");
        let m = message_from_json(&desc, br#"{"key":"YQ==","value":"YmM="}"#).expect("parse");
        let frame = grpc_frame(&m, 100).expect("frame");
        assert_eq!(&frame[..5], &[0, 0, 0, 0, 7]);
        let err = grpc_frame(&m, 6).expect_err("too large");
        assert_eq!(err.code(), tonic::Code::ResourceExhausted);
        assert_eq!(
            err.message(),
            "grpc: received message larger than max (7 vs. 6)"
        );
    }
}
