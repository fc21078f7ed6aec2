//! The lexicon and rule files as read, before they are compiled: what a reload reads from
//! disk, and what a cluster node sends the others so that every node runs the same set.

use super::error::{InspectionError, RuleError};
use super::inspection::InspectionSource;
use crate::transforms::matcher::{Lexicon, LexiconError};
use crate::transforms::toml_source;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

/// One file: the name its errors are reported under, and its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
}

/// Every lexicon and rule file of a set, each list in file-name order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InspectionFiles {
    pub lexicons: Vec<SourceFile>,
    pub rules: Vec<SourceFile>,
}

impl InspectionFiles {
    /// Reads the `*.toml` files of the lexicon and rules directories of `source`. The lexicon
    /// directory must hold at least one; a missing rules directory holds no rules.
    pub fn read(source: &InspectionSource) -> Result<InspectionFiles, InspectionError> {
        let lex_dir = &source.lexicon_dir;
        let io = |source| LexiconError::Io {
            path: lex_dir.to_path_buf(),
            source,
        };
        let names = toml_source::toml_files(lex_dir).map_err(io)?;
        if names.is_empty() {
            return Err(LexiconError::NoFiles {
                dir: lex_dir.to_path_buf(),
            }
            .into());
        }
        let lexicons = names
            .iter()
            .map(|p| {
                read_file(p).map_err(|source| LexiconError::Io {
                    path: p.clone(),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let rules = read_rules(&source.rules_dir)?;
        Ok(InspectionFiles { lexicons, rules })
    }

    /// SHA-256 of every file's base name and text, in hex: equal on two nodes exactly when
    /// they read the same set, wherever their directories are.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        for (kind, files) in [("lexicon", &self.lexicons), ("rules", &self.rules)] {
            for f in files.iter() {
                let base = Path::new(&f.name)
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or(&f.name);
                // Lengths first, so no two different sets hash the same bytes.
                for part in [kind, base, f.text.as_str()] {
                    h.update((part.len() as u64).to_le_bytes());
                    h.update(part.as_bytes());
                }
            }
        }
        crate::model::ggml::hex(&h.finalize())
    }

    /// Bytes of text held, for size limits.
    pub fn bytes(&self) -> usize {
        self.lexicons
            .iter()
            .chain(&self.rules)
            .map(|f| f.name.len() + f.text.len())
            .sum()
    }

    /// Parses the lexicon files into one lexicon; a term may not repeat within a category,
    /// even across files.
    pub(super) fn lexicon(&self) -> Result<Lexicon, LexiconError> {
        if self.lexicons.is_empty() {
            return Err(LexiconError::NoFiles {
                dir: "(no lexicon files)".into(),
            });
        }
        let mut terms = Vec::new();
        for f in &self.lexicons {
            terms.extend(Lexicon::parse(&f.text, &f.name)?.terms);
        }
        let lexicon = Lexicon::from_terms(terms);
        lexicon.check_duplicates()?;
        Ok(lexicon)
    }

    /// Parses the rule files, in order.
    pub(super) fn rule_defs(&self) -> Result<Vec<super::file::RuleDef>, RuleError> {
        let mut defs = Vec::new();
        for f in &self.rules {
            defs.extend(super::file::parse(&f.text, &f.name)?);
        }
        Ok(defs)
    }
}

/// The `*.toml` files of a rules directory, in file-name order; a missing one holds none.
pub(super) fn read_rules(dir: &Path) -> Result<Vec<SourceFile>, RuleError> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let names = toml_source::toml_files(dir).map_err(|source| RuleError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    names
        .iter()
        .map(|p| {
            read_file(p).map_err(|source| RuleError::Io {
                path: p.clone(),
                source,
            })
        })
        .collect()
}

fn read_file(path: &Path) -> std::io::Result<SourceFile> {
    Ok(SourceFile {
        name: path.display().to_string(),
        text: std::fs::read_to_string(path)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn source(lex: &Path, rules: &Path) -> InspectionSource {
        InspectionSource {
            lexicon_dir: lex.to_path_buf(),
            rules_dir: rules.to_path_buf(),
            fuzzy_pinyin: false,
            category_modes: BTreeMap::new(),
        }
    }

    #[test]
    fn the_digest_follows_names_and_texts_not_directories() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        for d in [&a, &b] {
            std::fs::write(
                d.path().join("x.toml"),
                "[[term]]\ntext = \"投诉\"\ncategory = \"complaint\"\n",
            )
            .unwrap();
            std::fs::write(d.path().join("notes.md"), "not read").unwrap();
        }
        let none = a.path().join("no-rules");
        let fa = InspectionFiles::read(&source(a.path(), &none)).unwrap();
        let fb = InspectionFiles::read(&source(b.path(), &none)).unwrap();
        assert_eq!(fa.lexicons.len(), 1);
        assert!(fa.rules.is_empty());
        assert_ne!(fa, fb, "names carry the directory, for errors");
        assert_eq!(fa.digest(), fb.digest());
        assert_eq!(fa.digest().len(), 64);

        std::fs::write(
            b.path().join("x.toml"),
            "[[term]]\ntext = \"投诉你们\"\ncategory = \"complaint\"\n",
        )
        .unwrap();
        let fb = InspectionFiles::read(&source(b.path(), &none)).unwrap();
        assert_ne!(fa.digest(), fb.digest());
        std::fs::rename(a.path().join("x.toml"), a.path().join("y.toml")).unwrap();
        let fa2 = InspectionFiles::read(&source(a.path(), &none)).unwrap();
        assert_ne!(fa.digest(), fa2.digest(), "a renamed file is another set");
        // Moving text from one file's end to the next file's start changes the digest.
        let split = |x: &str, y: &str| InspectionFiles {
            lexicons: vec![
                SourceFile {
                    name: "a.toml".into(),
                    text: x.into(),
                },
                SourceFile {
                    name: "b.toml".into(),
                    text: y.into(),
                },
            ],
            rules: vec![],
        };
        assert_ne!(split("ab", "c").digest(), split("a", "bc").digest());
    }

    #[test]
    fn compiled_files_match_what_the_directory_loads_and_errors_name_the_file() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("lexicons");
        let src = source(&root, &root.join("rules"));
        let files = InspectionFiles::read(&src).unwrap();
        let a = crate::transforms::rules::Inspection::compile(&files, &src).unwrap();
        assert_eq!(a.matcher.len(), Lexicon::load_dir(&root).unwrap().len());
        assert_eq!(a.digest, files.digest());

        let empty = tempfile::tempdir().unwrap();
        let err = InspectionFiles::read(&source(empty.path(), empty.path())).unwrap_err();
        assert!(err.to_string().contains("no"), "{err}");
        let mut bad = files.clone();
        bad.lexicons[0]
            .text
            .push_str("\n[[term]]\ntext = \"x\"\nseverity = \"hgh\"\n");
        let err = crate::transforms::rules::Inspection::compile(&bad, &src)
            .err()
            .unwrap();
        assert!(err.to_string().contains(&bad.lexicons[0].name), "{err}");
    }
}
