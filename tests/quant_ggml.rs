//! The converter's quantisers write the same bytes as ggml's (`ggml_quantize_chunk`, the
//! function whisper.cpp's `quantize` tool calls), so a model quantised by callwatch is the
//! model whisper.cpp would have made.

use callwatch::model::quant::{self, BLOCK};
use whisper_rs_sys::{ggml_quantize_chunk, ggml_type_GGML_TYPE_Q5_1, ggml_type_GGML_TYPE_Q8_0};

const ROW: usize = 512;

/// Rows of weights like a model's, plus the blocks that stress rounding: all zero, constant,
/// exact half steps, tiny and huge magnitudes, one outlier.
fn rows() -> Vec<f32> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    };
    let mut v: Vec<f32> = (0..ROW * 6).map(|_| next() * 0.2).collect();
    let specials: [&dyn Fn(usize) -> f32; 7] = [
        &|_| 0.0,
        &|_| 0.75,
        &|j| (j as f32 - 16.0) * 0.5,
        &|j| (j as f32) * 1e-7,
        &|j| if j % 2 == 0 { 6.0e4 } else { -3.0e4 },
        &|j| if j == 5 { 40.0 } else { 0.01 * j as f32 },
        &|j| -(j as f32) / 31.0,
    ];
    for (k, f) in specials.iter().enumerate() {
        for j in 0..BLOCK {
            v[k * BLOCK + j] = f(j);
        }
    }
    v
}

fn ggml(ty: u32, x: &[f32], block_bytes: usize) -> Vec<u8> {
    let nrows = x.len() / ROW;
    let mut out = vec![0u8; x.len() / BLOCK * block_bytes];
    // SAFETY: `out` holds exactly nrows * ROW / BLOCK blocks of this type, `x` nrows * ROW
    // values; no importance matrix.
    let n = unsafe {
        ggml_quantize_chunk(
            ty,
            x.as_ptr(),
            out.as_mut_ptr().cast(),
            0,
            nrows as i64,
            ROW as i64,
            std::ptr::null(),
        )
    };
    assert_eq!(n, out.len());
    out
}

#[test]
fn q8_0_matches_ggml_byte_for_byte() {
    let x = rows();
    let mut ours = Vec::new();
    quant::q8_0(&x, &mut ours);
    assert_eq!(ours, ggml(ggml_type_GGML_TYPE_Q8_0, &x, quant::Q8_0_BYTES));
}

#[test]
fn q5_1_matches_ggml_byte_for_byte() {
    let x = rows();
    let mut ours = Vec::new();
    quant::q5_1(&x, &mut ours);
    assert_eq!(ours, ggml(ggml_type_GGML_TYPE_Q5_1, &x, quant::Q5_1_BYTES));
}
