//! A stage is one connection of a session: the source the listener accepted, or one hop of the
//! route (a remote connection or an in-proxy transform). Every stage moves messages: datagram
//! protocols keep their boundaries, byte streams deliver whatever chunk the kernel returns.
//!
//! Receiving is poll-based so that one session task can wait on all of its stages at once
//! without a task or a buffer per stage: reads go through a per-thread scratch buffer (UDP hops
//! through the worker's [`crate::udp::batch`] buffers) and only the bytes actually received are
//! copied out. That keeps an idle session down to its sockets and a few kilobytes.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures_util::{SinkExt, Stream};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpStream, UdpSocket, UnixStream};
use tokio_seqpacket::UnixSeqpacket;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

use crate::msg::{MAX_DATAGRAM, MAX_STREAM_CHUNK, Recv};
use crate::transform::Local;
use crate::udp::{UdpHop, UdpPeer, send_datagram};

thread_local! {
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; MAX_DATAGRAM].into_boxed_slice());
}

/// One connection of a session.
pub enum Stage {
    /// A connected UDP socket of a cluster hop.
    Udp(UdpHop),
    /// A singleton UDP listener's connected socket, which outlives each of its sessions.
    UdpConnected(Arc<UdpSocket>),
    /// The per-peer socket of a UDP server-mode listener.
    UdpPeer(UdpPeer),
    /// A TCP connection.
    Tcp(TcpStream),
    /// A Unix stream connection.
    Unix(UnixStream),
    /// A Unix seqpacket connection.
    Seqpacket(UnixSeqpacket),
    /// A WebSocket connection, server or client side.
    WebSocket(Box<WsStage>),
    /// An in-proxy transform (Echo, Logger, JSONEncap, Sync, ...).
    Local(Local),
}

/// A WebSocket connection. Sessions carry plain messages, without the text/binary kind of a
/// WebSocket frame, so the stage answers in its peer's kind: a message goes out as text when
/// the peer's latest message was text and the message is UTF-8 (a text client gets text back,
/// from Echo or from any upstream that answers in UTF-8), else as binary.
pub struct WsStage {
    ws: WebSocketStream<TcpStream>,
    /// Whether the peer's latest message was text.
    peer_text: bool,
    /// The close code owed to a peer that broke the protocol (1007 for text that is not UTF-8),
    /// sent with the close frame.
    close_code: Option<CloseCode>,
}

impl WsStage {
    /// A stage on a connection whose handshake is done.
    pub fn new(ws: WebSocketStream<TcpStream>) -> Self {
        Self {
            ws,
            peer_text: false,
            close_code: None,
        }
    }

    async fn send(&mut self, data: Bytes) -> io::Result<()> {
        let message = match self.peer_text {
            // A clone of `Bytes` shares the buffer; it is kept for the binary fallback.
            true => match Utf8Bytes::try_from(data.clone()) {
                Ok(text) => Message::Text(text),
                Err(_) => Message::Binary(data),
            },
            false => Message::Binary(data),
        };
        self.ws.send(message).await.map_err(io::Error::other)
    }

