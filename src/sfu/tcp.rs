//! ICE over TCP (RFC 6544) on `rtc.tcp_port`, for clients whose networks block UDP.
//! Every answer carries a passive TCP host candidate per address; each accepted
//! connection carries RFC 4571 frames (a 16-bit big-endian length, then one STUN,
//! DTLS, RTP or RTCP packet) both ways. This shell only frames and unframes: the
//! driver demultiplexes the packets with `Rtc::accepts` exactly as it does datagrams.

use std::net::SocketAddr;
use std::time::Duration;

use str0m::net::TcpType;
use str0m::Candidate;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// A connection that carries nothing for this long is closed (ICE consent checks
/// flow every few seconds on a live one).
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Packets queued towards one connection; more are dropped like UDP would drop them.
const OUT_QUEUE: usize = 512;
/// Connections open at once; more are refused at accept.
const MAX_CONNECTIONS: usize = 4096;

/// What the connections tell the driver.
#[derive(Debug)]
pub(super) enum TcpEvent {
    /// A client connected: packets for `peer` go into `out`.
    Opened { peer: SocketAddr, out: mpsc::Sender<Vec<u8>> },
    /// One framed packet from `peer`, which connected to our address `local`.
    Packet { peer: SocketAddr, local: SocketAddr, data: Vec<u8> },
    Closed { peer: SocketAddr },
}

/// Accepts connections until the driver goes away.
pub(super) async fn serve(listener: TcpListener, events: mpsc::Sender<TcpEvent>) {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::debug!(error = %e, "ICE-TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if events.is_closed() {
            return;
        }
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "too many ICE-TCP connections; refusing one");
            continue;
        };
        let events = events.clone();
        tokio::spawn(async move {
            connection(stream, peer, events).await;
            drop(slot);
        });
    }
}

/// Our passive TCP host candidate on `addr` (clients connect to it).
pub(super) fn passive_candidate(addr: SocketAddr) -> Option<Candidate> {
    Candidate::builder().tcp().host(addr).tcptype(TcpType::Passive).build().ok()
}

async fn connection(stream: TcpStream, peer: SocketAddr, events: mpsc::Sender<TcpEvent>) {
    let Ok(local) = stream.local_addr() else { return };
    let _ = stream.set_nodelay(true);
    let peer = super::driver::to_ipv4_mapped(peer);
    let local = super::driver::to_ipv4_mapped(local);
    let (mut reader, writer) = stream.into_split();
    let (out, mut queued) = mpsc::channel::<Vec<u8>>(OUT_QUEUE);
    if events.send(TcpEvent::Opened { peer, out }).await.is_err() {
        return;
    }
    let writing = tokio::spawn(async move {
        let mut writer = BufWriter::new(writer);
        while let Some(packet) = queued.recv().await {
            if write_frame(&mut writer, &packet).await.is_err() {
                return;
            }
            // Write out whatever else is queued before flushing, so bursts go in few segments.
            while let Ok(packet) = queued.try_recv() {
                if write_frame(&mut writer, &packet).await.is_err() {
                    return;
                }
            }
            if writer.flush().await.is_err() {
                return;
            }
        }
    });
    loop {
        match tokio::time::timeout(IDLE_TIMEOUT, read_frame(&mut reader)).await {
            Ok(Ok(data)) => {
                if events.send(TcpEvent::Packet { peer, local, data }).await.is_err() {
                    break;
                }
            }
            _ => break,
        }
    }
    writing.abort();
    let _ = events.send(TcpEvent::Closed { peer }).await;
}

async fn write_frame(writer: &mut (impl AsyncWriteExt + Unpin), packet: &[u8]) -> std::io::Result<()> {
    let Ok(len) = u16::try_from(packet.len()) else { return Ok(()) };
    writer.write_all(&len.to_be_bytes()).await?;
    writer.write_all(packet).await
}

/// One RFC 4571 frame.
async fn read_frame(reader: &mut (impl AsyncReadExt + Unpin)) -> std::io::Result<Vec<u8>> {
    let len = reader.read_u16().await?;
    let mut data = vec![0u8; usize::from(len)];
    reader.read_exact(&mut data).await?;
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_with_a_16_bit_length_prefix() {
        let mut wire = Vec::new();
        write_frame(&mut wire, b"hello").await.unwrap();
        write_frame(&mut wire, b"").await.unwrap();
        assert_eq!(&wire[..7], &[0, 5, b'h', b'e', b'l', b'l', b'o']);
        let mut reader = &wire[..];
        assert_eq!(read_frame(&mut reader).await.unwrap(), b"hello");
        assert_eq!(read_frame(&mut reader).await.unwrap(), b"");
        assert!(read_frame(&mut reader).await.is_err(), "end of stream");
    }

    #[tokio::test]
    async fn a_truncated_frame_is_an_error_not_a_panic() {
        let mut reader: &[u8] = &[0, 10, 1, 2, 3];
        assert!(read_frame(&mut reader).await.is_err());
    }
}
