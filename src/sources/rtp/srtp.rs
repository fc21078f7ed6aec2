//! SRTP reception (RFC 3711) with keys from SDES (RFC 4568): packets are authenticated and
//! decrypted before the RTP parser sees them; a packet that fails authentication (wrong key,
//! forged, replayed) is dropped and counted, never decoded.

use crate::sources::siprec::sdp::{CryptoOffer, SrtpSuite};
use webrtc_srtp::context::Context;
use webrtc_srtp::option;
use webrtc_srtp::protection_profile::ProtectionProfile;

/// Packets accepted out of order behind the newest one.
const REPLAY_WINDOW: usize = 64;

/// RTCP header (8), E flag and index (4), 80-bit tag (10; SRTCP tags are 80 bits in both
/// suites, RFC 4568 6.2).
const SRTCP_MIN_LEN: usize = 8 + 4 + 10;

/// Why a protected packet was dropped.
#[derive(Debug, thiserror::Error)]
pub enum SrtpError {
    #[error("SRTP key rejected: {0}")]
    Key(String),
    #[error("SRTP packet failed authentication or decryption: {0}")]
    Unprotect(String),
}

/// Decrypts one stream's SRTP and SRTCP.
pub struct SrtpReceiver {
    rtp: Context,
    rtcp: Context,
}

impl std::fmt::Debug for SrtpReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SrtpReceiver")
    }
}

fn profile(s: SrtpSuite) -> ProtectionProfile {
    match s {
        SrtpSuite::AesCm128HmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
        SrtpSuite::AesCm128HmacSha1_32 => ProtectionProfile::Aes128CmHmacSha1_32,
    }
}

impl SrtpReceiver {
    /// A receiver for the stream the sender keys with `offer`.
    pub fn new(offer: &CryptoOffer) -> Result<SrtpReceiver, SrtpError> {
        let (key, salt) = offer.key.split_at(16);
        // RFC 3711 3.3.2: a 64-packet replay window (the library's default is none).
        let ctx = || {
            Context::new(
                key,
                salt,
                profile(offer.suite),
                Some(option::srtp_replay_protection(REPLAY_WINDOW)),
                Some(option::srtcp_replay_protection(REPLAY_WINDOW)),
            )
            .map_err(|e| SrtpError::Key(e.to_string()))
        };
        Ok(SrtpReceiver {
            rtp: ctx()?,
            rtcp: ctx()?,
        })
    }

    /// The plain RTP packet inside an SRTP one.
    pub fn unprotect_rtp(&mut self, packet: &[u8]) -> Result<Vec<u8>, SrtpError> {
        self.rtp
            .decrypt_rtp(packet)
            .map(|b| b.to_vec())
            .map_err(|e| SrtpError::Unprotect(e.to_string()))
    }

    /// The plain RTCP packet inside an SRTCP one.
    pub fn unprotect_rtcp(&mut self, packet: &[u8]) -> Result<Vec<u8>, SrtpError> {
        // The library reads the SRTCP index from the tail without checking the length.
        if packet.len() < SRTCP_MIN_LEN {
            return Err(SrtpError::Unprotect(format!(
                "{} bytes is shorter than any SRTCP packet",
                packet.len()
            )));
        }
        // The library returns packets with the E flag clear without checking their tag, so
        // unencrypted SRTCP (which RFC 3711 3.4 still authenticates) is refused outright.
        if packet[packet.len() - 14] >> 7 == 0 {
            return Err(SrtpError::Unprotect(
                "unencrypted SRTCP (E flag clear) is not accepted".into(),
            ));
        }
        self.rtcp
            .decrypt_rtcp(packet)
            .map(|b| b.to_vec())
            .map_err(|e| SrtpError::Unprotect(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::rtp::packet::build_rtp;

    fn offer(key: [u8; 30]) -> CryptoOffer {
        CryptoOffer {
            tag: 1,
            suite: SrtpSuite::AesCm128HmacSha1_80,
            key,
        }
    }

    /// Protects with the library's sender side, as an SBC would.
    fn protect(key: &[u8; 30], plain: &[u8]) -> Vec<u8> {
        let mut ctx = Context::new(
            &key[..16],
            &key[16..],
            ProtectionProfile::Aes128CmHmacSha1_80,
            None,
            None,
        )
        .unwrap();
        ctx.encrypt_rtp(plain).unwrap().to_vec()
    }

    #[test]
    fn round_trip_and_tampering_and_wrong_keys_are_refused() {
        let key = [9u8; 30];
        let plain = build_rtp(0, false, 7, 160, 0x1234_5678, &[0x55; 160]);
        let protected = protect(&key, &plain);
        assert_ne!(&protected[12..172], &plain[12..], "payload is encrypted");
        assert_eq!(protected.len(), plain.len() + 10, "80-bit tag");
        let mut rx = SrtpReceiver::new(&offer(key)).unwrap();
        assert_eq!(rx.unprotect_rtp(&protected).unwrap(), plain);
        // Replayed: refused.
        assert!(rx.unprotect_rtp(&protected).is_err());

        let next = protect(&key, &build_rtp(0, false, 8, 320, 0x1234_5678, &[1; 160]));
        let mut tampered = next.clone();
        tampered[20] ^= 1;
        assert!(rx.unprotect_rtp(&tampered).is_err());
        let mut wrong = SrtpReceiver::new(&offer([1u8; 30])).unwrap();
        assert!(wrong.unprotect_rtp(&next).is_err());
        assert!(rx.unprotect_rtp(&next).is_ok());
    }

    proptest::proptest! {
        #[test]
        fn garbage_is_an_error_never_a_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let mut rx = SrtpReceiver::new(&offer([3u8; 30])).unwrap();
            proptest::prop_assert!(rx.unprotect_rtp(&bytes).is_err());
            let _ = rx.unprotect_rtcp(&bytes);
            let mut rtcp = bytes.clone();
            if rtcp.len() > 1 {
                rtcp[0] = 0x80;
                rtcp[1] = 200;
            }
            proptest::prop_assert!(rx.unprotect_rtcp(&rtcp).is_err());
        }
    }
}