    async fn close(&mut self) {
        let frame = self.close_code.map(|code| CloseFrame {
            code,
            reason: "text message is not valid UTF-8".into(),
        });
        let _ = self.ws.close(frame).await;
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Recv> {
        loop {
            let message = match ready!(Pin::new(&mut self.ws).poll_next(cx)) {
                None => return Poll::Ready(Recv::Closed),
                Some(Err(WsError::Utf8(e))) => {
                    self.close_code = Some(CloseCode::Invalid);
                    return Poll::Ready(Recv::Failed(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("WebSocket text message is not valid UTF-8: {e}"),
                    )));
                }
                Some(Err(e)) => return Poll::Ready(Recv::Failed(io::Error::other(e))),
                Some(Ok(m)) => m,
            };
            match message {
                Message::Binary(b) => {
                    self.peer_text = false;
                    return Poll::Ready(Recv::Data(b));
                }
                Message::Text(t) => {
                    self.peer_text = true;
                    return Poll::Ready(Recv::Data(t.into()));
                }
                Message::Close(_) => return Poll::Ready(Recv::Closed),
                // Pings are answered by the library; pongs and raw frames carry no payload.
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
    }
}

impl Stage {
    /// Polls for the next message. Never call again after `Closed` or `Failed`.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Recv> {
        match self {
            Stage::Udp(h) => h.poll_recv(cx),
            Stage::UdpConnected(s) => poll_datagram(|buf| s.poll_recv(cx, buf)),
            Stage::UdpPeer(p) => p.poll_recv(cx),
            Stage::Tcp(s) => poll_stream(Pin::new(s), cx),
            Stage::Unix(s) => poll_stream(Pin::new(s), cx),
            Stage::Seqpacket(s) => poll_seqpacket(s, cx),
            Stage::WebSocket(ws) => ws.poll_recv(cx),
            Stage::Local(l) => l.poll_recv(cx),
        }
    }

    /// Sends one message.
    pub async fn send(&mut self, data: Bytes) -> io::Result<()> {
        match self {
            Stage::Udp(h) => h.send(&data).await,
            Stage::UdpConnected(s) => send_datagram(s.try_send(&data), || s.send(&data)).await,
            Stage::UdpPeer(p) => p.send(&data).await,
            Stage::Tcp(s) => s.write_all(&data).await,
            Stage::Unix(s) => s.write_all(&data).await,
            Stage::Seqpacket(s) => s.send(&data).await.map(drop),
            Stage::WebSocket(ws) => ws.send(data).await,
            Stage::Local(l) => {
                l.send(data).await;
                Ok(())
            }
        }
    }

    /// Tells the stage that nothing more will be sent. Returns false when the protocol cannot
    /// carry a half-close (datagrams), in which case the session should end.
    pub async fn finish(&mut self) -> bool {
        match self {
            Stage::Tcp(s) => s.shutdown().await.is_ok(),
            Stage::Unix(s) => s.shutdown().await.is_ok(),
            Stage::Local(l) => {
                l.finish();
                true
            }
            Stage::Udp(_)
            | Stage::UdpConnected(_)
            | Stage::UdpPeer(_)
            | Stage::Seqpacket(_)
            | Stage::WebSocket(_) => false,
        }
    }

    /// Closes the stage politely where the protocol has a way to (a WebSocket close frame).
    pub async fn close(&mut self) {
        if let Stage::WebSocket(ws) = self {
            ws.close().await;
        }
    }

    /// Waits for the next message; for code that reads one stage alone (a handshake).
    pub async fn recv(&mut self) -> Recv {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// True for byte streams (TCP, Unix stream), where a message boundary means nothing.
    pub fn is_stream(&self) -> bool {
        matches!(self, Stage::Tcp(_) | Stage::Unix(_))
    }

    /// True for datagram sockets, which hold no connection: nothing tells them that their
    /// peer is gone until a message fails to reach it (see the session's departed-endpoint
    /// check at its idle tick).
    pub fn is_connectionless(&self) -> bool {
        matches!(
            self,
            Stage::Udp(_) | Stage::UdpConnected(_) | Stage::UdpPeer(_)
        )
    }

    /// True for in-proxy transforms, which cannot fail or be reconnected.
    pub fn is_local(&self) -> bool {
        matches!(self, Stage::Local(_))
    }
}

fn with_scratch<T>(f: impl FnOnce(&mut [u8]) -> T) -> T {
    SCRATCH.with_borrow_mut(|buf| f(buf))
}

fn poll_datagram(recv: impl FnOnce(&mut ReadBuf<'_>) -> Poll<io::Result<()>>) -> Poll<Recv> {
    with_scratch(|buf| {
        let mut rb = ReadBuf::new(buf);
        match ready!(recv(&mut rb)) {
            Ok(()) => Poll::Ready(Recv::Data(Bytes::copy_from_slice(rb.filled()))),
            Err(e) => Poll::Ready(Recv::Failed(e)),
        }
    })
}

fn poll_stream<S: AsyncRead>(stream: Pin<&mut S>, cx: &mut Context<'_>) -> Poll<Recv> {
    with_scratch(|buf| {
        let mut rb = ReadBuf::new(&mut buf[..MAX_STREAM_CHUNK]);
        match ready!(stream.poll_read(cx, &mut rb)) {
            Ok(()) if rb.filled().is_empty() => Poll::Ready(Recv::Closed),
            Ok(()) => Poll::Ready(Recv::Data(Bytes::copy_from_slice(rb.filled()))),
            Err(e) => Poll::Ready(Recv::Failed(e)),
        }
    })
}

fn poll_seqpacket(socket: &UnixSeqpacket, cx: &mut Context<'_>) -> Poll<Recv> {
    with_scratch(|buf| match ready!(socket.poll_recv(cx, buf)) {
        Ok(info) if info.bytes_read() == 0 => Poll::Ready(Recv::Closed),
        Ok(info) => Poll::Ready(Recv::Data(Bytes::copy_from_slice(
            &buf[..info.bytes_read()],
        ))),
        Err(e) => Poll::Ready(Recv::Failed(e)),
    })
}
