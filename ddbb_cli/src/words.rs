//! Splitting a REPL line into words, with shell-like quoting.
//!
//! - Words are separated by whitespace.
//! - `'single quotes'` keep everything literally.
//! - `"double quotes"` understand `\"`, `\\`, `\n`, `\r`, `\t`, `\0` and `\xHH` (any byte,
//!   as in redis-cli), so binary values can be typed; another `\c` stays as it is.
//! - Outside quotes a backslash makes the next character literal.
//! - `''` and `""` are empty words (`get "" --prefix` reads every key).

use std::ffi::OsString;

/// Splits `line` into words; words are bytes, so `\xff` is possible.
///
/// # Errors
/// A quote that is not closed, or a bad `\x` escape.
pub fn split(line: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut words = Vec::new();
    let mut word: Option<Vec<u8>> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(Vec::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => push_char(w, c),
                        None => return Err("unclosed single quote".into()),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(Vec::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some('n') => w.push(b'\n'),
                            Some('r') => w.push(b'\r'),
                            Some('t') => w.push(b'\t'),
                            Some('0') => w.push(0),
                            Some('x') => {
                                let hi = chars.next().and_then(|c| c.to_digit(16));
                                let lo = chars.next().and_then(|c| c.to_digit(16));
                                match (hi, lo) {
                                    (Some(hi), Some(lo)) => w.push((hi * 16 + lo) as u8),
                                    _ => return Err("\\x needs two hex digits".into()),
                                }
                            }
                            Some(c @ ('"' | '\\')) => push_char(w, c),
                            Some(c) => {
                                w.push(b'\\');
                                push_char(w, c);
                            }
                            None => return Err("unclosed double quote".into()),
                        },
                        Some(c) => push_char(w, c),
                        None => return Err("unclosed double quote".into()),
                    }
                }
            }
            '\\' => {
                let w = word.get_or_insert_with(Vec::new);
                if let Some(c) = chars.next() {
                    push_char(w, c);
                }
            }
            c => push_char(word.get_or_insert_with(Vec::new), c),
        }
    }
    words.extend(word);
    Ok(words)
}

/// Like [`split`], as `OsString`s for clap.
pub fn split_os(line: &str) -> Result<Vec<OsString>, String> {
    Ok(split(line)?.into_iter().map(os_string).collect())
}

/// Where the word that ends at `pos` starts (for completion): after the last whitespace
/// that is not inside quotes.
pub fn word_start(line: &str, pos: usize) -> usize {
    let mut start = 0;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line[..pos].char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match (quote, c) {
            (_, '\\') if quote != Some('\'') => escaped = true,
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => start = i + c.len_utf8(),
            _ => {}
        }
    }
    start
}

fn push_char(word: &mut Vec<u8>, c: char) {
    let mut buf = [0u8; 4];
    word.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

#[cfg(unix)]
fn os_string(bytes: Vec<u8>) -> OsString {
    std::os::unix::ffi::OsStringExt::from_vec(bytes)
}

#[cfg(not(unix))]
fn os_string(bytes: Vec<u8>) -> OsString {
    OsString::from(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        split(line)
            .unwrap()
            .into_iter()
            .map(|w| String::from_utf8_lossy(&w).into_owned())
            .collect()
    }

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(words("  put  k   v "), ["put", "k", "v"]);
        assert_eq!(words("put 'a b' \"c d\""), ["put", "a b", "c d"]);
        assert_eq!(words("get '' --prefix"), ["get", "", "--prefix"]);
        assert_eq!(words(r"put a\ b x"), ["put", "a b", "x"]);
        assert_eq!(words(r#"put k "say \"hi\"""#), ["put", "k", "say \"hi\""]);
        assert_eq!(words(r"put k 'it\s'"), ["put", "k", r"it\s"]);
        assert_eq!(words("put k'ey' v"), ["put", "key", "v"]);
        assert!(words("").is_empty());
    }

    #[test]
    fn double_quotes_take_byte_escapes() {
        assert_eq!(
            split(r#""\xff\x00\n\t\q""#).unwrap(),
            vec![b"\xff\x00\n\t\\q".to_vec()]
        );
        assert!(split(r#""\xg0""#).is_err());
    }

    #[test]
    fn unclosed_quotes_are_errors() {
        assert!(split("put 'k").is_err());
        assert!(split("put \"k").is_err());
    }

    #[test]
    fn word_starts() {
        assert_eq!(word_start("get k --pre", 11), 6);
        assert_eq!(word_start("sta", 3), 0);
        assert_eq!(word_start("put 'a b", 8), 4);
        assert_eq!(word_start("put a\\ b", 8), 4);
    }
}
