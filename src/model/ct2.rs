//! Reader for CTranslate2 `model.bin` files (binary format version 6).
//!
//! Layout: u32 version, string spec name, u32 spec revision, u32 variable
//! count, the variables, then u32 alias count and `alias -> target` string
//! pairs. Strings are a u16 length that counts a trailing NUL, then the bytes
//! and the NUL. A variable is its name, u8 rank, one u32 per dimension, u8
//! dtype, u32 byte count and the raw little-endian data.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use half::{bf16, f16};

use super::error::ModelError;

/// The only binary format version this reader understands.
pub const BINARY_VERSION: u32 = 6;

/// Element type of a CTranslate2 variable, numbered as in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// IEEE float32.
    F32,
    /// Signed 8-bit integer (quantized weights carry a `_scale`).
    I8,
    /// Signed 16-bit integer (also used for small scalars such as head counts).
    I16,
    /// Signed 32-bit integer.
    I32,
    /// IEEE float16.
    F16,
    /// bfloat16.
    BF16,
}

impl DType {
    /// Maps the on-disk dtype byte.
    pub fn from_id(id: u8) -> Option<DType> {
        Some(match id {
            0 => DType::F32,
            1 => DType::I8,
            2 => DType::I16,
            3 => DType::I32,
            4 => DType::F16,
            5 => DType::BF16,
            _ => return None,
        })
    }

    /// The on-disk dtype byte.
    pub fn id(self) -> u8 {
        match self {
            DType::F32 => 0,
            DType::I8 => 1,
            DType::I16 => 2,
            DType::I32 => 3,
            DType::F16 => 4,
            DType::BF16 => 5,
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::I8 => 1,
            DType::I16 | DType::F16 | DType::BF16 => 2,
            DType::F32 | DType::I32 => 4,
        }
    }
}

/// One named tensor of a CTranslate2 model.
#[derive(Debug, Clone, PartialEq)]
pub struct Variable {
    /// Dimensions, outermost first (numpy order). Empty for scalars.
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: DType,
    /// Raw little-endian element data.
    pub data: Vec<u8>,
}

impl Variable {
    /// Number of elements (1 for a scalar).
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True when a dimension is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Elements as f32, as stored, without any quantization scale.
    fn raw_values(&self) -> Vec<f32> {
        let d = &self.data;
        match self.dtype {
            DType::F32 => d
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            DType::F16 => d
                .chunks_exact(2)
                .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            DType::BF16 => d
                .chunks_exact(2)
                .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            DType::I8 => d.iter().map(|&b| b as i8 as f32).collect(),
            DType::I16 => d
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]) as f32)
                .collect(),
            DType::I32 => d
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32)
                .collect(),
        }
    }
}

/// A parsed CTranslate2 model: its spec and all variables by name.
#[derive(Debug, Clone, PartialEq)]
pub struct Ct2Model {
    /// Model spec name, e.g. `WhisperSpec`.
    pub spec: String,
    /// Spec revision.
    pub revision: u32,
    /// Variables by name (`encoder/layer_0/...`).
    pub variables: BTreeMap<String, Variable>,
    /// Alias name -> target variable name.
    pub aliases: BTreeMap<String, String>,
}

/// The model.bin files of a CTranslate2 directory, in concatenation order.
///
/// Large models are shipped split as `model.bin.part1`, `model.bin.part2`, ...
/// because package indexes cap file sizes; the parts are plain byte slices.
pub fn model_bin_parts(dir: &Path) -> Result<Vec<PathBuf>, ModelError> {
    let whole = dir.join("model.bin");
    if whole.is_file() {
        return Ok(vec![whole]);
    }
    let mut parts = Vec::new();
    for k in 1.. {
        let p = dir.join(format!("model.bin.part{k}"));
        if !p.is_file() {
            break;
        }
        parts.push(p);
    }
    if parts.is_empty() {
        return Err(ModelError::NoModelBin(dir.to_path_buf()));
    }
    Ok(parts)
}

