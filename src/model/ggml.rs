//! The legacy GGML Whisper file format, as whisper.cpp 1.8 loads it.
//!
//! Layout (all integers i32 little-endian): magic `ggml`, 11 hyper-parameters,
//! the mel filterbank (`n_mels`, `n_fft_bins`, then f32 values), the
//! vocabulary (count, then length-prefixed token bytes), then tensors until
//! end of file: `n_dims`, name length, type, dims innermost first, name, data.

use std::io::{self, Read, Write};

use half::f16;
use sha2::{Digest, Sha256};

use super::quant::{self, Quant};

/// `ggml` in ASCII, read as a little-endian i32.
pub const MAGIC: u32 = 0x6767_6d6c;

/// Tensor element type codes used by whisper.cpp's loader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgmlType {
    /// float32 (code 0).
    F32,
    /// float16 (code 1).
    F16,
    /// 8-bit blocks of 32 with an f16 scale (code 8).
    Q8_0,
    /// 5-bit blocks of 32 with an f16 step and minimum (code 7).
    Q5_1,
}

impl GgmlType {
    /// On-disk code.
    pub fn code(self) -> i32 {
        match self {
            GgmlType::F32 => 0,
            GgmlType::F16 => 1,
            GgmlType::Q8_0 => 8,
            GgmlType::Q5_1 => 7,
        }
    }

    fn from_code(c: i32) -> Option<GgmlType> {
        match c {
            0 => Some(GgmlType::F32),
            1 => Some(GgmlType::F16),
            8 => Some(GgmlType::Q8_0),
            7 => Some(GgmlType::Q5_1),
            _ => None,
        }
    }

    /// Bytes of `n` elements; `None` when a quantised type gets a partial block.
    pub fn nbytes(self, n: usize) -> Option<usize> {
        match self {
            GgmlType::F32 => Some(n * 4),
            GgmlType::F16 => Some(n * 2),
            GgmlType::Q8_0 => n
                .is_multiple_of(quant::BLOCK)
                .then(|| n / quant::BLOCK * quant::Q8_0_BYTES),
            GgmlType::Q5_1 => n
                .is_multiple_of(quant::BLOCK)
                .then(|| n / quant::BLOCK * quant::Q5_1_BYTES),
        }
    }

    /// The tensor type a weight matrix gets in a file of weight type `q`.
    pub fn for_matrices(q: Quant) -> GgmlType {
        match q {
            Quant::F16 => GgmlType::F16,
            Quant::Q8_0 => GgmlType::Q8_0,
            Quant::Q5_1 => GgmlType::Q5_1,
        }
    }
}

/// Whisper hyper-parameters in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hparams {
    /// Rows of the token embedding (51864 for `.en`, 51865 multilingual).
    pub n_vocab: i32,
    /// Encoder positions (1500).
    pub n_audio_ctx: i32,
    /// Encoder width.
    pub n_audio_state: i32,
    /// Encoder attention heads.
    pub n_audio_head: i32,
    /// Encoder layers.
    pub n_audio_layer: i32,
    /// Decoder positions (448).
    pub n_text_ctx: i32,
    /// Decoder width.
    pub n_text_state: i32,
    /// Decoder attention heads.
    pub n_text_head: i32,
    /// Decoder layers.
    pub n_text_layer: i32,
    /// Mel bands of the input (80, or 128 for large-v3).
    pub n_mels: i32,
    /// Weight type: 0 all f32, 1 f16 matrices; quantised files add 1000 x the
    /// quantisation version to ggml's file type (2007 q8_0, 2009 q5_1).
    pub ftype: i32,
}

impl Hparams {
    fn to_array(self) -> [i32; 11] {
        [
            self.n_vocab,
            self.n_audio_ctx,
            self.n_audio_state,
            self.n_audio_head,
            self.n_audio_layer,
            self.n_text_ctx,
            self.n_text_state,
            self.n_text_head,
            self.n_text_layer,
            self.n_mels,
            self.ftype,
        ]
    }

