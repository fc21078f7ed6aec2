//! ITU-T G.711 mu-law and A-law companding, bit-exact with the reference decoder.
//!
//! Decoding goes through 256-entry tables built at compile time, so a byte costs one load.

const ULAW_BIAS: i32 = 0x84;
const SIGN_BIT: u8 = 0x80;
const QUANT_MASK: u8 = 0x0F;
const SEG_SHIFT: u8 = 4;
const SEG_MASK: u8 = 0x70;

const fn ulaw_decode_formula(byte: u8) -> i16 {
    let u = !byte;
    let mut t = (((u & QUANT_MASK) as i32) << 3) + ULAW_BIAS;
    t <<= ((u & SEG_MASK) >> SEG_SHIFT) as i32;
    if u & SIGN_BIT != 0 {
        (ULAW_BIAS - t) as i16
    } else {
        (t - ULAW_BIAS) as i16
    }
}

const fn alaw_decode_formula(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let mut t = ((a & QUANT_MASK) as i32) << 4;
    let seg = ((a & SEG_MASK) >> SEG_SHIFT) as i32;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    if a & SIGN_BIT != 0 {
        t as i16
    } else {
        -t as i16
    }
}

const fn build_table(alaw: bool) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = if alaw {
            alaw_decode_formula(i as u8)
        } else {
            ulaw_decode_formula(i as u8)
        };
        i += 1;
    }
    table
}

/// mu-law byte -> linear 16-bit sample.
pub static ULAW_TABLE: [i16; 256] = build_table(false);
/// A-law byte -> linear 16-bit sample.
pub static ALAW_TABLE: [i16; 256] = build_table(true);

/// Decodes one mu-law byte.
#[inline]
pub fn ulaw_to_linear(byte: u8) -> i16 {
    ULAW_TABLE[byte as usize]
}

/// Decodes one A-law byte.
#[inline]
pub fn alaw_to_linear(byte: u8) -> i16 {
    ALAW_TABLE[byte as usize]
}

/// Decodes a mu-law byte stream to linear PCM.
pub fn decode_ulaw(bytes: &[u8]) -> Vec<i16> {
    bytes.iter().map(|&b| ulaw_to_linear(b)).collect()
}

/// Decodes an A-law byte stream to linear PCM.
pub fn decode_alaw(bytes: &[u8]) -> Vec<i16> {
    bytes.iter().map(|&b| alaw_to_linear(b)).collect()
}

/// Segment end points of the reference encoders (upper bound of each segment's magnitude).
const SEG_END_ULAW: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
const SEG_END_ALAW: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];

fn segment(value: i32, ends: &[i32; 8]) -> usize {
    ends.iter().position(|&end| value <= end).unwrap_or(8)
}

/// Encodes one linear sample to mu-law (reference encoder; used to build test and bench streams).
pub fn linear_to_ulaw(sample: i16) -> u8 {
    // The reference encoder works on 14-bit magnitudes.
    let mut pcm = (sample as i32) >> 2;
    let mask: u8 = if pcm < 0 {
        pcm = -pcm;
        0x7F
    } else {
        0xFF
    };
    pcm = pcm.min(8159) + (ULAW_BIAS >> 2);
    let seg = segment(pcm, &SEG_END_ULAW);
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let uval = ((seg as u8) << 4) | (((pcm >> (seg + 1)) & 0xF) as u8);
    uval ^ mask
}

/// Encodes one linear sample to A-law (reference encoder).
pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut pcm = (sample as i32) >> 3;
    let mask: u8 = if pcm >= 0 {
        0xD5
    } else {
        pcm = -pcm - 1;
        0x55
    };
    let seg = segment(pcm, &SEG_END_ALAW);
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let mut aval = (seg as u8) << SEG_SHIFT;
    if seg < 2 {
        aval |= ((pcm >> 1) & QUANT_MASK as i32) as u8;
    } else {
        aval |= ((pcm >> seg) & QUANT_MASK as i32) as u8;
    }
    aval ^ mask
}

/// Converts linear 16-bit samples to f32 in [-1, 1).
pub fn i16_to_f32(samples: &[i16]) -> Vec<f32> {
    samples.iter().map(|&s| s as f32 / 32768.0).collect()
}

/// Converts f32 samples to 16-bit, clamping out-of-range values.
pub fn f32_to_i16(sample: f32) -> i16 {
    (sample * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_mulaw_values() {
        let cases: &[(u8, i16)] = &[
            (0x00, -32124),
            (0x80, 32124),
            (0xFF, 0),
            (0x7F, 0),
            (0xFE, 8),
            (0x7E, -8),
            (0xF0, 120),
            (0x0F, -16764),
            (0x8F, 16764),
        ];
        for &(byte, want) in cases {
            assert_eq!(ulaw_to_linear(byte), want, "mu-law byte {byte:#04x}");
        }
    }

    #[test]
    fn known_alaw_values() {
        let cases: &[(u8, i16)] = &[
            (0xD5, 8),
            (0x55, -8),
            (0x2A, -32256),
            (0xAA, 32256),
            (0xD4, 24),
            (0x80, 5504),
            (0x00, -5504),
        ];
        for &(byte, want) in cases {
            assert_eq!(alaw_to_linear(byte), want, "A-law byte {byte:#04x}");
        }
    }

    #[test]
    fn tables_are_odd_symmetric() {
        for b in 0..=255u8 {
            assert_eq!(
                ulaw_to_linear(b),
                -ulaw_to_linear(b ^ 0x80),
                "mu-law {b:#04x}"
            );
            assert_eq!(
                alaw_to_linear(b),
                -alaw_to_linear(b ^ 0x80),
                "A-law {b:#04x}"
            );
        }
    }

    #[test]
    fn mulaw_is_monotonic_per_sign() {
        // Bytes 0x80..=0xFF run from the largest positive value down to zero.
        for b in 0x80..0xFFu8 {
            assert!(ulaw_to_linear(b) > ulaw_to_linear(b + 1));
        }
    }

    #[test]
    fn encode_then_decode_round_trips_every_code() {
        for b in 0..=255u8 {
            let linear = ulaw_to_linear(b);
            let back = linear_to_ulaw(linear);
            // 0x7F (negative zero) re-encodes as 0xFF (positive zero).
            assert_eq!(ulaw_to_linear(back), linear, "mu-law {b:#04x}");
            let linear = alaw_to_linear(b);
            assert_eq!(linear_to_alaw(linear), b, "A-law {b:#04x}");
        }
    }

    proptest! {
        #[test]
        fn mulaw_quantisation_error_is_bounded(x in any::<i16>()) {
            let y = ulaw_to_linear(linear_to_ulaw(x)) as i32;
            let x = (x as i32).clamp(-32124, 32124);
            // Step size doubles per segment; the largest step is 1024, so error <= 512 + rounding.
            let bound = 16 + x.abs() / 16;
            prop_assert!((x - y).abs() <= bound, "x={x} y={y} bound={bound}");
        }

        #[test]
        fn alaw_quantisation_error_is_bounded(x in any::<i16>()) {
            let y = alaw_to_linear(linear_to_alaw(x)) as i32;
            let x = (x as i32).clamp(-32256, 32256);
            let bound = 16 + x.abs() / 16;
            prop_assert!((x - y).abs() <= bound, "x={x} y={y} bound={bound}");
        }

        #[test]
        fn f32_conversion_round_trips(x in any::<i16>()) {
            prop_assert_eq!(f32_to_i16(i16_to_f32(&[x])[0]), x);
        }
    }
}