impl Ct2Model {
    /// Reads `model.bin` (or its parts, joined) from a CTranslate2 model directory.
    pub fn open_dir(dir: &Path) -> Result<Ct2Model, ModelError> {
        let parts = model_bin_parts(dir)?;
        let mut reader: Box<dyn Read> = Box::new(std::io::empty());
        for p in &parts {
            let f = File::open(p).map_err(|e| ModelError::io("opening", p, e))?;
            reader = Box::new(reader.chain(f));
        }
        Ct2Model::read(BufReader::with_capacity(1 << 20, reader)).map_err(|e| match e {
            ModelError::Ct2Format(m) => ModelError::Ct2Format(format!(
                "{m} (in {})",
                parts
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" + ")
            )),
            other => other,
        })
    }

    /// Parses a whole `model.bin` stream.
    pub fn read(mut r: impl Read) -> Result<Ct2Model, ModelError> {
        let version = read_u32(&mut r, "binary version")?;
        if version != BINARY_VERSION {
            return Err(ModelError::Ct2Format(format!(
                "binary version {version}, only {BINARY_VERSION} is supported"
            )));
        }
        let spec = read_string(&mut r, "spec name")?;
        let revision = read_u32(&mut r, "spec revision")?;
        let count = read_u32(&mut r, "variable count")?;
        let mut variables = BTreeMap::new();
        for i in 0..count {
            let name = read_string(&mut r, "variable name")?;
            let var = read_variable(&mut r, &name)
                .map_err(|e| prefix(e, &format!("variable #{i} `{name}`")))?;
            variables.insert(name, var);
        }
        let n_aliases = read_u32(&mut r, "alias count")?;
        let mut aliases = BTreeMap::new();
        for _ in 0..n_aliases {
            let alias = read_string(&mut r, "alias name")?;
            let target = read_string(&mut r, "alias target")?;
            aliases.insert(alias, target);
        }
        let mut trailing = [0u8; 1];
        if r.read(&mut trailing)
            .map_err(|e| fmt_err("trailing data", e))?
            != 0
        {
            return Err(ModelError::Ct2Format(
                "unexpected bytes after the alias table (truncated or mis-joined parts?)".into(),
            ));
        }
        Ok(Ct2Model {
            spec,
            revision,
            variables,
            aliases,
        })
    }

    /// Looks a variable up by name, following aliases.
    pub fn get(&self, name: &str) -> Option<&Variable> {
        self.variables.get(name).or_else(|| {
            self.aliases
                .get(name)
                .and_then(|target| self.variables.get(target))
        })
    }

    /// Looks a variable up or fails with [`ModelError::MissingVariable`].
    pub fn require(&self, name: &str) -> Result<&Variable, ModelError> {
        self.get(name)
            .ok_or_else(|| ModelError::MissingVariable(name.to_string()))
    }

    /// Shape of a variable.
    pub fn shape(&self, name: &str) -> Result<&[usize], ModelError> {
        Ok(&self.require(name)?.shape)
    }

    /// A scalar variable (e.g. `encoder/num_heads`) as an integer.
    pub fn scalar(&self, name: &str) -> Result<i64, ModelError> {
        let v = self.require(name)?;
        let values = v.raw_values();
        match values.as_slice() {
            [x] => Ok(*x as i64),
            _ => Err(ModelError::BadShape {
                name: name.to_string(),
                got: v.shape.clone(),
                expected: "a scalar".into(),
            }),
        }
    }

    /// A variable as f32 values, dequantized when it is an integer tensor
    /// with a `<name>_scale` companion (weight = q / scale, one scale per row
    /// or a single scale).
    pub fn values_f32(&self, name: &str) -> Result<Vec<f32>, ModelError> {
        let v = self.require(name)?;
        let raw = v.raw_values();
        let is_int = matches!(v.dtype, DType::I8 | DType::I16 | DType::I32);
        let scale_name = format!("{name}_scale");
        let scale = match (is_int, self.get(&scale_name)) {
            (true, Some(s)) => Some(s.raw_values()),
            (true, None) if v.dtype == DType::I8 => {
                // An int8 weight without its scale cannot be dequantized; reading
                // it raw would silently produce garbage logits.
                return Err(ModelError::MissingVariable(scale_name));
            }
            _ => None,
        };
        let Some(scale) = scale else {
            return Ok(raw);
        };
        let rows = v.shape.first().copied().unwrap_or(1);
        let row_len = raw.len().checked_div(rows).unwrap_or(0);
        let per_row = match scale.len() {
            1 => vec![scale[0]; rows],
            n if n == rows => scale,
            n => {
                return Err(ModelError::BadShape {
                    name: scale_name,
                    got: vec![n],
                    expected: format!("1 or {rows} scales (one per row of `{name}`)"),
                })
            }
        };
        Ok(raw
            .chunks(row_len.max(1))
            .zip(per_row)
            .flat_map(|(row, s)| row.iter().map(move |&q| q / s))
            .collect())
    }
}

fn prefix(e: ModelError, what: &str) -> ModelError {
    match e {
        ModelError::Ct2Format(m) => ModelError::Ct2Format(format!("{what}: {m}")),
        other => other,
    }
}

fn fmt_err(what: &str, e: std::io::Error) -> ModelError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        ModelError::Ct2Format(format!(
            "file ends while reading {what} (truncated download?)"
        ))
    } else {
        ModelError::Ct2Format(format!("I/O error while reading {what}: {e}"))
    }
}

