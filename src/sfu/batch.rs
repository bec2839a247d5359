//! `GsoBatch`: consecutive datagrams for one destination packed into one UDP GSO
//! send (one `sendmsg` carrying up to `max_segments` datagrams, which the kernel
//! splits). A video frame leaves the engine as several equal-size packets to one
//! viewer, so this divides the send syscalls of the forwarding path by about the
//! packets per frame. Sans-IO: the shell offers datagrams and sends what comes out.

use std::net::{IpAddr, SocketAddr};

#[derive(Debug)]
pub struct GsoBatch {
    buf: Vec<u8>,
    destination: Option<SocketAddr>,
    source: Option<IpAddr>,
    segment: usize,
    count: usize,
    max_segments: usize,
    /// A shorter datagram ended the batch: GSO allows only the last segment to be short.
    closed: bool,
}

/// One send: `contents` is `count` datagrams of `segment` bytes (the last may be shorter).
#[derive(Debug, PartialEq, Eq)]
pub struct Batch<'a> {
    pub destination: SocketAddr,
    pub source: Option<IpAddr>,
    pub contents: &'a [u8],
    /// `None` for a single datagram.
    pub segment_size: Option<usize>,
    pub count: usize,
}

impl GsoBatch {
    /// `max_segments`: what the socket supports (1 disables batching).
    pub fn new(max_segments: usize) -> Self {
        GsoBatch { buf: Vec::with_capacity(64 * 1024), destination: None, source: None, segment: 0, count: 0, max_segments: max_segments.max(1), closed: false }
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Adds the datagram to the batch if it can join it; false when the caller must
    /// `take` (send) the batch first and offer it again.
    pub fn offer(&mut self, destination: SocketAddr, source: Option<IpAddr>, contents: &[u8]) -> bool {
        if self.count == 0 {
            self.buf.clear();
            self.buf.extend_from_slice(contents);
            self.destination = Some(destination);
            self.source = source;
            self.segment = contents.len();
            self.count = 1;
            self.closed = false;
            return true;
        }
        let joins = !self.closed
            && self.count < self.max_segments
            && self.destination == Some(destination)
            && self.source == source
            && !contents.is_empty()
            && contents.len() <= self.segment
            && self.buf.len() + contents.len() <= u16::MAX as usize;
        if !joins {
            return false;
        }
        self.buf.extend_from_slice(contents);
        self.count += 1;
        self.closed = contents.len() < self.segment;
        true
    }

    /// The batched datagrams as one send, emptying the batch (None when empty).
    pub fn take(&mut self) -> Option<Batch<'_>> {
        let destination = self.destination.filter(|_| self.count > 0)?;
        let (count, segment_size) = (self.count, (self.count > 1).then_some(self.segment));
        self.count = 0;
        Some(Batch { destination, source: self.source, contents: &self.buf, segment_size, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn equal_datagrams_to_one_destination_go_in_one_send_with_a_short_last_one() {
        let mut batch = GsoBatch::new(64);
        assert!(batch.offer(to(1), None, &[1; 1200]));
        assert!(batch.offer(to(1), None, &[2; 1200]));
        assert!(batch.offer(to(1), None, &[3; 500]));
        assert!(!batch.offer(to(1), None, &[4; 500]), "nothing may follow a short segment");
        let sent = batch.take().unwrap();
        assert_eq!(sent.segment_size, Some(1200));
        assert_eq!(sent.contents.len(), 2900);
        assert_eq!(sent.contents[1200], 2);
        assert!(batch.is_empty());
    }

    #[test]
    fn another_destination_a_longer_datagram_or_a_full_batch_starts_a_new_send() {
        let mut batch = GsoBatch::new(2);
        batch.offer(to(1), None, &[0; 100]);
        assert!(!batch.offer(to(2), None, &[0; 100]));
        assert!(!batch.offer(to(1), None, &[0; 101]));
        assert!(batch.offer(to(1), None, &[0; 100]));
        assert!(!batch.offer(to(1), None, &[0; 100]), "at most max_segments");
    }

    #[test]
    fn a_single_datagram_is_sent_without_a_segment_size_and_an_empty_batch_sends_nothing() {
        let mut batch = GsoBatch::new(1);
        assert!(batch.take().is_none());
        batch.offer(to(1), None, &[7; 10]);
        assert!(!batch.offer(to(1), None, &[7; 10]), "max_segments 1 disables batching");
        assert_eq!(batch.take().unwrap(), Batch { destination: to(1), source: None, contents: &[7; 10], segment_size: None, count: 1 });
        assert!(batch.take().is_none());
    }
}
