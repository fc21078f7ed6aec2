//! Weight quantisation for GGML Whisper files, bit-compatible with ggml's reference
//! quantisers (`quantize_row_q8_0_ref`, `quantize_row_q5_1_ref`), which are what
//! whisper.cpp's own `quantize` tool uses for Whisper (no importance matrix).
//!
//! Both formats cut a row into blocks of 32 values:
//! - `q8_0`: an f16 scale `d = max|x| / 127` and 32 signed bytes `round(x / d)`
//!   (34 bytes per block, 8.5 bits per weight);
//! - `q5_1`: an f16 step `d = (max - min) / 31`, an f16 minimum, the fifth bits of the
//!   32 codes packed into 4 bytes, and their low nibbles two per byte (24 bytes per block,
//!   6 bits per weight).
//!
//! Only the weight matrices are quantised (what whisper.cpp allocates as its weight type);
//! convolution kernels stay f16, positional embeddings and vectors f32.

use std::fmt;
use std::str::FromStr;

use half::f16;

use super::error::ModelError;

/// Values per quantisation block in both formats.
pub const BLOCK: usize = 32;
/// Bytes of one `q8_0` block.
pub const Q8_0_BYTES: usize = 2 + BLOCK;
/// Bytes of one `q5_1` block.
pub const Q5_1_BYTES: usize = 2 + 2 + 4 + BLOCK / 2;
/// whisper.cpp stores `ftype + 1000 * GGML_QNT_VERSION` in quantised files.
const QNT_VERSION: i32 = 2;

/// How the weight matrices of a model file are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Quant {
    /// Half precision, as the published checkpoints are. The default.
    #[default]
    F16,
    /// 8-bit blocks: about half the size of f16, near-identical transcripts.
    Q8_0,
    /// 5-bit blocks with a minimum: about a third of f16.
    Q5_1,
}

impl Quant {
    /// Every choice, default first.
    pub const ALL: [Quant; 3] = [Quant::F16, Quant::Q8_0, Quant::Q5_1];

    /// The name on the command line, in the config and in file names.
    pub fn as_str(self) -> &'static str {
        match self {
            Quant::F16 => "f16",
            Quant::Q8_0 => "q8_0",
            Quant::Q5_1 => "q5_1",
        }
    }

    /// The `ftype` hyper-parameter whisper.cpp reads to pick its weight type.
    pub fn file_ftype(self) -> i32 {
        match self {
            Quant::F16 => 1,
            Quant::Q8_0 => 7 + 1000 * QNT_VERSION,
            Quant::Q5_1 => 9 + 1000 * QNT_VERSION,
        }
    }
}

impl fmt::Display for Quant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Quant {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Quant::ALL
            .into_iter()
            .find(|q| q.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ModelError::UnknownQuant(s.to_string()))
    }
}

/// Quantises `x` (a whole number of blocks) to `q8_0` blocks appended to `out`.
pub fn q8_0(x: &[f32], out: &mut Vec<u8>) {
    debug_assert_eq!(x.len() % BLOCK, 0);
    for b in x.chunks_exact(BLOCK) {
        let amax = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
        // `as i8` saturates; |x * id| <= 127 up to rounding anyway.
        out.extend(b.iter().map(|&v| (v * id).round() as i8 as u8));
    }
}

