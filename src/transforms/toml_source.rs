//! What every TOML-configured stage (lexicons, rules, topics, knowledge) needs from its files:
//! the `*.toml` files of a folder in a stable order, and the line of a byte offset so each
//! error can name `file:line`. Each caller wraps the results in its own typed error.

use std::path::{Path, PathBuf};

/// 1-based line of `byte` in `src`. An offset at the very end of a file that ends with a
/// newline (an unclosed array) belongs to the last line, not to the empty one after it.
pub fn line_of(src: &str, byte: usize) -> usize {
    let mut byte = byte.min(src.len());
    if byte == src.len() && src.ends_with('\n') && byte > 0 {
        byte -= 1;
    }
    src.as_bytes()[..byte]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The `*.toml` files of `dir` in file-name order (so a later file's duplicates are the ones
/// reported); possibly none.
pub fn toml_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_offsets() {
        let src = "a = 1\nb = [\n";
        let table = [(0, 1), (5, 1), (6, 2), (11, 2), (12, 2), (99, 2)];
        for (byte, line) in table {
            assert_eq!(line_of(src, byte), line, "byte {byte}");
        }
        assert_eq!(line_of("", 0), 1);
        assert_eq!(line_of("\n", 1), 1);
    }

    #[test]
    fn toml_files_are_sorted_and_filtered() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.toml", "a.toml", "notes.md"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        std::fs::create_dir(dir.path().join("sub.toml")).unwrap();
        let names: Vec<String> = toml_files(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.toml", "b.toml"]);
        assert!(toml_files(&dir.path().join("missing")).is_err());
    }
}
