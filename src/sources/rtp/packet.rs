//! RTP fixed header parsing (RFC 3550 section 5.1), borrowing the payload from the datagram.

use thiserror::Error;

/// Size of the fixed RTP header without CSRCs or extension.
pub const RTP_HEADER_LEN: usize = 12;

/// Why a datagram is not a usable RTP packet.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RtpError {
    #[error("datagram of {0} bytes is shorter than the 12-byte RTP header; the sender is not speaking RTP")]
    TooShort(usize),
    #[error("RTP version {0} is not supported; only version 2 (RFC 3550) is")]
    BadVersion(u8),
    #[error("RTP header declares {csrcs} CSRCs but the datagram has only {len} bytes")]
    TruncatedCsrcs { csrcs: usize, len: usize },
    #[error("RTP header extension runs past the end of the {len}-byte datagram")]
    TruncatedExtension { len: usize },
    #[error("RTP padding length {padding} does not fit the {available}-byte payload")]
    BadPadding { padding: usize, available: usize },
}

/// One parsed RTP packet; `payload` borrows from the datagram, padding removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    /// Number of contributing sources listed (their ids are skipped).
    pub csrc_count: u8,
    /// Profile-defined id of the header extension, if the X bit was set.
    pub extension_profile: Option<u16>,
    pub payload: &'a [u8],
}

impl<'a> RtpPacket<'a> {
    /// Parses a datagram as RTP. RTCP must be demultiplexed first (see [`super::rtcp::is_rtcp`]).
    pub fn parse(buf: &'a [u8]) -> Result<RtpPacket<'a>, RtpError> {
        if buf.len() < RTP_HEADER_LEN {
            return Err(RtpError::TooShort(buf.len()));
        }
        let version = buf[0] >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion(version));
        }
        let padding = buf[0] & 0x20 != 0;
        let extension = buf[0] & 0x10 != 0;
        let csrc_count = buf[0] & 0x0f;
        let marker = buf[1] & 0x80 != 0;
        let payload_type = buf[1] & 0x7f;
        let sequence = u16::from_be_bytes([buf[2], buf[3]]);
        let timestamp = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
        let mut offset = RTP_HEADER_LEN + 4 * csrc_count as usize;
        if offset > buf.len() {
            return Err(RtpError::TruncatedCsrcs {
                csrcs: csrc_count as usize,
                len: buf.len(),
            });
        }
        let mut extension_profile = None;
        if extension {
            if offset + 4 > buf.len() {
                return Err(RtpError::TruncatedExtension { len: buf.len() });
            }
            extension_profile = Some(u16::from_be_bytes([buf[offset], buf[offset + 1]]));
            let words = u16::from_be_bytes([buf[offset + 2], buf[offset + 3]]) as usize;
            offset += 4 + 4 * words;
            if offset > buf.len() {
                return Err(RtpError::TruncatedExtension { len: buf.len() });
            }
        }
        let mut end = buf.len();
        if padding {
            // The last octet counts the padding octets, itself included (RFC 3550 5.1).
            let pad = buf[buf.len() - 1] as usize;
            let available = buf.len() - offset;
            if pad == 0 || pad > available {
                return Err(RtpError::BadPadding {
                    padding: pad,
                    available,
                });
            }
            end -= pad;
        }
        Ok(RtpPacket {
            marker,
            payload_type,
            sequence,
            timestamp,
            ssrc,
            csrc_count,
            extension_profile,
            payload: &buf[offset..end],
        })
    }
}

/// Builds an RTP datagram (no CSRCs, no extension); used by tests, benchmarks and fuzz seeds.
pub fn build_rtp(
    payload_type: u8,
    marker: bool,
    sequence: u16,
    timestamp: u32,
    ssrc: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut v = Vec::with_capacity(RTP_HEADER_LEN + payload.len());
    v.push(0x80);
    v.push(payload_type & 0x7f | if marker { 0x80 } else { 0 });
    v.extend_from_slice(&sequence.to_be_bytes());
    v.extend_from_slice(&timestamp.to_be_bytes());
    v.extend_from_slice(&ssrc.to_be_bytes());
    v.extend_from_slice(payload);
    v
}
