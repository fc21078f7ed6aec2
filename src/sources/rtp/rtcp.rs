//! RTCP recognition (RFC 5761 demultiplexing) and compound packet walking (RFC 3550 6.1).
//! RTCP is read for statistics only; media never depends on it.

use thiserror::Error;

/// Why a datagram recognised as RTCP could not be walked.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RtcpError {
    #[error("RTCP packet at offset {offset} is shorter than its 4-byte header")]
    TooShort { offset: usize },
    #[error("RTCP version {version} at offset {offset}; only version 2 is supported")]
    BadVersion { version: u8, offset: usize },
    #[error(
        "RTCP packet at offset {offset} declares {declared} bytes but only {available} remain"
    )]
    Truncated {
        offset: usize,
        declared: usize,
        available: usize,
    },
}

/// RTCP packet types (RFC 3550, 4585, 3611).
pub const RTCP_SR: u8 = 200;
pub const RTCP_RR: u8 = 201;
pub const RTCP_SDES: u8 = 202;
pub const RTCP_BYE: u8 = 203;
pub const RTCP_APP: u8 = 204;

/// True when a datagram on a muxed RTP/RTCP port is RTCP: its second octet is an RTCP packet
/// type (192..=223), a range RTP payload types must avoid (RFC 5761 section 4).
pub fn is_rtcp(buf: &[u8]) -> bool {
    buf.len() >= 2 && (192..=223).contains(&buf[1])
}

/// One packet inside a compound RTCP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpHeader {
    pub packet_type: u8,
    /// Reception report count, source count or subtype, by packet type.
    pub count: u8,
    /// SSRC of the sender (first word after the header), when the packet has one.
    pub ssrc: Option<u32>,
    /// Length of this packet in bytes, header included.
    pub len: usize,
}

/// Walks a (compound) RTCP datagram and returns each packet's header.
pub fn parse_rtcp(buf: &[u8]) -> Result<Vec<RtcpHeader>, RtcpError> {
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < buf.len() {
        let rest = &buf[offset..];
        if rest.len() < 4 {
            return Err(RtcpError::TooShort { offset });
        }
        let version = rest[0] >> 6;
        if version != 2 {
            return Err(RtcpError::BadVersion { version, offset });
        }
        let len = (u16::from_be_bytes([rest[2], rest[3]]) as usize + 1) * 4;
        if len > rest.len() {
            return Err(RtcpError::Truncated {
                offset,
                declared: len,
                available: rest.len(),
            });
        }
        let ssrc = (len >= 8).then(|| u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]));
        out.push(RtcpHeader {
            packet_type: rest[1],
            count: rest[0] & 0x1f,
            ssrc,
            len,
        });
        offset += len;
    }
    Ok(out)
}
