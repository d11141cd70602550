//! `KEY=VALUE` files: `.s2i/environment`, `.warpdrive/environment` and
//! `.warp/environment`. One pair per line; blank lines and `#` comments are
//! skipped, an optional `export ` prefix is allowed, and a value wrapped in one
//! pair of matching quotes (`'…'` or `"…"`) is unquoted. Nothing is expanded:
//! the file is data, never run as shell.
use crate::error::fail;
use anyhow::Result;
use std::path::Path;

/// Parse the text of an environment file; `origin` names it in errors.
pub fn parse(text: &str, origin: &Path) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map(str::trim).unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            return Err(bad_line(origin, index + 1, "has no `=`"));
        };
        let key = key.trim();
        if !is_name(key) {
            return Err(bad_line(
                origin,
                index + 1,
                &format!("has an invalid variable name {key:?}"),
            ));
        }
        pairs.push((key.to_string(), unquote(value.trim()).to_string()));
    }
    Ok(pairs)
}

/// Read and parse `path`; a missing file is an empty list.
pub fn read(path: &Path) -> Result<Vec<(String, String)>> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(fail(
            format!("could not read {}: {e}", path.display()),
            "make the file readable",
        )),
    }
}

/// A shell variable name: a letter or `_`, then letters, digits or `_`.
pub fn is_name(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if value.len() >= 2 && value.starts_with(quote) && value.ends_with(quote) {
            return &value[1..value.len() - 1];
        }
    }
    value
}

fn bad_line(origin: &Path, line: usize, what: &str) -> anyhow::Error {
    fail(
        format!("{}:{line}: the line {what}", origin.display()),
        "write one KEY=VALUE pair per line (quotes around VALUE are optional)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pairs_quotes_comments_and_export() {
        let text = "# a comment\n\nA=1\nexport B = two words\nC=\"quoted # not a comment\"\nD='single'\nE=\"unbalanced'\nF=\nG=a=b\n";
        let pairs = parse(text, Path::new("env")).unwrap();
        let expect = [
            ("A", "1"),
            ("B", "two words"),
            ("C", "quoted # not a comment"),
            ("D", "single"),
            ("E", "\"unbalanced'"),
            ("F", ""),
            ("G", "a=b"),
        ];
        let got: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn only_one_pair_of_quotes_is_removed() {
        let pairs = parse("A=\"'x'\"\n", Path::new("env")).unwrap();
        assert_eq!(pairs[0].1, "'x'");
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let err = parse("A=1\nnot a pair\n", Path::new(".s2i/environment")).unwrap_err();
        assert_eq!(err.to_string(), ".s2i/environment:2: the line has no `=`");
        let err = parse("1A=x\n", Path::new("e")).unwrap_err();
        assert!(err.to_string().contains("invalid variable name"));
    }
}
