//! Recording for replays (`streamcart.sfu.record: true`). Each publish writes its
//! tracks as they were published, without transcoding, into
//! `<data_dir>/recordings/<room>/<unix ms>-<session prefix>/`: VP8, VP9 and AV1 video
//! as IVF (`video-<mid>.ivf`), H.264 as an Annex-B stream (`video-<mid>.h264`),
//! Opus as Ogg Opus (`audio-<mid>.opus`). Of a simulcast track, one layer is kept:
//! the top layer when recording begins, from its first keyframe.
//!
//! The containers are written by sans-IO functions (`ivf_*`, `OggOpus`); one task per
//! publish owns the files. The driver hands it frames with `try_send` (the frame
//! bytes are shared, not copied), so a slow disk loses frames from the recording and
//! never stalls forwarding.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use str0m::format::Codec;
use str0m::media::Mid;
use tokio::io::{AsyncSeekExt, AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;

use super::forwarder::Layer;

/// Frames waiting for the disk; beyond this the recording drops them.
const QUEUE: usize = 2048;

/// One published frame, for the recorder.
#[derive(Debug)]
pub struct RecordFrame {
    pub mid: Mid,
    pub codec: Codec,
    pub layer: Layer,
    /// Whether `layer` is the track's top layer now (the one to start recording).
    pub top: bool,
    pub keyframe: bool,
    /// RTP time (extended) at `clock_rate` Hz.
    pub time: u64,
    pub clock_rate: u32,
    pub data: Arc<[u8]>,
}

/// The driver's handle on one publish's recording; dropping it closes the files.
#[derive(Debug)]
pub struct Recorder {
    frames: mpsc::Sender<RecordFrame>,
}

impl Recorder {
    /// Starts recording into `dir` (created on the first frame).
    pub fn start(dir: PathBuf) -> Recorder {
        let (frames, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write(dir, rx));
        Recorder { frames }
    }

    pub fn record(&self, frame: RecordFrame) {
        if self.frames.try_send(frame).is_err() {
            metrics::counter!("sfu_recording_frames_dropped_total").increment(1);
        }
    }
}

/// The 32-byte IVF file header (`frames` may be 0 while still writing).
pub fn ivf_file_header(fourcc: &[u8; 4], timebase_hz: u32, frames: u32) -> [u8; 32] {
    let mut h = [0u8; 32];
    h[0..4].copy_from_slice(b"DKIF");
    h[6..8].copy_from_slice(&32u16.to_le_bytes());
    h[8..12].copy_from_slice(fourcc);
    // Width and height (12..16) are left 0: players read them from the keyframes.
    h[16..20].copy_from_slice(&timebase_hz.to_le_bytes());
    h[20..24].copy_from_slice(&1u32.to_le_bytes());
    h[24..28].copy_from_slice(&frames.to_le_bytes());
    h
}

/// The 12-byte header before each IVF frame.
pub fn ivf_frame_header(size: usize, pts: u64) -> [u8; 12] {
    let mut h = [0u8; 12];
    h[0..4].copy_from_slice(&(size as u32).to_le_bytes());
    h[4..12].copy_from_slice(&pts.to_le_bytes());
    h
}

/// Ogg Opus (RFC 7845): the two header pages, then one page per packet.
#[derive(Debug)]
pub struct OggOpus {
    serial: u32,
    sequence: u32,
}

impl OggOpus {
    pub fn new(serial: u32) -> Self {
        OggOpus { serial, sequence: 0 }
    }

    /// `OpusHead` (stereo, 48 kHz, no pre-skip) and `OpusTags` pages.
    pub fn headers(&mut self) -> Vec<u8> {
        let mut head = b"OpusHead".to_vec();
        head.extend_from_slice(&[1, 2, 0, 0]); // version, channels, pre-skip
        head.extend_from_slice(&48_000u32.to_le_bytes());
        head.extend_from_slice(&[0, 0, 0]); // output gain, mapping family
        let mut tags = b"OpusTags".to_vec();
        tags.extend_from_slice(&10u32.to_le_bytes());
        tags.extend_from_slice(b"streamcart");
        tags.extend_from_slice(&0u32.to_le_bytes());
        let mut out = self.page(0x02, 0, &head);
        out.extend(self.page(0x00, 0, &tags));
        out
    }

    /// One audio packet ending at `granule` (48 kHz samples since the start).
    pub fn packet(&mut self, granule: u64, data: &[u8]) -> Vec<u8> {
        self.page(0x00, granule, data)
    }

    fn page(&mut self, header_type: u8, granule: u64, packet: &[u8]) -> Vec<u8> {
        // Lacing: 255s then the remainder (a 0 when the packet is a multiple of 255).
        let mut lacing = vec![255u8; packet.len() / 255];
        lacing.push((packet.len() % 255) as u8);
        let lacing = &lacing[..lacing.len().min(255)];
        let mut page = Vec::with_capacity(27 + lacing.len() + packet.len());
        page.extend_from_slice(b"OggS");
        page.push(0);
        page.push(header_type);
        page.extend_from_slice(&granule.to_le_bytes());
        page.extend_from_slice(&self.serial.to_le_bytes());
        page.extend_from_slice(&self.sequence.to_le_bytes());
        page.extend_from_slice(&[0, 0, 0, 0]);
        page.push(lacing.len() as u8);
        page.extend_from_slice(lacing);
        let body = lacing.iter().map(|l| usize::from(*l)).sum::<usize>().min(packet.len());
        page.extend_from_slice(&packet[..body]);
        let crc = ogg_crc(&page);
        page[22..26].copy_from_slice(&crc.to_le_bytes());
        self.sequence += 1;
        page
    }
}

/// Ogg's CRC-32: polynomial 0x04c11db7, no reflection, initial value and final XOR 0.
pub fn ogg_crc(data: &[u8]) -> u32 {
    let mut crc = 0u32;
    for byte in data {
        crc ^= u32::from(*byte) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 { (crc << 1) ^ 0x04c1_1db7 } else { crc << 1 };
        }
    }
    crc
}

