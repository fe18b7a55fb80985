//! The limit on connections served at once (`--max-connections`). Each
//! connection may buffer up to its HTTP/2 window of request data that no
//! handler has read yet, so their number is part of the memory bound.
//! Connections over the limit wait in the listen queue until one closes.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// Accepts connections from `listener`, at most `max` open at once.
pub fn accept_limited(listener: TcpListener, max: usize) -> ReceiverStream<io::Result<Limited>> {
    let slots = Arc::new(Semaphore::new(max.max(1)));
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = tx.closed() => return,
                accepted = async {
                    let permit = slots.clone().acquire_owned().await.expect("never closed");
                    listener.accept().await.map(|(io, _)| (io, permit))
                } => accepted,
            };
            let connection = accepted.map(|(io, permit)| {
                // Small answers and acks go out at once.
                let _ = io.set_nodelay(true);
                Limited {
                    io,
                    _permit: permit,
                }
            });
            if tx.send(connection).await.is_err() {
                return;
            }
        }
    });
    ReceiverStream::new(rx)
}

/// A connection holding its slot until it is dropped.
#[derive(Debug)]
pub struct Limited {
    io: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl Connected for Limited {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.io.connect_info()
    }
}

impl AsyncRead for Limited {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Limited {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
