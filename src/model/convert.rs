//! CTranslate2 Whisper directory -> whisper.cpp GGML file.

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use super::ct2::Ct2Model;
use super::error::ModelError;
use super::ggml::{GgmlType, GgmlWriter, Hparams};
use super::mel::{mel_filters, N_FREQS};
use super::names::{plan, split_rows, Kind};
use super::quant::Quant;
use super::vocab::{ggml_tokens, line_count};

/// Vocabulary size from which whisper.cpp treats a model as multilingual.
const MULTILINGUAL_VOCAB: i32 = 51_865;
/// `<|endoftext|>` id of English-only models; multilingual ones have it one later.
const EOT_ENGLISH: usize = 50_256;

/// What [`import_ctranslate2`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Tensors written (167 for tiny, 245 for base).
    pub tensors: usize,
    /// Rows of the token embedding.
    pub n_vocab: usize,
    /// Size of the GGML file.
    pub bytes: u64,
    /// Lower-case hex sha256 of the GGML file.
    pub sha256: String,
    /// Hyper-parameters written to the header.
    pub hparams: Hparams,
    /// Whether whisper.cpp will treat the model as multilingual.
    pub multilingual: bool,
    /// The file written.
    pub path: PathBuf,
}

/// Counts `{prefix}/layer_{i}/...` blocks, requiring them to be numbered from 0.
fn layer_count(model: &Ct2Model, prefix: &str) -> usize {
    (0..)
        .take_while(|i| {
            let p = format!("{prefix}/layer_{i}/");
            model
                .variables
                .range(p.clone()..)
                .next()
                .is_some_and(|(k, _)| k.starts_with(&p))
        })
        .count()
}

fn dims<const N: usize>(model: &Ct2Model, name: &str) -> Result<[usize; N], ModelError> {
    let shape = model.shape(name)?;
    shape.try_into().map_err(|_| ModelError::BadShape {
        name: name.to_string(),
        got: shape.to_vec(),
        expected: format!("{N} dimensions"),
    })
}

fn to_i32(v: usize) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// Reads the Whisper hyper-parameters from the variable shapes.
pub fn hparams_of(model: &Ct2Model) -> Result<Hparams, ModelError> {
    if model.spec != "WhisperSpec" {
        return Err(ModelError::Ct2Format(format!(
            "spec is `{}`, expected `WhisperSpec`",
            model.spec
        )));
    }
    let [n_vocab, n_text_state] = dims::<2>(model, "decoder/embeddings/weight")?;
    let [n_audio_ctx, n_audio_state] = dims::<2>(model, "encoder/position_encodings/encodings")?;
    let [n_text_ctx, pos_width] = dims::<2>(model, "decoder/position_encodings/encodings")?;
    let [conv_out, n_mels, _kernel] = dims::<3>(model, "encoder/conv1/weight")?;
    if pos_width != n_text_state || conv_out != n_audio_state {
        return Err(ModelError::BadShape {
            name: "decoder/position_encodings/encodings".into(),
            got: vec![n_text_ctx, pos_width],
            expected: format!("width {n_text_state} and conv1 width {n_audio_state}"),
        });
    }
    Ok(Hparams {
        n_vocab: to_i32(n_vocab),
        n_audio_ctx: to_i32(n_audio_ctx),
        n_audio_state: to_i32(n_audio_state),
        n_audio_head: model.scalar("encoder/num_heads")? as i32,
        n_audio_layer: to_i32(layer_count(model, "encoder")),
        n_text_ctx: to_i32(n_text_ctx),
        n_text_state: to_i32(n_text_state),
        n_text_head: model.scalar("decoder/num_heads")? as i32,
        n_text_layer: to_i32(layer_count(model, "decoder")),
        n_mels: to_i32(n_mels),
        ftype: 1,
    })
}