enum Format {
    Ivf { frames: u32 },
    AnnexB,
    Ogg(OggOpus),
}

struct Track {
    file: BufWriter<tokio::fs::File>,
    format: Format,
    layer: Layer,
    first_time: u64,
}

fn format_for(codec: Codec, mid: &Mid) -> Option<(String, Format, Option<[u8; 4]>)> {
    let fourcc = match codec {
        Codec::Vp8 => *b"VP80",
        Codec::Vp9 => *b"VP90",
        Codec::Av1 => *b"AV01",
        Codec::H264 => return Some((format!("video-{mid}.h264"), Format::AnnexB, None)),
        Codec::Opus => return Some((format!("audio-{mid}.opus"), Format::Ogg(OggOpus::new(fastrand_serial(mid))), None)),
        _ => return None,
    };
    Some((format!("video-{mid}.ivf"), Format::Ivf { frames: 0 }, Some(fourcc)))
}

/// A stream serial number for Ogg (any value, distinct per track of one file set).
fn fastrand_serial(mid: &Mid) -> u32 {
    mid.bytes().fold(0x5eed_u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
}

async fn write(dir: PathBuf, mut frames: mpsc::Receiver<RecordFrame>) {
    let mut tracks: HashMap<Mid, Option<Track>> = HashMap::new();
    let mut failed = false;
    while let Some(frame) = frames.recv().await {
        if failed {
            continue;
        }
        if let Err(e) = write_frame(&dir, &mut tracks, frame).await {
            tracing::warn!(dir = %dir.display(), error = %e, "recording failed; the stream goes on unrecorded");
            failed = true;
        }
    }
    for track in tracks.into_values().flatten() {
        if let Err(e) = finish(track).await {
            tracing::warn!(dir = %dir.display(), error = %e, "could not finish a recording");
        }
    }
}

async fn write_frame(dir: &std::path::Path, tracks: &mut HashMap<Mid, Option<Track>>, frame: RecordFrame) -> std::io::Result<()> {
    let is_video = frame.codec.is_video();
    let slot = tracks.entry(frame.mid).or_insert(None);
    if slot.is_none() {
        // Video starts at a keyframe of the top layer; audio at once.
        if is_video && !(frame.keyframe && frame.top) {
            return Ok(());
        }
        let Some((name, mut format, fourcc)) = format_for(frame.codec, &frame.mid) else { return Ok(()) };
        tokio::fs::create_dir_all(dir).await?;
        let mut file = BufWriter::new(tokio::fs::File::create(dir.join(name)).await?);
        match (&mut format, fourcc) {
            (Format::Ivf { .. }, Some(fourcc)) => file.write_all(&ivf_file_header(&fourcc, frame.clock_rate, 0)).await?,
            (Format::Ogg(ogg), _) => file.write_all(&ogg.headers()).await?,
            _ => {}
        }
        *slot = Some(Track { file, format, layer: frame.layer, first_time: frame.time });
    }
    let Some(track) = slot.as_mut() else { return Ok(()) };
    if track.layer != frame.layer {
        return Ok(());
    }
    let elapsed = frame.time.wrapping_sub(track.first_time);
    match &mut track.format {
        Format::Ivf { frames } => {
            track.file.write_all(&ivf_frame_header(frame.data.len(), elapsed)).await?;
            track.file.write_all(&frame.data).await?;
            *frames += 1;
        }
        Format::AnnexB => track.file.write_all(&frame.data).await?,
        Format::Ogg(ogg) => {
            // Granule: 48 kHz samples at the end of this packet (assume 20 ms ones).
            let granule = elapsed * 48_000 / u64::from(frame.clock_rate.max(1)) + 960;
            let page = ogg.packet(granule, &frame.data);
            track.file.write_all(&page).await?;
        }
    }
    Ok(())
}

async fn finish(mut track: Track) -> std::io::Result<()> {
    track.file.flush().await?;
    if let Format::Ivf { frames } = track.format {
        let mut file = track.file.into_inner();
        file.seek(std::io::SeekFrom::Start(24)).await?;
        file.write_all(&frames.to_le_bytes()).await?;
        file.flush().await?;
        file.sync_all().await?;
    } else {
        track.file.into_inner().sync_all().await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ivf_header_names_the_codec_timebase_and_frame_count() {
        let h = ivf_file_header(b"VP80", 90_000, 7);
        assert_eq!(&h[0..4], b"DKIF");
        assert_eq!(u16::from_le_bytes([h[6], h[7]]), 32);
        assert_eq!(&h[8..12], b"VP80");
        assert_eq!(u32::from_le_bytes(h[16..20].try_into().unwrap()), 90_000);
        assert_eq!(u32::from_le_bytes(h[24..28].try_into().unwrap()), 7);
        let f = ivf_frame_header(1234, 3000);
        assert_eq!(u32::from_le_bytes(f[0..4].try_into().unwrap()), 1234);
        assert_eq!(u64::from_le_bytes(f[4..12].try_into().unwrap()), 3000);
    }

    #[test]
    fn the_ogg_crc_matches_the_reference_value() {
        // CRC-32/MPEG-2 without the initial 0xffffffff: Ogg's variant; "123456789" → 0x89a1897f.
        assert_eq!(ogg_crc(b"123456789"), 0x89a1_897f);
    }

    #[test]
    fn ogg_pages_carry_their_sequence_granule_lacing_and_a_valid_crc() {
        let mut ogg = OggOpus::new(42);
        let headers = ogg.headers();
        assert_eq!(&headers[0..4], b"OggS");
        assert_eq!(headers[5], 0x02, "the first page begins the stream");
        let page = ogg.packet(960, &[7u8; 300]);
        assert_eq!(u64::from_le_bytes(page[6..14].try_into().unwrap()), 960);
        assert_eq!(u32::from_le_bytes(page[18..22].try_into().unwrap()), 2, "third page");
        assert_eq!(&page[26..29], &[2, 255, 45], "300 bytes laced as 255 + 45");
        let mut zeroed = page.clone();
        zeroed[22..26].copy_from_slice(&[0; 4]);
        assert_eq!(u32::from_le_bytes(page[22..26].try_into().unwrap()), ogg_crc(&zeroed));
    }
}