fn read_exact<const N: usize>(r: &mut impl Read, what: &str) -> Result<[u8; N], ModelError> {
    let mut b = [0u8; N];
    r.read_exact(&mut b).map_err(|e| fmt_err(what, e))?;
    Ok(b)
}

fn read_u32(r: &mut impl Read, what: &str) -> Result<u32, ModelError> {
    Ok(u32::from_le_bytes(read_exact::<4>(r, what)?))
}

fn read_string(r: &mut impl Read, what: &str) -> Result<String, ModelError> {
    let len = u16::from_le_bytes(read_exact::<2>(r, what)?) as usize;
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).map_err(|e| fmt_err(what, e))?;
    if buf.pop() != Some(0) {
        return Err(ModelError::Ct2Format(format!(
            "{what} is not NUL-terminated"
        )));
    }
    String::from_utf8(buf).map_err(|_| ModelError::Ct2Format(format!("{what} is not UTF-8")))
}

fn read_variable(r: &mut impl Read, name: &str) -> Result<Variable, ModelError> {
    let rank = read_exact::<1>(r, "rank")?[0] as usize;
    let mut shape = Vec::with_capacity(rank);
    for _ in 0..rank {
        shape.push(read_u32(r, "dimension")? as usize);
    }
    let dtype_id = read_exact::<1>(r, "dtype")?[0];
    let dtype = DType::from_id(dtype_id)
        .ok_or_else(|| ModelError::Ct2Format(format!("unknown dtype id {dtype_id}")))?;
    let nbytes = read_u32(r, "byte count")? as usize;
    let expected = shape.iter().product::<usize>() * dtype.size();
    if nbytes != expected {
        return Err(ModelError::Ct2Format(format!(
            "{name}: {nbytes} data bytes for shape {shape:?} of {dtype:?} (expected {expected})"
        )));
    }
    let mut data = Vec::with_capacity(nbytes);
    r.take(nbytes as u64)
        .read_to_end(&mut data)
        .map_err(|e| fmt_err("variable data", e))?;
    if data.len() != nbytes {
        return Err(fmt_err(
            "variable data",
            std::io::ErrorKind::UnexpectedEof.into(),
        ));
    }
    Ok(Variable { shape, dtype, data })
}