/// Converts a CTranslate2 Whisper model directory (`model.bin` or
/// `model.bin.part1`, `.part2`, ... and `vocabulary.txt`) into a GGML file at
/// `out` that whisper.cpp loads.
///
/// `config.json` is not needed: everything whisper.cpp reads is in the
/// weights and the vocabulary. The file is written next to `out` under a
/// temporary name and renamed when complete, so a crash never leaves a
/// truncated model where the service looks for one. Output is a pure
/// function of the input bytes and `quant`, the type of the weight matrices.
pub fn import_ctranslate2(
    ct2_dir: &Path,
    out: &Path,
    quant: Quant,
) -> Result<ImportReport, ModelError> {
    let model = Ct2Model::open_dir(ct2_dir)?;
    let vocab_path = ct2_dir.join("vocabulary.txt");
    let vocab_txt =
        fs::read_to_string(&vocab_path).map_err(|e| ModelError::io("reading", &vocab_path, e))?;
    convert(&model, &vocab_txt, out, quant)
}

/// Converts an already parsed model; see [`import_ctranslate2`].
pub fn convert(
    model: &Ct2Model,
    vocabulary_txt: &str,
    out: &Path,
    quant: Quant,
) -> Result<ImportReport, ModelError> {
    let mut hparams = hparams_of(model)?;
    hparams.ftype = quant.file_ftype();
    let multilingual = hparams.n_vocab >= MULTILINGUAL_VOCAB;
    let lines = line_count(vocabulary_txt);
    if lines != hparams.n_vocab as usize {
        return Err(ModelError::Vocabulary(format!(
            "{lines} tokens but the embedding has {} rows",
            hparams.n_vocab
        )));
    }
    let tokens = ggml_tokens(vocabulary_txt)?;
    let want_eot = EOT_ENGLISH + usize::from(multilingual);
    if tokens.len() != want_eot {
        return Err(ModelError::Vocabulary(format!(
            "<|endoftext|> is token {}, whisper.cpp expects {want_eot} for a vocabulary of {}",
            tokens.len(),
            hparams.n_vocab
        )));
    }

    let tmp = out.with_extension("bin.partial");
    let file = File::create(&tmp).map_err(|e| ModelError::io("creating", &tmp, e))?;
    let write_err = |e| ModelError::io("writing", &tmp, e);
    let mel = mel_filters(hparams.n_mels as usize);
    let mut w = GgmlWriter::new(
        BufWriter::with_capacity(1 << 20, file),
        &hparams,
        &mel,
        N_FREQS,
        &tokens,
    )
    .map_err(write_err)?;

    for t in plan(
        hparams.n_audio_layer as usize,
        hparams.n_text_layer as usize,
    ) {
        let mut shape = model.shape(&t.ct2)?.to_vec();
        let values = model.values_f32(&t.ct2)?;
        let values = match t.split {
            None => values,
            Some((k, n)) => {
                let rows = shape.first().copied().unwrap_or(0);
                let part = split_rows(&values, rows, k, n).ok_or_else(|| ModelError::BadShape {
                    name: t.ct2.clone(),
                    got: shape.clone(),
                    expected: format!("rows divisible into {n} fused blocks"),
                })?;
                shape[0] = rows / n;
                part.to_vec()
            }
        };
        let (rank, ty) = match t.kind {
            Kind::Matrix => (2, GgmlType::for_matrices(quant)),
            Kind::Positional => (2, GgmlType::F32),
            Kind::Vector => (1, GgmlType::F32),
            Kind::ConvKernel => (3, GgmlType::F16),
            Kind::ConvBias => (1, GgmlType::F32),
        };
        if shape.len() != rank {
            return Err(ModelError::BadShape {
                name: t.ct2,
                got: shape,
                expected: format!("{rank} dimensions for {}", t.ggml),
            });
        }
        if t.kind == Kind::ConvBias {
            // whisper.cpp adds the bias to a (time, channels) map: it wants (n, 1).
            shape.push(1);
        }
        if ty.nbytes(shape.last().copied().unwrap_or(0)).is_none() {
            // ggml quantises whole blocks along each row.
            return Err(ModelError::BadShape {
                name: t.ct2,
                got: shape,
                expected: format!("rows a multiple of 32 values to store it as {quant}"),
            });
        }
        w.tensor(&t.ggml, &shape, ty, &values).map_err(write_err)?;
    }
    let (buf, written) = w.finish().map_err(write_err)?;
    let file = buf
        .into_inner()
        .map_err(|e| ModelError::io("writing", &tmp, e.into_error()))?;
    file.sync_all().map_err(write_err)?;
    drop(file);
    fs::rename(&tmp, out).map_err(|e| ModelError::io("renaming into", out, e))?;

    Ok(ImportReport {
        tensors: written.tensors,
        n_vocab: hparams.n_vocab as usize,
        bytes: written.bytes,
        sha256: written.sha256,
        hparams,
        multilingual,
        path: out.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ct2::{DType, Variable};
    use crate::model::ggml::inspect;
    use half::f16;
    use std::collections::BTreeMap;

    const D: usize = 4;
    const VOCAB: usize = 51_864;

    /// Deterministic, distinct values so any mix-up of rows or tensors shows.
    fn values(seed: usize, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((seed * 131 + i * 7) % 97) as f32 / 32.0 - 1.5)
            .collect()
    }

    fn f16_var(shape: &[usize], seed: usize) -> Variable {
        let n = shape.iter().product();
        Variable {
            shape: shape.to_vec(),
            dtype: DType::F16,
            data: values(seed, n)
                .into_iter()
                .flat_map(|x| f16::from_f32(x).to_le_bytes())
                .collect(),
        }
    }

    fn i16_scalar(v: i16) -> Variable {
        Variable {
            shape: vec![],
            dtype: DType::I16,
            data: v.to_le_bytes().to_vec(),
        }
    }

    /// A one-layer Whisper in CTranslate2 layout: width 4, 2 heads, 2 mels.
    fn tiny_whisper() -> Ct2Model {
        whisper_of_width(D)
    }

    /// A one-layer Whisper in CTranslate2 layout of width `d`, 2 heads, 2 mels.
    fn whisper_of_width(d: usize) -> Ct2Model {
        let mut v = BTreeMap::new();
        let mut seed = 0;
        let mut add = |v: &mut BTreeMap<String, Variable>, name: &str, shape: &[usize]| {
            seed += 1;
            v.insert(name.to_string(), f16_var(shape, seed));
        };
        add(&mut v, "encoder/conv1/weight", &[d, 2, 3]);
        add(&mut v, "encoder/conv1/bias", &[d]);
        add(&mut v, "encoder/conv2/weight", &[d, d, 3]);
        add(&mut v, "encoder/conv2/bias", &[d]);
        add(&mut v, "encoder/position_encodings/encodings", &[6, d]);
        add(&mut v, "decoder/position_encodings/encodings", &[5, d]);
        add(&mut v, "decoder/embeddings/weight", &[VOCAB, d]);
        for ln in ["encoder/layer_norm", "decoder/layer_norm"] {
            add(&mut v, &format!("{ln}/gamma"), &[d]);
            add(&mut v, &format!("{ln}/beta"), &[d]);
        }
        for side in ["encoder", "decoder"] {
            let l = format!("{side}/layer_0");
            let mut lin =
                |v: &mut BTreeMap<String, Variable>, name: String, rows: usize, cols: usize| {
                    add(v, &format!("{name}/weight"), &[rows, cols]);
                    add(v, &format!("{name}/bias"), &[rows]);
                };
            lin(&mut v, format!("{l}/self_attention/linear_0"), 3 * d, d);
            lin(&mut v, format!("{l}/self_attention/linear_1"), d, d);
            lin(&mut v, format!("{l}/ffn/linear_0"), 4 * d, d);
            lin(&mut v, format!("{l}/ffn/linear_1"), d, 4 * d);
            if side == "decoder" {
                lin(&mut v, format!("{l}/attention/linear_0"), d, d);
                lin(&mut v, format!("{l}/attention/linear_1"), 2 * d, d);
                lin(&mut v, format!("{l}/attention/linear_2"), d, d);
            }
            let mut norms = vec!["self_attention", "ffn"];
            if side == "decoder" {
                norms.push("attention");
            }
            for n in norms {
                add(&mut v, &format!("{l}/{n}/layer_norm/gamma"), &[d]);
                add(&mut v, &format!("{l}/{n}/layer_norm/beta"), &[d]);
            }
        }
        v.insert("encoder/num_heads".into(), i16_scalar(2));
        v.insert("decoder/num_heads".into(), i16_scalar(2));
        let mut aliases = BTreeMap::new();
        aliases.insert(
            "decoder/projection/weight".into(),
            "decoder/embeddings/weight".into(),
        );
        Ct2Model {
            spec: "WhisperSpec".into(),
            revision: 3,
            variables: v,
            aliases,
        }
    }

    fn english_vocab() -> String {
        let mut s = String::new();
        for i in 0..VOCAB {
            match i {
                EOT_ENGLISH => s.push_str("<|endoftext|>"),
                7 => {} // an empty token keeps its id
                _ => s.push_str(&format!("t{i}")),
            }
            s.push('\n');
        }
        s
    }

    fn ct2_values(m: &Ct2Model, name: &str) -> Vec<f32> {
        m.values_f32(name).unwrap()
    }

    #[test]
    fn converts_a_synthetic_model_exactly() {
        let m = tiny_whisper();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("ggml-test.bin");
        let report = convert(&m, &english_vocab(), &out, Quant::F16).unwrap();
        assert_eq!(report.tensors, plan(1, 1).len());
        assert!(!report.multilingual);
        let f = inspect(File::open(&out).unwrap(), |_| true).unwrap();
        assert_eq!(f.tensors.len(), report.tensors);
        assert_eq!(
            f.hparams,
            Hparams {
                n_vocab: VOCAB as i32,
                n_audio_ctx: 6,
                n_audio_state: 4,
                n_audio_head: 2,
                n_audio_layer: 1,
                n_text_ctx: 5,
                n_text_state: 4,
                n_text_head: 2,
                n_text_layer: 1,
                n_mels: 2,
                ftype: 1,
            }
        );
        assert_eq!(f.tokens.len(), EOT_ENGLISH);
        assert_eq!(f.tokens[7], b"");
        assert_eq!(f.tokens[8], b"t8");
        assert_eq!(f.n_bins, 201);
        assert_eq!(f.mel, mel_filters(2));

        let t = |name: &str| f.tensors.iter().find(|t| t.name == name).unwrap();
        let qkv = ct2_values(&m, "encoder/layer_0/self_attention/linear_0/weight");
        let key = t("encoder.blocks.0.attn.key.weight");
        assert_eq!((key.ne.clone(), key.ty), (vec![D, D], GgmlType::F16));
        assert_eq!(key.values.as_deref().unwrap(), &qkv[D * D..2 * D * D]);
        let qkv_b = ct2_values(&m, "encoder/layer_0/self_attention/linear_0/bias");
        assert_eq!(
            t("encoder.blocks.0.attn.value.bias")
                .values
                .as_deref()
                .unwrap(),
            &qkv_b[2 * D..]
        );
        let kv = ct2_values(&m, "decoder/layer_0/attention/linear_1/weight");
        assert_eq!(
            t("decoder.blocks.0.cross_attn.value.weight")
                .values
                .as_deref()
                .unwrap(),
            &kv[D * D..]
        );

        let conv_b = t("encoder.conv1.bias");
        assert_eq!((conv_b.ne.clone(), conv_b.ty), (vec![1, D], GgmlType::F32));
        let conv_w = t("encoder.conv1.weight");
        assert_eq!(
            (conv_w.ne.clone(), conv_w.ty),
            (vec![3, 2, D], GgmlType::F16)
        );
        assert_eq!(t("decoder.positional_embedding").ty, GgmlType::F32);
        assert_eq!(t("encoder.ln_post.bias").ty, GgmlType::F32);
        assert_eq!(
            t("decoder.token_embedding.weight")
                .values
                .as_deref()
                .unwrap(),
            ct2_values(&m, "decoder/embeddings/weight").as_slice()
        );
        assert!(f.tensors.iter().all(|t| !t.name.ends_with("key.bias")));
        assert!(!dir.path().join("ggml-test.bin.partial").exists());
    }

    #[test]
    fn quantised_files_quantise_exactly_the_weight_matrices() {
        let m = whisper_of_width(32);
        let dir = tempfile::tempdir().unwrap();
        let f16_bytes = convert(
            &m,
            &english_vocab(),
            &dir.path().join("f16.bin"),
            Quant::F16,
        )
        .unwrap()
        .bytes;
        for (quant, ty, ftype, tolerance) in [
            (Quant::Q8_0, GgmlType::Q8_0, 2007, 0.5 / 127.0),
            (Quant::Q5_1, GgmlType::Q5_1, 2009, 0.5 / 31.0),
        ] {
            let out = dir.path().join(format!("ggml-{quant}.bin"));
            let report = convert(&m, &english_vocab(), &out, quant).unwrap();
            assert_eq!(report.hparams.ftype, ftype);
            let f = inspect(File::open(&out).unwrap(), |_| true).unwrap();
            assert_eq!(f.hparams.ftype, ftype);
            for t in plan(1, 1) {
                let got = f.tensors.iter().find(|e| e.name == t.ggml).unwrap();
                let want = match t.kind {
                    Kind::Matrix => ty,
                    Kind::ConvKernel => GgmlType::F16,
                    _ => GgmlType::F32,
                };
                assert_eq!(got.ty, want, "{} in {quant}", t.ggml);
            }
            // Dequantised weights stay within half a step of the originals (values span 3).
            let emb = ct2_values(&m, "decoder/embeddings/weight");
            let back = f
                .tensors
                .iter()
                .find(|e| e.name == "decoder.token_embedding.weight")
                .and_then(|e| e.values.clone())
                .unwrap();
            assert_eq!(back.len(), emb.len());
            let worst = emb
                .iter()
                .zip(&back)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                worst <= 3.0 * tolerance + 2e-3,
                "{quant}: worst error {worst}"
            );
            assert!(report.bytes < f16_bytes, "{quant} is not smaller than f16");
        }
    }

    #[test]
    fn rows_that_are_not_whole_blocks_cannot_be_quantised() {
        let dir = tempfile::tempdir().unwrap();
        let err = convert(
            &tiny_whisper(),
            &english_vocab(),
            &dir.path().join("q.bin"),
            Quant::Q8_0,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("multiple of 32") && err.contains("q8_0"),
            "{err}"
        );
    }

    #[test]
    fn conversion_is_deterministic() {
        let m = tiny_whisper();
        let dir = tempfile::tempdir().unwrap();
        let a = convert(&m, &english_vocab(), &dir.path().join("a.bin"), Quant::F16).unwrap();
        let b = convert(&m, &english_vocab(), &dir.path().join("b.bin"), Quant::F16).unwrap();
        assert_eq!(a.sha256, b.sha256);
        assert_eq!(
            fs::read(dir.path().join("a.bin")).unwrap(),
            fs::read(dir.path().join("b.bin")).unwrap()
        );
    }

    #[test]
    fn vocabulary_must_match_embedding() {
        let m = tiny_whisper();
        let dir = tempfile::tempdir().unwrap();
        let short: String = english_vocab()
            .lines()
            .take(VOCAB - 1)
            .map(|l| format!("{l}\n"))
            .collect();
        let err = convert(&m, &short, &dir.path().join("x.bin"), Quant::F16)
            .unwrap_err()
            .to_string();
        assert!(err.contains("51863 tokens"), "{err}");
    }

    #[test]
    fn missing_variable_is_named() {
        let mut m = tiny_whisper();
        m.variables
            .remove("decoder/layer_0/attention/linear_2/bias");
        let dir = tempfile::tempdir().unwrap();
        let err = convert(&m, &english_vocab(), &dir.path().join("x.bin"), Quant::F16)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("decoder/layer_0/attention/linear_2/bias"),
            "{err}"
        );
    }

    #[test]
    fn layers_are_counted_from_zero() {
        let m = tiny_whisper();
        assert_eq!(layer_count(&m, "encoder"), 1);
        assert_eq!(layer_count(&m, "decoder"), 1);
        assert_eq!(layer_count(&m, "nothing"), 0);
    }
}