/// Quantises `x` (a whole number of blocks) to `q5_1` blocks appended to `out`.
pub fn q5_1(x: &[f32], out: &mut Vec<u8>) {
    debug_assert_eq!(x.len() % BLOCK, 0);
    for b in x.chunks_exact(BLOCK) {
        let (min, max) = b
            .iter()
            .fold((f32::MAX, -f32::MAX), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let d = (max - min) / 31.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
        out.extend_from_slice(&f16::from_f32(min).to_le_bytes());
        let code = |v: f32| ((v - min) * id + 0.5) as u8;
        let mut qh = 0u32;
        let mut qs = [0u8; BLOCK / 2];
        for j in 0..BLOCK / 2 {
            let (x0, x1) = (code(b[j]), code(b[j + BLOCK / 2]));
            qs[j] = (x0 & 0x0f) | ((x1 & 0x0f) << 4);
            qh |= u32::from((x0 & 0x10) >> 4) << j;
            qh |= u32::from((x1 & 0x10) >> 4) << (j + BLOCK / 2);
        }
        out.extend_from_slice(&qh.to_le_bytes());
        out.extend_from_slice(&qs);
    }
}

/// Values of `q8_0` blocks, as ggml's `dequantize_row_q8_0` gives them.
pub fn dequantize_q8_0(raw: &[u8]) -> Vec<f32> {
    raw.chunks_exact(Q8_0_BYTES)
        .flat_map(|blk| {
            let d = f16::from_le_bytes([blk[0], blk[1]]).to_f32();
            blk[2..].iter().map(move |&q| f32::from(q as i8) * d)
        })
        .collect()
}

/// Values of `q5_1` blocks, as ggml's `dequantize_row_q5_1` gives them.
pub fn dequantize_q5_1(raw: &[u8]) -> Vec<f32> {
    let mut out = Vec::with_capacity(raw.len() / Q5_1_BYTES * BLOCK);
    for blk in raw.chunks_exact(Q5_1_BYTES) {
        let d = f16::from_le_bytes([blk[0], blk[1]]).to_f32();
        let m = f16::from_le_bytes([blk[2], blk[3]]).to_f32();
        let qh = u32::from_le_bytes([blk[4], blk[5], blk[6], blk[7]]);
        let qs = &blk[8..];
        let mut vals = [0f32; BLOCK];
        for j in 0..BLOCK / 2 {
            let hi0 = ((qh >> j) & 1) << 4;
            let hi1 = ((qh >> (j + BLOCK / 2)) & 1) << 4;
            vals[j] = f32::from((qs[j] & 0x0f) | hi0 as u8) * d + m;
            vals[j + BLOCK / 2] = f32::from((qs[j] >> 4) | hi1 as u8) * d + m;
        }
        out.extend_from_slice(&vals);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_and_ftypes() {
        for (s, q, ftype) in [
            ("f16", Quant::F16, 1),
            ("q8_0", Quant::Q8_0, 2007),
            ("q5_1", Quant::Q5_1, 2009),
        ] {
            assert_eq!(s.parse::<Quant>().unwrap(), q);
            assert_eq!(q.to_string(), s);
            assert_eq!(q.file_ftype(), ftype);
            // whisper.cpp splits it back: version 2, ggml_ftype 1/7/9.
            assert!(ftype % 1000 == 1 || ftype / 1000 == QNT_VERSION);
        }
        assert_eq!(" Q8_0 ".parse::<Quant>().unwrap(), Quant::Q8_0);
        let err = "q4_0".parse::<Quant>().unwrap_err().to_string();
        assert!(err.contains("f16, q8_0 or q5_1"), "{err}");
    }

    /// Bytes worked out by hand from ggml's reference quantisers.
    #[test]
    fn q8_0_block_layout() {
        let mut x = [0f32; BLOCK];
        x[0] = 127.0; // scale 1
        x[1] = -63.5; // rounds away from zero, like roundf
        x[2] = 0.4;
        x[3] = 0.6;
        let mut out = Vec::new();
        q8_0(&x, &mut out);
        assert_eq!(out.len(), Q8_0_BYTES);
        assert_eq!(&out[..2], &f16::from_f32(1.0).to_le_bytes());
        assert_eq!(out[2] as i8, 127);
        assert_eq!(out[3] as i8, -64);
        assert_eq!(out[4] as i8, 0);
        assert_eq!(out[5] as i8, 1);
        assert!(out[6..].iter().all(|&b| b == 0));
        // An all-zero block has scale 0 and zero codes, not NaN.
        let mut z = Vec::new();
        q8_0(&[0.0; BLOCK], &mut z);
        assert!(z.iter().all(|&b| b == 0));
    }

    #[test]
    fn q5_1_block_layout() {
        // min -1, max 30: step 1; value v gets code v + 1.
        let mut x = [-1.0f32; BLOCK];
        x[0] = 30.0; // code 31: low nibble 15, fifth bit set (bit 0 of qh)
        x[16] = 15.0; // code 16: low nibble 0, fifth bit set (bit 16 of qh)
        x[17] = 4.0; // code 5
        let mut out = Vec::new();
        q5_1(&x, &mut out);
        assert_eq!(out.len(), Q5_1_BYTES);
        assert_eq!(&out[0..2], &f16::from_f32(1.0).to_le_bytes());
        assert_eq!(&out[2..4], &f16::from_f32(-1.0).to_le_bytes());
        assert_eq!(
            u32::from_le_bytes(out[4..8].try_into().unwrap()),
            1 | 1 << 16
        );
        assert_eq!(out[8], 0x0f); // x[0] low nibble 15, x[16] low nibble 0
        assert_eq!(out[9], 5 << 4); // x[1] code 0, x[17] code 5
        assert!(out[10..].iter().all(|&b| b == 0));
        assert_eq!(dequantize_q5_1(&out), x.to_vec());
    }

    proptest! {
        /// Every value comes back within half a step (plus f16 rounding of the scale).
        #[test]
        fn q8_0_error_is_half_a_step(x in prop::collection::vec(-4.0f32..4.0, BLOCK * 3)) {
            let mut out = Vec::new();
            q8_0(&x, &mut out);
            prop_assert_eq!(out.len(), 3 * Q8_0_BYTES);
            let back = dequantize_q8_0(&out);
            for (b, blk) in back.chunks(BLOCK).zip(x.chunks(BLOCK)) {
                let amax = blk.iter().fold(0f32, |m, v| m.max(v.abs()));
                let step = amax / 127.0;
                for (v, w) in blk.iter().zip(b) {
                    prop_assert!((v - w).abs() <= step * 0.5 + amax * 1e-3 + 1e-6, "{v} -> {w}");
                }
            }
        }

        #[test]
        fn q5_1_error_is_half_a_step(x in prop::collection::vec(-4.0f32..4.0, BLOCK * 3)) {
            let mut out = Vec::new();
            q5_1(&x, &mut out);
            prop_assert_eq!(out.len(), 3 * Q5_1_BYTES);
            let back = dequantize_q5_1(&out);
            for (b, blk) in back.chunks(BLOCK).zip(x.chunks(BLOCK)) {
                let (lo, hi) = blk.iter().fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
                let step = (hi - lo) / 31.0;
                for (v, w) in blk.iter().zip(b) {
                    prop_assert!((v - w).abs() <= step * 0.5 + (hi.abs() + lo.abs()) * 2e-3 + 1e-6, "{v} -> {w}");
                }
            }
        }
    }
}