/// Serialises a model in the same binary format.
///
/// Used to build small fixtures and to re-pack models; the reader and this
/// writer round-trip exactly.
pub fn write(model: &Ct2Model, w: &mut impl std::io::Write) -> std::io::Result<()> {
    fn string(w: &mut impl std::io::Write, s: &str) -> std::io::Result<()> {
        w.write_all(&((s.len() + 1) as u16).to_le_bytes())?;
        w.write_all(s.as_bytes())?;
        w.write_all(&[0])
    }
    w.write_all(&BINARY_VERSION.to_le_bytes())?;
    string(w, &model.spec)?;
    w.write_all(&model.revision.to_le_bytes())?;
    w.write_all(&(model.variables.len() as u32).to_le_bytes())?;
    for (name, v) in &model.variables {
        string(w, name)?;
        w.write_all(&[v.shape.len() as u8])?;
        for &d in &v.shape {
            w.write_all(&(d as u32).to_le_bytes())?;
        }
        w.write_all(&[v.dtype.id()])?;
        w.write_all(&(v.data.len() as u32).to_le_bytes())?;
        w.write_all(&v.data)?;
    }
    w.write_all(&(model.aliases.len() as u32).to_le_bytes())?;
    for (a, t) in &model.aliases {
        string(w, a)?;
        string(w, t)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var_f16(shape: &[usize], values: &[f32]) -> Variable {
        Variable {
            shape: shape.to_vec(),
            dtype: DType::F16,
            data: values
                .iter()
                .flat_map(|&x| f16::from_f32(x).to_le_bytes())
                .collect(),
        }
    }

    fn sample() -> Ct2Model {
        let mut variables = BTreeMap::new();
        variables.insert(
            "decoder/embeddings/weight".into(),
            var_f16(&[2, 3], &[1.0, -2.0, 0.5, 0.25, 3.0, -0.125]),
        );
        variables.insert(
            "encoder/num_heads".into(),
            Variable {
                shape: vec![],
                dtype: DType::I16,
                data: 6i16.to_le_bytes().to_vec(),
            },
        );
        variables.insert(
            "decoder/activation".into(),
            Variable {
                shape: vec![],
                dtype: DType::I8,
                data: vec![3],
            },
        );
        let mut aliases = BTreeMap::new();
        aliases.insert(
            "decoder/projection/weight".into(),
            "decoder/embeddings/weight".into(),
        );
        Ct2Model {
            spec: "WhisperSpec".into(),
            revision: 3,
            variables,
            aliases,
        }
    }

    fn bytes(m: &Ct2Model) -> Vec<u8> {
        let mut out = Vec::new();
        write(m, &mut out).unwrap();
        out
    }

    #[test]
    fn header_bytes_follow_the_format() {
        let b = bytes(&sample());
        assert_eq!(&b[0..4], &6u32.to_le_bytes());
        assert_eq!(&b[4..6], &12u16.to_le_bytes(), "length counts the NUL");
        assert_eq!(&b[6..18], b"WhisperSpec\0");
        assert_eq!(&b[18..22], &3u32.to_le_bytes());
        assert_eq!(&b[22..26], &3u32.to_le_bytes());
    }

    #[test]
    fn round_trips_and_resolves_aliases() {
        let m = sample();
        let parsed = Ct2Model::read(bytes(&m).as_slice()).unwrap();
        assert_eq!(parsed, m);
        assert_eq!(
            parsed.values_f32("decoder/projection/weight").unwrap(),
            vec![1.0, -2.0, 0.5, 0.25, 3.0, -0.125]
        );
        assert_eq!(parsed.scalar("encoder/num_heads").unwrap(), 6);
        assert_eq!(parsed.scalar("decoder/activation").unwrap(), 3);
    }

    #[test]
    fn int8_weights_are_divided_by_their_row_scale() {
        let mut m = sample();
        m.variables.insert(
            "w".into(),
            Variable {
                shape: vec![2, 2],
                dtype: DType::I8,
                data: vec![10, (-20i8) as u8, 127, 0],
            },
        );
        m.variables.insert(
            "w_scale".into(),
            Variable {
                shape: vec![2],
                dtype: DType::F32,
                data: [10.0f32, 127.0]
                    .iter()
                    .flat_map(|x| x.to_le_bytes())
                    .collect(),
            },
        );
        let parsed = Ct2Model::read(bytes(&m).as_slice()).unwrap();
        assert_eq!(parsed.values_f32("w").unwrap(), vec![1.0, -2.0, 1.0, 0.0]);
    }

    #[test]
    fn int8_weight_without_scale_is_refused() {
        let mut m = sample();
        m.variables.insert(
            "w".into(),
            Variable {
                shape: vec![1, 2],
                dtype: DType::I8,
                data: vec![1, 2],
            },
        );
        let err = m.values_f32("w").unwrap_err();
        assert!(err.to_string().contains("w_scale"), "{err}");
    }

    #[test]
    fn truncation_anywhere_is_reported_not_panicking() {
        let b = bytes(&sample());
        for cut in 0..b.len() {
            let err = Ct2Model::read(&b[..cut]).unwrap_err();
            assert!(matches!(err, ModelError::Ct2Format(_)), "cut {cut}: {err}");
        }
    }

    #[test]
    fn trailing_garbage_and_wrong_version_are_rejected() {
        let mut b = bytes(&sample());
        b.push(0);
        assert!(Ct2Model::read(b.as_slice()).is_err());
        let mut b = bytes(&sample());
        b[0] = 5;
        let err = Ct2Model::read(b.as_slice()).unwrap_err().to_string();
        assert!(err.contains("binary version 5"), "{err}");
    }

    #[test]
    fn byte_count_must_match_shape() {
        let mut m = sample();
        m.variables
            .get_mut("decoder/embeddings/weight")
            .unwrap()
            .shape = vec![3, 3];
        let err = Ct2Model::read(bytes(&m).as_slice())
            .unwrap_err()
            .to_string();
        assert!(err.contains("12 data bytes"), "{err}");
    }

    #[test]
    fn parts_are_joined_in_numeric_order() {
        let dir = tempfile::tempdir().unwrap();
        let b = bytes(&sample());
        let (a, rest) = b.split_at(7);
        let (bb, c) = rest.split_at(20);
        std::fs::write(dir.path().join("model.bin.part1"), a).unwrap();
        std::fs::write(dir.path().join("model.bin.part2"), bb).unwrap();
        std::fs::write(dir.path().join("model.bin.part3"), c).unwrap();
        assert_eq!(Ct2Model::open_dir(dir.path()).unwrap(), sample());
        std::fs::remove_file(dir.path().join("model.bin.part3")).unwrap();
        let err = Ct2Model::open_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("part2"), "{err}");
    }

    #[test]
    fn empty_dir_says_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let err = Ct2Model::open_dir(dir.path()).unwrap_err();
        assert!(matches!(err, ModelError::NoModelBin(_)));
    }
}
