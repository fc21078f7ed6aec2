//! Which CTranslate2 variable becomes which whisper.cpp tensor.
//!
//! CTranslate2 fuses attention projections (self-attention Q|K|V in one
//! `linear_0`, cross-attention K|V in one `linear_1`); whisper.cpp keeps the
//! OpenAI checkpoint layout with separate query/key/value tensors and no key
//! bias. Dropping the key bias is exact: `q·(k + b)` adds the same `q·b` to
//! every key of a query, which softmax cancels.

/// How a tensor is stored in the GGML file; whisper.cpp checks the type of
/// every tensor against the one it allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 2-D matrix: float16.
    Matrix,
    /// 1-D vector (bias, layer-norm gain/shift): float32.
    Vector,
    /// Convolution kernel: float16 (whisper.cpp's conv op needs f16 kernels).
    ConvKernel,
    /// Convolution bias, stored as an `(n, 1)` float32 column.
    ConvBias,
    /// Positional embedding table: float32.
    Positional,
}

/// One whisper.cpp tensor and where its values come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorPlan {
    /// whisper.cpp tensor name, e.g. `decoder.blocks.0.attn.query.weight`.
    pub ggml: String,
    /// CTranslate2 variable name, e.g. `decoder/layer_0/self_attention/linear_0/weight`.
    pub ct2: String,
    /// `Some((k, n))`: take the k-th of n equal row blocks of the variable.
    pub split: Option<(usize, usize)>,
    /// Storage kind.
    pub kind: Kind,
}

fn push(
    plan: &mut Vec<TensorPlan>,
    ggml: String,
    ct2: String,
    split: Option<(usize, usize)>,
    kind: Kind,
) {
    plan.push(TensorPlan {
        ggml,
        ct2,
        split,
        kind,
    });
}

/// A linear layer: `weight` (matrix) and `bias` (vector), optionally one row
/// block of a fused projection; `with_bias: false` drops the bias.
fn linear(
    plan: &mut Vec<TensorPlan>,
    ggml: &str,
    ct2: &str,
    split: Option<(usize, usize)>,
    with_bias: bool,
) {
    push(
        plan,
        format!("{ggml}.weight"),
        format!("{ct2}/weight"),
        split,
        Kind::Matrix,
    );
    if with_bias {
        push(
            plan,
            format!("{ggml}.bias"),
            format!("{ct2}/bias"),
            split,
            Kind::Vector,
        );
    }
}

fn layer_norm(plan: &mut Vec<TensorPlan>, ggml: &str, ct2: &str) {
    push(
        plan,
        format!("{ggml}.weight"),
        format!("{ct2}/gamma"),
        None,
        Kind::Vector,
    );
    push(
        plan,
        format!("{ggml}.bias"),
        format!("{ct2}/beta"),
        None,
        Kind::Vector,
    );
}

fn self_attention_and_mlp(plan: &mut Vec<TensorPlan>, g: &str, c: &str) {
    let qkv = format!("{c}/self_attention/linear_0");
    linear(plan, &format!("{g}.attn.query"), &qkv, Some((0, 3)), true);
    linear(plan, &format!("{g}.attn.key"), &qkv, Some((1, 3)), false);
    linear(plan, &format!("{g}.attn.value"), &qkv, Some((2, 3)), true);
    linear(
        plan,
        &format!("{g}.attn.out"),
        &format!("{c}/self_attention/linear_1"),
        None,
        true,
    );
    layer_norm(
        plan,
        &format!("{g}.attn_ln"),
        &format!("{c}/self_attention/layer_norm"),
    );
}

fn mlp(plan: &mut Vec<TensorPlan>, g: &str, c: &str) {
    linear(
        plan,
        &format!("{g}.mlp.0"),
        &format!("{c}/ffn/linear_0"),
        None,
        true,
    );
    linear(
        plan,
        &format!("{g}.mlp.2"),
        &format!("{c}/ffn/linear_1"),
        None,
        true,
    );
    layer_norm(plan, &format!("{g}.mlp_ln"), &format!("{c}/ffn/layer_norm"));
}

