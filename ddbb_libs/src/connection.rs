//! Framed streams: read whole [`Frame`]s from a byte stream and write them back buffered.
//!
//! The read side keeps one `BytesMut` and reads until [`Frame::check`] says a whole frame is
//! buffered; parsed bulk payloads share that buffer's memory. A clean EOF between frames is
//! `Ok(None)`; an EOF inside a frame is [`Error::ConnectionReset`].
//!
//! The write side only encodes into a buffer; [`FrameWriter::flush`] sends everything
//! queued with one write, so a burst of replies costs one syscall, not one per frame.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use crate::error::{Error, Result};
use crate::frame::{Frame, FrameLimits};

/// Initial read buffer size; it grows as large frames need.
const READ_BUFFER_BYTES: usize = 16 * 1024;

/// Reads frames from any async byte stream.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    buf: BytesMut,
    limits: FrameLimits,
    inline: bool,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A reader that accepts only RESP2 frames within `limits`.
    pub fn new(inner: R, limits: FrameLimits) -> Self {
        FrameReader {
            inner,
            buf: BytesMut::with_capacity(READ_BUFFER_BYTES),
            limits,
            inline: false,
        }
    }

    /// Also accept Redis inline commands (any request line not starting with `*`).
    /// Only for the request side of a connection: a reply could start with any type byte.
    pub fn accept_inline(mut self) -> Self {
        self.inline = true;
        self
    }

    /// Reads the next frame, waiting for bytes as needed.
    ///
    /// # Errors
    /// A protocol or size error leaves the stream unusable: the caller closes it.
    pub async fn read_frame(&mut self) -> Result<Option<Frame>> {
        loop {
            if let Some(frame) = self.try_read_buffered()? {
                return Ok(Some(frame));
            }
            if self.buf.capacity() - self.buf.len() < READ_BUFFER_BYTES / 2 {
                self.buf.reserve(READ_BUFFER_BYTES);
            }
            if self.inner.read_buf(&mut self.buf).await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(Error::ConnectionReset)
                };
            }
        }
    }

    /// Returns a frame if one is already wholly buffered, without reading.
    pub fn try_read_buffered(&mut self) -> Result<Option<Frame>> {
        loop {
            if self.buf.is_empty() {
                return Ok(None);
            }
            if self.inline && self.buf[0] != b'*' {
                let n = match Frame::check_inline(&self.buf) {
                    Ok(n) => n,
                    Err(Error::Incomplete) => return Ok(None),
                    Err(e) => return Err(e),
                };
                let line = self.buf.split_to(n).freeze();
                match Frame::parse_inline(&line) {
                    Some(frame) => return Ok(Some(frame)),
                    None => continue, // an empty line: Redis ignores it too
                }
            }
            return match Frame::check(&self.buf, &self.limits) {
                Ok(n) => {
                    let bytes: Bytes = self.buf.split_to(n).freeze();
                    Frame::parse(&bytes).map(Some)
                }
                Err(Error::Incomplete) => Ok(None),
                Err(e) => Err(e),
            };
        }
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }
}

/// Buffers encoded frames and writes them on [`FrameWriter::flush`].
#[derive(Debug)]
pub struct FrameWriter<W> {
    inner: W,
    buf: BytesMut,
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    /// A writer over `inner`.
    pub fn new(inner: W) -> Self {
        FrameWriter {
            inner,
            buf: BytesMut::with_capacity(READ_BUFFER_BYTES),
        }
    }

    /// Queues a frame; nothing is sent until [`FrameWriter::flush`].
    pub fn write_frame(&mut self, frame: &Frame) {
        frame.write_to(&mut self.buf);
    }

    /// Bytes queued and not yet flushed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Sends every queued frame with as few writes as the OS allows.
    pub async fn flush(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            self.inner.write_all(&self.buf).await?;
            self.buf.clear();
        }
        self.inner.flush().await?;
        Ok(())
    }

    /// Queues `frame` and flushes.
    pub async fn send(&mut self, frame: &Frame) -> Result<()> {
        self.write_frame(frame);
        self.flush().await
    }

    /// Shuts the write direction down (sends FIN) after flushing.
    pub async fn shutdown(&mut self) -> Result<()> {
        self.flush().await?;
        self.inner.shutdown().await?;
        Ok(())
    }
}

/// A framed TCP connection: a [`FrameReader`] and a [`FrameWriter`] over one socket.
#[derive(Debug)]
pub struct Connection {
    reader: FrameReader<OwnedReadHalf>,
    writer: FrameWriter<OwnedWriteHalf>,
}

impl Connection {
    /// Wraps a connected socket; sets `TCP_NODELAY` because we batch writes ourselves.
    pub fn new(stream: TcpStream, limits: FrameLimits) -> Self {
        // Nagle's algorithm would delay our already-batched small writes by up to 40 ms.
        let _ = stream.set_nodelay(true);
        let (r, w) = stream.into_split();
        Connection {
            reader: FrameReader::new(r, limits),
            writer: FrameWriter::new(w),
        }
    }

    /// Reads the next frame; `Ok(None)` on a clean close.
    pub async fn read_frame(&mut self) -> Result<Option<Frame>> {
        self.reader.read_frame().await
    }

    /// Queues a frame for the next flush.
    pub fn write_frame(&mut self, frame: &Frame) {
        self.writer.write_frame(frame)
    }

    /// Sends all queued frames.
    pub async fn flush(&mut self) -> Result<()> {
        self.writer.flush().await
    }

    /// Writes one frame and flushes.
    pub async fn send(&mut self, frame: &Frame) -> Result<()> {
        self.writer.send(frame).await
    }

    /// Splits into independently owned read and write sides (for pipelining tasks).
    pub fn into_split(self) -> (FrameReader<OwnedReadHalf>, FrameWriter<OwnedWriteHalf>) {
        (self.reader, self.writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_frames_across_partial_writes() {
        let (client, server) = tokio::io::duplex(64);
        let mut writer = FrameWriter::new(client);
        let mut reader = FrameReader::new(server, FrameLimits::default());
        let frames = vec![
            Frame::command(["SET", "a", "1"]),
            Frame::Integer(5),
            Frame::bulk(vec![7u8; 1000]),
        ];
        let sent = frames.clone();
        let task = tokio::spawn(async move {
            for f in &sent {
                writer.write_frame(f);
            }
            writer.shutdown().await.unwrap();
        });
        for f in frames {
            assert_eq!(reader.read_frame().await.unwrap(), Some(f));
        }
        assert_eq!(reader.read_frame().await.unwrap(), None);
        task.await.unwrap();
    }

    #[tokio::test]
    async fn eof_mid_frame_is_an_error() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut reader = FrameReader::new(server, FrameLimits::default());
        client.write_all(b"*2\r\n$3\r\nGET").await.unwrap();
        drop(client);
        assert!(matches!(
            reader.read_frame().await,
            Err(Error::ConnectionReset)
        ));
    }

    #[tokio::test]
    async fn inline_commands_when_enabled() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut reader = FrameReader::new(server, FrameLimits::default()).accept_inline();
        client
            .write_all(b"PING\r\n\r\n*1\r\n$4\r\nPING\r\n")
            .await
            .unwrap();
        drop(client);
        assert_eq!(
            reader.read_frame().await.unwrap(),
            Some(Frame::command(["PING"]))
        );
        assert_eq!(
            reader.read_frame().await.unwrap(),
            Some(Frame::command(["PING"]))
        );
        assert_eq!(reader.read_frame().await.unwrap(), None);
    }
}
