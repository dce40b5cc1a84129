//! `ddbb txn`: etcdctl's transaction format, read from stdin or typed in the REPL.
//!
//! ```text
//! value("k") = "v1"          compares, one per line: TARGET("KEY") OP "OPERAND"
//! mod("k") > "3"
//!                            blank line
//! put k v2 --prev-kv         success requests: put, get, del with their usual flags
//! get k
//!                            blank line
//! get k                      failure requests
//!                            blank line (or end of input)
//! ```
//!
//! Compares follow etcdctl 3.4's `parseCompare`: the target (`value`/`val`, `version`/`ver`,
//! `create`/`c`, `mod`/`m`, `lease`) directly followed by a Go-quoted key in parentheses, an
//! operator (`=`, `!=`, `<`, `>`) and a Go-quoted operand (numbers are quoted too). Unlike
//! etcdctl 3.4 (which panics on it), `lease("k") = "ID"` works, with the ID in hex as
//! `put --lease` takes it. Request lines are split like REPL lines (shell-like quoting).

use std::io::BufRead;

use bytes::Bytes;
use clap::Parser;
use ddbb_libs::cmd::Txn;
use ddbb_libs::kv::{Compare, CompareResult, CompareTarget, TargetUnion};

use super::args::{parse_lease_id, TxnRequest, TxnRequestLine};
use super::exec::{del_request, get_request, put_request, Request};
use super::{usage_line, CliError};
use crate::output::unhex;
use crate::words;

/// The three sections, with etcdctl's interactive prompts.
pub const SECTIONS: [&str; 3] = [
    "compares:",
    "success requests (get, put, del):",
    "failure requests (get, put, del):",
];

/// A parsed transaction: compares and the requests of each branch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxnInput {
    /// Conditions.
    pub compares: Vec<Compare>,
    /// Requests run when every compare holds.
    pub success: Vec<Request>,
    /// Requests run otherwise.
    pub failure: Vec<Request>,
}

impl TxnInput {
    /// Parses the whole text: sections end at a blank line; the end of the text ends the
    /// remaining ones.
    pub fn parse(text: &str, hex: bool) -> Result<TxnInput, CliError> {
        let mut input = TxnInput::default();
        let mut section = 0;
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() {
                section += 1;
                if section == SECTIONS.len() {
                    break;
                }
                continue;
            }
            match section {
                0 => input.compares.push(parse_compare(line, hex)?),
                1 => input.success.push(parse_request(line, hex)?),
                _ => input.failure.push(parse_request(line, hex)?),
            }
        }
        Ok(input)
    }

    /// The `TXN` command and the requests of each branch (to read the replies with).
    pub fn into_txn(self) -> (Txn, Vec<Request>, Vec<Request>) {
        let commands = |rs: &[Request]| rs.iter().map(|r| r.command.clone()).collect();
        let txn = Txn {
            compare: self.compares,
            success: commands(&self.success),
            failure: commands(&self.failure),
            request: None,
        };
        (txn, self.success, self.failure)
    }
}

/// Reads the text of a transaction from `reader`, line by line, up to the blank line that
/// ends the failure section (or the end of input). With `prompt`, each section's title is
/// printed on stdout first (etcdctl's `txn -i`).
pub fn read_text(reader: &mut impl BufRead, prompt: bool) -> std::io::Result<String> {
    let mut text = String::new();
    for title in SECTIONS {
        if prompt {
            super::say(title);
        }
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(text); // end of input ends every remaining section
            }
            let blank = line.trim().is_empty();
            text.push_str(line.trim_end_matches(['\n', '\r']));
            text.push('\n');
            if blank {
                break;
            }
        }
    }
    Ok(text)
}