    fn from_array(a: [i32; 11]) -> Hparams {
        Hparams {
            n_vocab: a[0],
            n_audio_ctx: a[1],
            n_audio_state: a[2],
            n_audio_head: a[3],
            n_audio_layer: a[4],
            n_text_ctx: a[5],
            n_text_state: a[6],
            n_text_head: a[7],
            n_text_layer: a[8],
            n_mels: a[9],
            ftype: a[10],
        }
    }
}

/// Totals of a written file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Tensors written.
    pub tensors: usize,
    /// Bytes written.
    pub bytes: u64,
    /// Lower-case hex sha256 of the bytes written.
    pub sha256: String,
}

/// Streams a GGML Whisper file, hashing it on the way.
pub struct GgmlWriter<W: Write> {
    out: W,
    hasher: Sha256,
    bytes: u64,
    tensors: usize,
}

impl<W: Write> GgmlWriter<W> {
    /// Writes the header, mel filterbank (`n_mels x n_bins`, row-major) and vocabulary.
    pub fn new(
        out: W,
        hparams: &Hparams,
        mel: &[f32],
        n_bins: usize,
        tokens: &[Vec<u8>],
    ) -> io::Result<Self> {
        let mut w = GgmlWriter {
            out,
            hasher: Sha256::new(),
            bytes: 0,
            tensors: 0,
        };
        w.i32(MAGIC as i32)?;
        for v in hparams.to_array() {
            w.i32(v)?;
        }
        w.i32(hparams.n_mels)?;
        w.i32(n_bins as i32)?;
        if mel.len() != hparams.n_mels as usize * n_bins {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "mel filterbank size does not match n_mels x n_bins",
            ));
        }
        w.f32s(mel)?;
        w.i32(tokens.len() as i32)?;
        for t in tokens {
            w.i32(t.len() as i32)?;
            w.put(t)?;
        }
        Ok(w)
    }

    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.hasher.update(b);
        self.bytes += b.len() as u64;
        self.out.write_all(b)
    }

    fn i32(&mut self, v: i32) -> io::Result<()> {
        self.put(&v.to_le_bytes())
    }

    fn f32s(&mut self, data: &[f32]) -> io::Result<()> {
        let buf: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.put(&buf)
    }

    /// Writes one tensor. `shape` is in numpy order (outermost first); the
    /// file stores it innermost first, as ggml's `ne`.
    pub fn tensor(
        &mut self,
        name: &str,
        shape: &[usize],
        ty: GgmlType,
        data: &[f32],
    ) -> io::Result<()> {
        if shape.iter().product::<usize>() != data.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("tensor {name}: {} values for shape {shape:?}", data.len()),
            ));
        }
        let quantised = matches!(ty, GgmlType::Q8_0 | GgmlType::Q5_1);
        // ggml quantises rows (the innermost dimension) in whole blocks.
        if quantised && shape.last().is_none_or(|&row| row % quant::BLOCK != 0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "tensor {name}: rows of shape {shape:?} are not a whole number of {}-value blocks",
                    quant::BLOCK
                ),
            ));
        }
        self.i32(shape.len() as i32)?;
        self.i32(name.len() as i32)?;
        self.i32(ty.code())?;
        for &d in shape.iter().rev() {
            self.i32(d as i32)?;
        }
        self.put(name.as_bytes())?;
        match ty {
            GgmlType::F32 => self.f32s(data)?,
            GgmlType::F16 => {
                let buf: Vec<u8> = data
                    .iter()
                    .flat_map(|&x| f16::from_f32(x).to_le_bytes())
                    .collect();
                self.put(&buf)?;
            }
            GgmlType::Q8_0 | GgmlType::Q5_1 => {
                let mut buf = Vec::with_capacity(ty.nbytes(data.len()).unwrap_or(0));
                if ty == GgmlType::Q8_0 {
                    quant::q8_0(data, &mut buf);
                } else {
                    quant::q5_1(data, &mut buf);
                }
                self.put(&buf)?;
            }
        }
        self.tensors += 1;
        Ok(())
    }

    /// Flushes and returns the sink with the totals.
    pub fn finish(mut self) -> io::Result<(W, Written)> {
        self.out.flush()?;
        let sha256 = hex(&self.hasher.finalize());
        Ok((
            self.out,
            Written {
                tensors: self.tensors,
                bytes: self.bytes,
                sha256,
            },
        ))
    }
}