/// Every tensor of a whisper.cpp model with the given layer counts, in the
/// order they are written (fixed, so conversion output is reproducible).
pub fn plan(n_audio_layer: usize, n_text_layer: usize) -> Vec<TensorPlan> {
    let mut p = Vec::new();
    push(
        &mut p,
        "encoder.positional_embedding".into(),
        "encoder/position_encodings/encodings".into(),
        None,
        Kind::Positional,
    );
    for k in 1..=2 {
        push(
            &mut p,
            format!("encoder.conv{k}.weight"),
            format!("encoder/conv{k}/weight"),
            None,
            Kind::ConvKernel,
        );
        push(
            &mut p,
            format!("encoder.conv{k}.bias"),
            format!("encoder/conv{k}/bias"),
            None,
            Kind::ConvBias,
        );
    }
    for i in 0..n_audio_layer {
        let g = format!("encoder.blocks.{i}");
        let c = format!("encoder/layer_{i}");
        self_attention_and_mlp(&mut p, &g, &c);
        mlp(&mut p, &g, &c);
    }
    layer_norm(&mut p, "encoder.ln_post", "encoder/layer_norm");

    push(
        &mut p,
        "decoder.positional_embedding".into(),
        "decoder/position_encodings/encodings".into(),
        None,
        Kind::Positional,
    );
    push(
        &mut p,
        "decoder.token_embedding.weight".into(),
        "decoder/embeddings/weight".into(),
        None,
        Kind::Matrix,
    );
    for i in 0..n_text_layer {
        let g = format!("decoder.blocks.{i}");
        let c = format!("decoder/layer_{i}");
        self_attention_and_mlp(&mut p, &g, &c);
        let cross = format!("{c}/attention");
        linear(
            &mut p,
            &format!("{g}.cross_attn.query"),
            &format!("{cross}/linear_0"),
            None,
            true,
        );
        let kv = format!("{cross}/linear_1");
        linear(
            &mut p,
            &format!("{g}.cross_attn.key"),
            &kv,
            Some((0, 2)),
            false,
        );
        linear(
            &mut p,
            &format!("{g}.cross_attn.value"),
            &kv,
            Some((1, 2)),
            true,
        );
        linear(
            &mut p,
            &format!("{g}.cross_attn.out"),
            &format!("{cross}/linear_2"),
            None,
            true,
        );
        layer_norm(
            &mut p,
            &format!("{g}.cross_attn_ln"),
            &format!("{cross}/layer_norm"),
        );
        mlp(&mut p, &g, &c);
    }
    layer_norm(&mut p, "decoder.ln", "decoder/layer_norm");
    p
}