/// One compare line: `TARGET("KEY") OP "OPERAND"`.
pub fn parse_compare(line: &str, hex: bool) -> Result<Compare, CliError> {
    let malformed = |why: &str| CliError::Usage(format!("malformed comparison: {line} ({why})"));
    let (target, rest) = line
        .split_once('(')
        .ok_or_else(|| malformed("expected TARGET(\"KEY\") OP \"OPERAND\""))?;
    let (key, rest) = go_quoted(rest).map_err(|e| malformed(&e))?;
    let rest = rest
        .strip_prefix(')')
        .ok_or_else(|| malformed("expected ')' after the key"))?;
    let rest = rest.trim_start();
    let (op, rest) = rest.split_at(rest.find(char::is_whitespace).unwrap_or(rest.len()));
    let result = match op {
        "=" => CompareResult::Equal,
        "!=" => CompareResult::NotEqual,
        "<" => CompareResult::Less,
        ">" => CompareResult::Greater,
        _ => {
            return Err(malformed(&format!(
                "unknown operator '{op}'; use =, !=, < or >"
            )))
        }
    };
    let (operand, rest) = go_quoted(rest.trim_start()).map_err(|e| malformed(&e))?;
    if !rest.trim().is_empty() {
        return Err(malformed("unexpected text after the operand"));
    }
    let bytes = |b: Vec<u8>| -> Result<Bytes, CliError> {
        if hex {
            unhex(&b).map(Bytes::from).map_err(|e| malformed(&e))
        } else {
            Ok(Bytes::from(b))
        }
    };
    let text = String::from_utf8_lossy(&operand).into_owned();
    let number = || {
        text.parse::<i64>()
            .map_err(|_| CliError::Usage(format!("invalid txn compare request: {line}")))
    };
    let (target, operand) = match target {
        "ver" | "version" => (CompareTarget::Version, TargetUnion::Version(number()?)),
        "c" | "create" => (
            CompareTarget::Create,
            TargetUnion::CreateRevision(number()?),
        ),
        "m" | "mod" => (CompareTarget::Mod, TargetUnion::ModRevision(number()?)),
        "val" | "value" => (CompareTarget::Value, TargetUnion::Value(bytes(operand)?)),
        "lease" => {
            let id = parse_lease_id(&text).map_err(|e| malformed(&e))?;
            (CompareTarget::Lease, TargetUnion::Lease(id))
        }
        other => return Err(malformed(&format!("unknown target {other}"))),
    };
    Ok(Compare {
        result,
        target,
        key: bytes(key)?,
        range_end: Bytes::new(),
        target_union: Some(operand),
    })
}

/// One request line: `put ...`, `get ...` or `del ...`.
pub fn parse_request(line: &str, hex: bool) -> Result<Request, CliError> {
    let invalid = |why: String| CliError::Usage(format!("invalid txn request: {line} ({why})"));
    let words = words::split_os(line).map_err(invalid)?;
    let parsed = TxnRequestLine::try_parse_from(&words)
        .map_err(|e| invalid(usage_line(&e).replace(" (see --help)", "")))?;
    match parsed.request {
        TxnRequest::Put(p) => {
            if p.if_revision.is_some() {
                return Err(invalid(
                    "--if-revision is not allowed in a txn; use a compare".into(),
                ));
            }
            let value = p
                .value
                .as_deref()
                .ok_or_else(|| invalid("put needs a KEY and a VALUE".into()))?;
            let value = super::exec::arg_bytes(value, hex)?;
            put_request(&p, value, hex)
        }
        TxnRequest::Get(g) => get_request(&g, hex),
        TxnRequest::Del(d) => del_request(&d, hex),
    }
}