/// Lower-case hex of a byte string.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A tensor entry read back from a GGML file.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorEntry {
    /// Tensor name.
    pub name: String,
    /// Dimensions as stored (innermost first).
    pub ne: Vec<usize>,
    /// Element type.
    pub ty: GgmlType,
    /// Values as f32, only for tensors selected by the `keep` filter of [`inspect`].
    pub values: Option<Vec<f32>>,
}

/// Structure of a GGML Whisper file.
#[derive(Debug, Clone, PartialEq)]
pub struct GgmlFile {
    /// Hyper-parameters.
    pub hparams: Hparams,
    /// Mel filterbank, `n_mels x n_bins` row-major.
    pub mel: Vec<f32>,
    /// FFT bins per mel row.
    pub n_bins: usize,
    /// Vocabulary tokens as raw bytes.
    pub tokens: Vec<Vec<u8>>,
    /// Tensors in file order.
    pub tensors: Vec<TensorEntry>,
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn ri32(r: &mut impl Read) -> io::Result<i32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(i32::from_le_bytes(b))
}

fn rlen(r: &mut impl Read, what: &str, max: usize) -> io::Result<usize> {
    let v = ri32(r)?;
    usize::try_from(v)
        .ok()
        .filter(|&n| n <= max)
        .ok_or_else(|| invalid(format!("implausible {what} {v}")))
}