/// Rows `k` of `n` equal row blocks of a row-major tensor of `rows` rows.
pub fn split_rows(data: &[f32], rows: usize, k: usize, n: usize) -> Option<&[f32]> {
    if n == 0 || k >= n || rows == 0 || !rows.is_multiple_of(n) || !data.len().is_multiple_of(rows)
    {
        return None;
    }
    let block = data.len() / n;
    Some(&data[k * block..(k + 1) * block])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn tensor_counts_match_whisper_cpp() {
        // tiny: 4+4 layers, base: 6+6, small: 12+12
        assert_eq!(plan(4, 4).len(), 167);
        assert_eq!(plan(6, 6).len(), 245);
        assert_eq!(plan(12, 12).len(), 479);
    }

    #[test]
    fn names_are_unique() {
        let p = plan(6, 6);
        let names: HashSet<_> = p.iter().map(|t| &t.ggml).collect();
        assert_eq!(names.len(), p.len());
    }

    #[test]
    fn mapping_table() {
        let p = plan(2, 2);
        let find = |g: &str| {
            p.iter()
                .find(|t| t.ggml == g)
                .unwrap_or_else(|| panic!("{g} not planned"))
                .clone()
        };
        type Case = (&'static str, &'static str, Option<(usize, usize)>, Kind);
        let cases: &[Case] = &[
            (
                "encoder.conv1.weight",
                "encoder/conv1/weight",
                None,
                Kind::ConvKernel,
            ),
            (
                "encoder.conv2.bias",
                "encoder/conv2/bias",
                None,
                Kind::ConvBias,
            ),
            (
                "encoder.positional_embedding",
                "encoder/position_encodings/encodings",
                None,
                Kind::Positional,
            ),
            (
                "decoder.positional_embedding",
                "decoder/position_encodings/encodings",
                None,
                Kind::Positional,
            ),
            (
                "encoder.ln_post.weight",
                "encoder/layer_norm/gamma",
                None,
                Kind::Vector,
            ),
            (
                "decoder.ln.bias",
                "decoder/layer_norm/beta",
                None,
                Kind::Vector,
            ),
            (
                "decoder.token_embedding.weight",
                "decoder/embeddings/weight",
                None,
                Kind::Matrix,
            ),
            (
                "encoder.blocks.1.attn.query.weight",
                "encoder/layer_1/self_attention/linear_0/weight",
                Some((0, 3)),
                Kind::Matrix,
            ),
            (
                "encoder.blocks.1.attn.query.bias",
                "encoder/layer_1/self_attention/linear_0/bias",
                Some((0, 3)),
                Kind::Vector,
            ),
            (
                "encoder.blocks.1.attn.key.weight",
                "encoder/layer_1/self_attention/linear_0/weight",
                Some((1, 3)),
                Kind::Matrix,
            ),
            (
                "encoder.blocks.1.attn.value.bias",
                "encoder/layer_1/self_attention/linear_0/bias",
                Some((2, 3)),
                Kind::Vector,
            ),
            (
                "encoder.blocks.0.attn.out.weight",
                "encoder/layer_0/self_attention/linear_1/weight",
                None,
                Kind::Matrix,
            ),
            (
                "encoder.blocks.0.attn_ln.weight",
                "encoder/layer_0/self_attention/layer_norm/gamma",
                None,
                Kind::Vector,
            ),
            (
                "encoder.blocks.0.mlp.0.weight",
                "encoder/layer_0/ffn/linear_0/weight",
                None,
                Kind::Matrix,
            ),
            (
                "encoder.blocks.0.mlp.2.bias",
                "encoder/layer_0/ffn/linear_1/bias",
                None,
                Kind::Vector,
            ),
            (
                "encoder.blocks.0.mlp_ln.bias",
                "encoder/layer_0/ffn/layer_norm/beta",
                None,
                Kind::Vector,
            ),
            (
                "decoder.blocks.1.cross_attn.query.bias",
                "decoder/layer_1/attention/linear_0/bias",
                None,
                Kind::Vector,
            ),
            (
                "decoder.blocks.1.cross_attn.key.weight",
                "decoder/layer_1/attention/linear_1/weight",
                Some((0, 2)),
                Kind::Matrix,
            ),
            (
                "decoder.blocks.1.cross_attn.value.weight",
                "decoder/layer_1/attention/linear_1/weight",
                Some((1, 2)),
                Kind::Matrix,
            ),
            (
                "decoder.blocks.1.cross_attn.value.bias",
                "decoder/layer_1/attention/linear_1/bias",
                Some((1, 2)),
                Kind::Vector,
            ),
            (
                "decoder.blocks.1.cross_attn.out.weight",
                "decoder/layer_1/attention/linear_2/weight",
                None,
                Kind::Matrix,
            ),
            (
                "decoder.blocks.1.cross_attn_ln.weight",
                "decoder/layer_1/attention/layer_norm/gamma",
                None,
                Kind::Vector,
            ),
            (
                "decoder.blocks.0.attn.key.weight",
                "decoder/layer_0/self_attention/linear_0/weight",
                Some((1, 3)),
                Kind::Matrix,
            ),
        ];
        for &(g, c, split, kind) in cases {
            let t = find(g);
            assert_eq!((t.ct2.as_str(), t.split, t.kind), (c, split, kind), "{g}");
        }
        for absent in [
            "encoder.blocks.0.attn.key.bias",
            "decoder.blocks.0.attn.key.bias",
            "decoder.blocks.0.cross_attn.key.bias",
        ] {
            assert!(
                p.iter().all(|t| t.ggml != absent),
                "{absent} must be dropped"
            );
        }
    }

    #[test]
    fn fused_qkv_split_takes_row_blocks() {
        // 3 blocks of 2 rows x 2 cols: rows are q0 q1 k0 k1 v0 v1
        let w: Vec<f32> = (0..12).map(|x| x as f32).collect();
        assert_eq!(split_rows(&w, 6, 0, 3).unwrap(), &[0., 1., 2., 3.]);
        assert_eq!(split_rows(&w, 6, 1, 3).unwrap(), &[4., 5., 6., 7.]);
        assert_eq!(split_rows(&w, 6, 2, 3).unwrap(), &[8., 9., 10., 11.]);
        let b = [1.0f32, 2.0, 3.0, 4.0];
        assert_eq!(split_rows(&b, 4, 1, 2).unwrap(), &[3., 4.]);
        assert_eq!(split_rows(&w, 6, 3, 3), None);
        assert_eq!(split_rows(&w, 4, 0, 3), None);
    }
}