/// Reads a Go-quoted string (`"a\"b"` with Go's escapes, or `` `raw` ``) at the start of
/// `s`; returns its bytes and the rest of `s`.
fn go_quoted(s: &str) -> Result<(Vec<u8>, &str), String> {
    let mut chars = s.char_indices();
    match chars.next() {
        Some((_, '`')) => {
            let end = s[1..].find('`').ok_or("unclosed `")?;
            Ok((s.as_bytes()[1..1 + end].to_vec(), &s[end + 2..]))
        }
        Some((_, '"')) => {
            let mut out = Vec::new();
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => return Ok((out, &s[i + 1..])),
                    '\\' => {
                        let (_, e) = chars.next().ok_or("unclosed \"")?;
                        let mut take = |n: usize, radix: u32| -> Result<u32, String> {
                            let digits: String = (0..n)
                                .filter_map(|_| chars.next())
                                .map(|(_, c)| c)
                                .collect();
                            u32::from_str_radix(&digits, radix)
                                .ok()
                                .filter(|_| digits.len() == n)
                                .ok_or_else(|| format!("bad escape \\{e}{digits}"))
                        };
                        match e {
                            'a' => out.push(7),
                            'b' => out.push(8),
                            'f' => out.push(12),
                            'n' => out.push(b'\n'),
                            'r' => out.push(b'\r'),
                            't' => out.push(b'\t'),
                            'v' => out.push(11),
                            '\\' | '"' | '\'' => out.push(e as u8),
                            'x' => out.push(take(2, 16)? as u8),
                            '0'..='7' => {
                                let rest = take(2, 8)?;
                                let n = (e as u32 - '0' as u32) * 64 + rest;
                                out.push(u8::try_from(n).map_err(|_| "octal escape over 255")?);
                            }
                            'u' | 'U' => {
                                let n = take(if e == 'u' { 4 } else { 8 }, 16)?;
                                let c = char::from_u32(n).ok_or("bad unicode escape")?;
                                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                            }
                            other => return Err(format!("unknown escape \\{other}")),
                        }
                    }
                    c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
                }
            }
            Err("unclosed \"".into())
        }
        _ => Err("expected a quoted string".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::exec::Show;
    use ddbb_libs::Command;

    #[test]
    fn compares_follow_etcdctl() {
        let c = parse_compare(r#"value("k") = "v""#, false).unwrap();
        assert_eq!(c, Compare::value("k", CompareResult::Equal, "v"));
        let c = parse_compare(r#"mod("k") > "3""#, false).unwrap();
        assert_eq!(c, Compare::modified("k", CompareResult::Greater, 3));
        let c = parse_compare(r#"c("k") = "0""#, false).unwrap();
        assert_eq!(c.target_union, Some(TargetUnion::CreateRevision(0)));
        let c = parse_compare(r#"ver("k")  !=  "2"  "#, false).unwrap();
        assert_eq!(
            (c.target, c.result, c.target_union),
            (
                CompareTarget::Version,
                CompareResult::NotEqual,
                Some(TargetUnion::Version(2))
            )
        );
        let c = parse_compare(r#"lease("k") = "ff""#, false).unwrap();
        assert_eq!(c.target_union, Some(TargetUnion::Lease(255)));
        let c = parse_compare(r#"val(`a"b`) < "x\ty\x41""#, false).unwrap();
        assert_eq!(c.key, "a\"b");
        assert_eq!(c.target_union, Some(TargetUnion::Value("x\tyA".into())));
        let c = parse_compare(r#"value("6b") = "00ff""#, true).unwrap();
        assert_eq!(
            c.target_union,
            Some(TargetUnion::Value(Bytes::from_static(b"\x00\xff")))
        );
        for bad in [
            r#"value("k")="v""#,
            r#"value("k") == "v""#,
            r#"value(k) = "v""#,
            r#"mod("k") > "x""#,
            r#"size("k") = "1""#,
            r#"value("k") = "v" extra"#,
            r#"value "k" = "v""#,
            r#"value("k = "v""#,
        ] {
            assert!(parse_compare(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn requests_take_the_commands_flags() {
        let r = parse_request("put k 'a b' --prev-kv", false).unwrap();
        assert_eq!(r.show, Show::Put);
        match r.command {
            Command::Put(p) => assert_eq!((&p.value[..], p.prev_kv), (&b"a b"[..], true)),
            other => panic!("{other:?}"),
        }
        let r = parse_request("get a --prefix --keys-only --rev 4", false).unwrap();
        match r.command {
            Command::Range(g) => assert_eq!((g.revision, g.range.end), (4, Some("b".into()))),
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(parse_request("del k --prev-kv", false).unwrap().command, Command::Del(d) if d.prev_kv)
        );
        for bad in [
            "put k",
            "cas k a b",
            "get",
            "put k v --if-revision 3",
            "get k --bogus",
        ] {
            assert!(parse_request(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn sections_end_at_blank_lines_or_the_end() {
        let text =
            "value(\"k\") = \"v\"\nmod(\"k\") > \"1\"\n\nput k v2\nget k\n\ndel k\n\nignored\n";
        let t = TxnInput::parse(text, false).unwrap();
        assert_eq!(
            (t.compares.len(), t.success.len(), t.failure.len()),
            (2, 2, 1)
        );
        let t = TxnInput::parse("\nput k v\n", false).unwrap();
        assert_eq!(
            (t.compares.len(), t.success.len(), t.failure.len()),
            (0, 1, 0)
        );
        assert!(TxnInput::parse("bogus\n", false).is_err());

        let mut input = &b"a(\"k\") = \"v\"\n\nput k v\n  \nget k\n\nafter\n"[..];
        let text = read_text(&mut input, false).unwrap();
        assert_eq!(text, "a(\"k\") = \"v\"\n\nput k v\n  \nget k\n\n");
        assert_eq!(input, b"after\n");
    }
}