fn rbytes(r: &mut impl Read, n: usize) -> io::Result<Vec<u8>> {
    let mut v = Vec::with_capacity(n.min(1 << 20));
    r.take(n as u64).read_to_end(&mut v)?;
    if v.len() != n {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(v)
}

/// Reads a GGML Whisper file's structure; tensor values are decoded only for
/// names where `keep` returns true (the rest is skipped).
pub fn inspect(mut r: impl Read, keep: impl Fn(&str) -> bool) -> io::Result<GgmlFile> {
    if ri32(&mut r)? as u32 != MAGIC {
        return Err(invalid("not a GGML file (bad magic)".into()));
    }
    let mut hp = [0i32; 11];
    for v in &mut hp {
        *v = ri32(&mut r)?;
    }
    let hparams = Hparams::from_array(hp);
    let n_mels = rlen(&mut r, "mel count", 1024)?;
    let n_bins = rlen(&mut r, "mel bin count", 1 << 16)?;
    let mel = rbytes(&mut r, n_mels * n_bins * 4)?
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let n_tokens = rlen(&mut r, "token count", 1 << 20)?;
    let mut tokens = Vec::with_capacity(n_tokens);
    for _ in 0..n_tokens {
        let n = rlen(&mut r, "token length", 1 << 16)?;
        tokens.push(rbytes(&mut r, n)?);
    }
    let mut tensors = Vec::new();
    loop {
        let mut first = [0u8; 4];
        match r.read(&mut first[..1])? {
            0 => break,
            _ => r.read_exact(&mut first[1..])?,
        }
        let n_dims = usize::try_from(i32::from_le_bytes(first))
            .ok()
            .filter(|&n| (1..=4).contains(&n))
            .ok_or_else(|| invalid("tensor with bad n_dims".into()))?;
        let name_len = rlen(&mut r, "tensor name length", 4096)?;
        let code = ri32(&mut r)?;
        let ty = GgmlType::from_code(code)
            .ok_or_else(|| invalid(format!("unsupported tensor type {code}")))?;
        let mut ne = Vec::with_capacity(n_dims);
        for _ in 0..n_dims {
            ne.push(rlen(&mut r, "tensor dimension", 1 << 30)?);
        }
        let name = String::from_utf8(rbytes(&mut r, name_len)?)
            .map_err(|_| invalid("tensor name is not UTF-8".into()))?;
        let nbytes = ty
            .nbytes(ne.iter().product::<usize>())
            .ok_or_else(|| invalid(format!("tensor {name}: not a whole number of blocks")))?;
        let values = if keep(&name) {
            let raw = rbytes(&mut r, nbytes)?;
            Some(match ty {
                GgmlType::F32 => raw
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
                GgmlType::F16 => raw
                    .chunks_exact(2)
                    .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
                    .collect(),
                GgmlType::Q8_0 => quant::dequantize_q8_0(&raw),
                GgmlType::Q5_1 => quant::dequantize_q5_1(&raw),
            })
        } else {
            let skipped = io::copy(&mut (&mut r).take(nbytes as u64), &mut io::sink())?;
            if skipped != nbytes as u64 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            None
        };
        tensors.push(TensorEntry {
            name,
            ne,
            ty,
            values,
        });
    }
    Ok(GgmlFile {
        hparams,
        mel,
        n_bins,
        tokens,
        tensors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp() -> Hparams {
        Hparams {
            n_vocab: 5,
            n_audio_ctx: 3,
            n_audio_state: 4,
            n_audio_head: 2,
            n_audio_layer: 1,
            n_text_ctx: 2,
            n_text_state: 4,
            n_text_head: 2,
            n_text_layer: 1,
            n_mels: 2,
            ftype: 1,
        }
    }

    #[test]
    fn header_layout_is_byte_exact() {
        let mel = [0.5f32, 0.25, 0.0, 1.0];
        let tokens = vec![b"a".to_vec(), Vec::new()];
        let w = GgmlWriter::new(Vec::new(), &hp(), &mel, 2, &tokens).unwrap();
        let (buf, written) = w.finish().unwrap();
        let ints = |range: std::ops::Range<usize>| -> Vec<i32> {
            buf[range]
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
                .collect()
        };
        assert_eq!(&buf[0..4], b"lmgg", "magic 0x67676d6c little-endian");
        assert_eq!(ints(4..48), vec![5, 3, 4, 2, 1, 2, 4, 2, 1, 2, 1]);
        assert_eq!(ints(48..56), vec![2, 2]);
        assert_eq!(&buf[56..60], &0.5f32.to_le_bytes());
        assert_eq!(ints(72..80), vec![2, 1]);
        assert_eq!(buf[80], b'a');
        assert_eq!(ints(81..85), vec![0]);
        assert_eq!(buf.len(), 85);
        assert_eq!(written.bytes, 85);
        assert_eq!(written.sha256, hex(&Sha256::digest(&buf)));
    }

    #[test]
    fn tensors_round_trip_with_reversed_dims() {
        let mut w = GgmlWriter::new(Vec::new(), &hp(), &[0.0; 4], 2, &[]).unwrap();
        let m: Vec<f32> = (0..6).map(|x| x as f32 * 0.5).collect();
        w.tensor("m", &[2, 3], GgmlType::F16, &m).unwrap();
        w.tensor("b", &[3, 1], GgmlType::F32, &[1.0, 2.0, 3.0])
            .unwrap();
        assert!(w.tensor("bad", &[2, 2], GgmlType::F32, &[1.0]).is_err());
        let (buf, written) = w.finish().unwrap();
        assert_eq!(written.tensors, 2);
        let f = inspect(buf.as_slice(), |n| n == "m").unwrap();
        assert_eq!(f.hparams, hp());
        assert_eq!(f.tensors.len(), 2);
        assert_eq!(f.tensors[0].ne, vec![3, 2]);
        assert_eq!(f.tensors[0].ty, GgmlType::F16);
        assert_eq!(f.tensors[0].values.as_deref(), Some(m.as_slice()));
        assert_eq!(f.tensors[1].ne, vec![1, 3]);
        assert_eq!(f.tensors[1].values, None);
    }

    #[test]
    fn truncated_tensor_is_an_error() {
        let mut w = GgmlWriter::new(Vec::new(), &hp(), &[0.0; 4], 2, &[]).unwrap();
        w.tensor("m", &[2, 3], GgmlType::F32, &[0.0; 6]).unwrap();
        let (buf, _) = w.finish().unwrap();
        for keep in [true, false] {
            assert!(inspect(&buf[..buf.len() - 1], |_| keep).is_err());
        }
    }
}
