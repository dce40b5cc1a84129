//! A small EDN reader and the value tree it produces.
//!
//! Covers what Jepsen histories use: maps, vectors, lists, sets, keywords, symbols, integers
//! (`i64`, an `N` suffix is accepted), floats, strings, characters, `nil`, booleans, comments,
//! `#_` discards and tagged literals (`#tag value`, the tag is kept but not interpreted).
//! Not supported: ratios, big numbers beyond `i64`, namespaced maps (`#:ns{}`).
//!
//! Every failure is an [`Error::Syntax`] with the line and column of the offending character;
//! no input makes the reader panic (nesting is capped at [`MAX_DEPTH`] so that hostile input
//! cannot overflow the stack).

use crate::error::Error;

/// Deepest nesting of collections accepted, so that recursion stays far from the stack limit.
pub const MAX_DEPTH: usize = 128;

/// One EDN value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `nil`.
    Nil,
    /// `true` or `false`.
    Bool(bool),
    /// An integer that fits in `i64`.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string, with escapes resolved.
    Str(String),
    /// A character literal such as `\a` or `\newline`.
    Char(char),
    /// A keyword, stored without its leading `:` (`:invoke` is `Keyword("invoke")`).
    Keyword(String),
    /// A symbol other than `nil`, `true` and `false`.
    Symbol(String),
    /// `[...]`.
    Vector(Vec<Value>),
    /// `(...)`.
    List(Vec<Value>),
    /// `#{...}`, in source order (duplicates are not rejected).
    Set(Vec<Value>),
    /// `{...}`, as key/value pairs in source order.
    Map(Vec<(Value, Value)>),
    /// `#tag value`.
    Tagged(String, Box<Value>),
}

impl Value {
    /// Looks up a keyword key (given without its `:`) in a map; `None` for other values.
    pub fn get_keyword(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Map(pairs) => pairs.iter().find_map(|(k, v)| match k {
                Value::Keyword(k) if k == name => Some(v),
                _ => None,
            }),
            _ => None,
        }
    }

    /// The elements of a vector or list.
    pub fn as_seq(&self) -> Option<&[Value]> {
        match self {
            Value::Vector(items) | Value::List(items) => Some(items),
            _ => None,
        }
    }
}

impl std::fmt::Display for Value {
    /// The value in EDN syntax (strings escaped, maps and sets in source order).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn seq(
            f: &mut std::fmt::Formatter<'_>,
            open: &str,
            items: &[Value],
            close: &str,
        ) -> std::fmt::Result {
            f.write_str(open)?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{item}")?;
            }
            f.write_str(close)
        }
        match self {
            Value::Nil => f.write_str("nil"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(n) => write!(f, "{n}"),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Char(c) => write!(f, "\\{c}"),
            Value::Keyword(k) => write!(f, ":{k}"),
            Value::Symbol(s) => f.write_str(s),
            Value::Vector(items) => seq(f, "[", items, "]"),
            Value::List(items) => seq(f, "(", items, ")"),
            Value::Set(items) => seq(f, "#{", items, "}"),
            Value::Map(pairs) => {
                f.write_str("{")?;
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} {v}")?;
                }
                f.write_str("}")
            }
            Value::Tagged(tag, v) => write!(f, "#{tag} {v}"),
        }
    }
}

/// A line/column position in the source text, both 1-based; columns count characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Line number, starting at 1.
    pub line: usize,
    /// Column number in characters, starting at 1.
    pub column: usize,
}

/// Parses every top-level form of `text`, each with the position where it starts.
///
/// # Errors
/// [`Error::Syntax`] at the first malformed form.
pub fn parse_all(text: &str) -> Result<Vec<(Position, Value)>, Error> {
    let mut reader = Reader::new(text);
    let mut forms = Vec::new();
    while let Some(form) = reader.next_form()? {
        forms.push(form);
    }
    Ok(forms)
}

/// Parses exactly one form; trailing content other than whitespace and comments is an error.
///
/// # Errors
/// [`Error::Syntax`] if the text is malformed, empty, or holds more than one form.
pub fn parse_one(text: &str) -> Result<Value, Error> {
    let mut reader = Reader::new(text);
    let (_, value) = match reader.next_form()? {
        Some(form) => form,
        None => return Err(reader.error("expected a value, found end of input")),
    };
    reader.skip_blank()?;
    if reader.peek().is_some() {
        return Err(reader.error("unexpected content after the value"));
    }
    Ok(value)
}

/// A cursor over EDN text that yields one form at a time.
pub struct Reader<'a> {
    text: &'a str,
    /// Byte offset of the next unread character.
    offset: usize,
    line: usize,
    column: usize,
}

impl<'a> Reader<'a> {
    /// A reader positioned at the start of `text`.
    pub fn new(text: &'a str) -> Self {
        Reader {
            text,
            offset: 0,
            line: 1,
            column: 1,
        }
    }

    /// The position of the next unread character.
    pub fn position(&self) -> Position {
        Position {
            line: self.line,
            column: self.column,
        }
    }

    /// Reads the next top-level form, or `None` at the end of the input.
    ///
    /// # Errors
    /// [`Error::Syntax`] if the form is malformed.
    pub fn next_form(&mut self) -> Result<Option<(Position, Value)>, Error> {
        self.skip_blank()?;
        if self.peek().is_none() {
            return Ok(None);
        }
        let start = self.position();
        let value = self.read_value(0)?;
        Ok(Some((start, value)))
    }

    /// Skips whitespace (commas included), `;` comments and `#_` discarded forms.
    ///
    /// # Errors
    /// [`Error::Syntax`] if a discarded form is itself malformed.
    pub fn skip_blank(&mut self) -> Result<(), Error> {
        self.skip_blank_at(0)
    }

    /// Consumes `expected` if it is the next character.
    pub fn eat(&mut self, expected: char) -> bool {
        if self.peek() == Some(expected) {
            self.bump();
            true
        } else {
            false
        }
    }

    /// The next unread character, if any.
    pub fn peek(&self) -> Option<char> {
        self.text[self.offset..].chars().next()
    }

    /// An [`Error::Syntax`] at the current position.
    pub fn error(&self, message: impl Into<String>) -> Error {
        self.error_at(self.position(), message)
    }

    fn error_at(&self, at: Position, message: impl Into<String>) -> Error {
        Error::Syntax {
            line: at.line,
            column: at.column,
            message: message.into(),
        }
    }

    fn peek_second(&self) -> Option<char> {
        let mut chars = self.text[self.offset..].chars();
        chars.next();
        chars.next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.offset += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn skip_blank_at(&mut self, depth: usize) -> Result<(), Error> {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() || c == ',' => {
                    self.bump();
                }
                Some(';') => {
                    while let Some(c) = self.bump() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                Some('#') if self.peek_second() == Some('_') => {
                    self.bump();
                    self.bump();
                    self.skip_blank_at(depth)?;
                    if self.peek().is_none() {
                        return Err(self.error("#_ must be followed by a value"));
                    }
                    self.read_value(depth)?;
                }
                _ => return Ok(()),
            }
        }
    }

    fn read_value(&mut self, depth: usize) -> Result<Value, Error> {
        if depth > MAX_DEPTH {
            return Err(self.error(format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        let start = self.position();
        let Some(c) = self.peek() else {
            return Err(self.error("unexpected end of input"));
        };
        match c {
            '[' => {
                self.bump();
                Ok(Value::Vector(self.read_items(']', depth, start)?))
            }
            '(' => {
                self.bump();
                Ok(Value::List(self.read_items(')', depth, start)?))
            }
            '{' => {
                self.bump();
                self.read_map(depth, start)
            }
            ']' | ')' | '}' => Err(self.error(format!("unmatched '{c}'"))),
            '"' => self.read_string(),
            ':' => self.read_keyword(),
            '\\' => self.read_char(),
            '#' => self.read_dispatch(depth, start),
            c if c.is_ascii_digit() => self.read_number(),
            '+' | '-' if self.peek_second().is_some_and(|d| d.is_ascii_digit()) => {
                self.read_number()
            }
            c if is_symbol_start(c) => self.read_symbol(),
            other => Err(self.error(format!("unexpected character '{other}'"))),
        }
    }

    fn read_items(
        &mut self,
        close: char,
        depth: usize,
        start: Position,
    ) -> Result<Vec<Value>, Error> {
        let mut items = Vec::new();
        loop {
            self.skip_blank_at(depth + 1)?;
            match self.peek() {
                None => {
                    return Err(self.error_at(
                        start,
                        format!("unclosed collection: missing '{close}' before end of input"),
                    ))
                }
                Some(c) if c == close => {
                    self.bump();
                    return Ok(items);
                }
                Some(_) => items.push(self.read_value(depth + 1)?),
            }
        }
    }

    fn read_map(&mut self, depth: usize, start: Position) -> Result<Value, Error> {
        let items = self.read_items('}', depth, start)?;
        if items.len() % 2 != 0 {
            return Err(self.error_at(start, "map literal must hold an even number of forms"));
        }
        let mut pairs = Vec::with_capacity(items.len() / 2);
        let mut items = items.into_iter();
        while let (Some(k), Some(v)) = (items.next(), items.next()) {
            pairs.push((k, v));
        }
        Ok(Value::Map(pairs))
    }

    fn read_dispatch(&mut self, depth: usize, start: Position) -> Result<Value, Error> {
        self.bump(); // '#'
        match self.peek() {
            Some('{') => {
                self.bump();
                Ok(Value::Set(self.read_items('}', depth, start)?))
            }
            Some(c) if c.is_alphabetic() => {
                let tag = self.take_token();
                self.skip_blank_at(depth + 1)?;
                if self.peek().is_none() {
                    return Err(self.error(format!("tag #{tag} must be followed by a value")));
                }
                let value = self.read_value(depth + 1)?;
                Ok(Value::Tagged(tag, Box::new(value)))
            }
            Some(c) => Err(self.error(format!("unsupported dispatch '#{c}'"))),
            None => Err(self.error("unexpected end of input after '#'")),
        }
    }

    fn read_string(&mut self) -> Result<Value, Error> {
        let start = self.position();
        self.bump(); // opening quote
        let mut out = String::new();
        loop {
            let Some(c) = self.bump() else {
                return Err(self.error_at(start, "unterminated string"));
            };
            match c {
                '"' => return Ok(Value::Str(out)),
                '\\' => {
                    let escape_at = self.position();
                    let Some(e) = self.bump() else {
                        return Err(self.error_at(start, "unterminated string"));
                    };
                    out.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        'b' => '\u{8}',
                        'f' => '\u{c}',
                        '"' => '"',
                        '\\' => '\\',
                        'u' => self.read_unicode_escape(escape_at)?,
                        other => {
                            return Err(
                                self.error_at(escape_at, format!("unknown escape '\\{other}'"))
                            )
                        }
                    });
                }
                c => out.push(c),
            }
        }
    }

    fn read_unicode_escape(&mut self, at: Position) -> Result<char, Error> {
        let mut code = 0u32;
        for _ in 0..4 {
            let digit = self.bump().and_then(|d| d.to_digit(16));
            match digit {
                Some(d) => code = code * 16 + d,
                None => return Err(self.error_at(at, "\\u must be followed by 4 hex digits")),
            }
        }
        char::from_u32(code).ok_or_else(|| self.error_at(at, "\\u escape is not a character"))
    }

    fn read_char(&mut self) -> Result<Value, Error> {
        let start = self.position();
        self.bump(); // backslash
        let Some(first) = self.bump() else {
            return Err(self.error_at(start, "unexpected end of input after '\\'"));
        };
        // A named character (`\newline`) or `\uXXXX` is a run of token characters.
        let mut name = String::from(first);
        while let Some(c) = self.peek() {
            if c.is_alphanumeric() {
                name.push(c);
                self.bump();
            } else {
                break;
            }
        }
        let c = match name.as_str() {
            "newline" => '\n',
            "space" => ' ',
            "tab" => '\t',
            "return" => '\r',
            "backspace" => '\u{8}',
            "formfeed" => '\u{c}',
            s if s.chars().count() == 1 => first,
            s if s.len() == 5 && s.starts_with('u') => u32::from_str_radix(&s[1..], 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| self.error_at(start, format!("bad character literal \\{s}")))?,
            s => return Err(self.error_at(start, format!("unknown character literal \\{s}"))),
        };
        Ok(Value::Char(c))
    }

    fn read_keyword(&mut self) -> Result<Value, Error> {
        let start = self.position();
        self.bump(); // ':'
        let name = self.take_token();
        if name.is_empty() || name.starts_with(':') {
            return Err(self.error_at(start, "invalid keyword"));
        }
        Ok(Value::Keyword(name))
    }

    fn read_symbol(&mut self) -> Result<Value, Error> {
        Ok(match self.take_token().as_str() {
            "nil" => Value::Nil,
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            other => Value::Symbol(other.to_string()),
        })
    }

    fn read_number(&mut self) -> Result<Value, Error> {
        let start = self.position();
        let token = self.take_token();
        let bad = || self.error_at(start, format!("invalid number '{token}'"));
        let is_float = token.contains(['.', 'e', 'E']) || token.ends_with('M');
        if is_float {
            let digits = token.strip_suffix('M').unwrap_or(&token);
            return digits.parse::<f64>().map(Value::Float).map_err(|_| bad());
        }
        let digits = token.strip_suffix('N').unwrap_or(&token);
        let digits = digits.strip_prefix('+').unwrap_or(digits);
        // Reject things like "1-2" or "0x10" that `parse` would also reject, but say why.
        digits.parse::<i64>().map(Value::Int).map_err(|e| {
            use std::num::IntErrorKind::{NegOverflow, PosOverflow};
            match e.kind() {
                PosOverflow | NegOverflow => {
                    self.error_at(start, format!("integer '{token}' does not fit in 64 bits"))
                }
                _ => bad(),
            }
        })
    }

    /// Consumes a run of characters that may appear inside a symbol, keyword or number.
    fn take_token(&mut self) -> String {
        let mut token = String::new();
        while let Some(c) = self.peek() {
            if is_token_char(c) {
                token.push(c);
                self.bump();
            } else {
                break;
            }
        }
        token
    }
}

fn is_symbol_start(c: char) -> bool {
    c.is_alphabetic() || "*+!-_?$%&=<>/.".contains(c)
}

fn is_token_char(c: char) -> bool {
    c.is_alphanumeric() || "*+!-_?$%&=<>/.:#'".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(s: &str) -> Value {
        Value::Keyword(s.to_string())
    }

    #[test]
    fn parses_a_jepsen_event() {
        let v = parse_one(
            "{:type :invoke, :f :cas, :value [1 [2 3]], :process 3, :time 12, :index 17}",
        )
        .unwrap();
        assert_eq!(v.get_keyword("type"), Some(&kw("invoke")));
        assert_eq!(
            v.get_keyword("value"),
            Some(&Value::Vector(vec![
                Value::Int(1),
                Value::Vector(vec![Value::Int(2), Value::Int(3)])
            ]))
        );
        assert_eq!(v.get_keyword("index"), Some(&Value::Int(17)));
        assert_eq!(v.get_keyword("missing"), None);
    }

    #[test]
    fn parses_scalars() {
        assert_eq!(parse_one("nil").unwrap(), Value::Nil);
        assert_eq!(parse_one("true").unwrap(), Value::Bool(true));
        assert_eq!(parse_one("false").unwrap(), Value::Bool(false));
        assert_eq!(parse_one("-42").unwrap(), Value::Int(-42));
        assert_eq!(parse_one("+7").unwrap(), Value::Int(7));
        assert_eq!(parse_one("7N").unwrap(), Value::Int(7));
        assert_eq!(parse_one("1.5").unwrap(), Value::Float(1.5));
        assert_eq!(parse_one("-2e3").unwrap(), Value::Float(-2000.0));
        assert_eq!(
            parse_one("foo/bar").unwrap(),
            Value::Symbol("foo/bar".into())
        );
        assert_eq!(parse_one("-").unwrap(), Value::Symbol("-".into()));
        assert_eq!(parse_one(":a.b/c").unwrap(), kw("a.b/c"));
        assert_eq!(parse_one("\\a").unwrap(), Value::Char('a'));
        assert_eq!(parse_one("\\newline").unwrap(), Value::Char('\n'));
        assert_eq!(parse_one("\\u0041").unwrap(), Value::Char('A'));
        assert_eq!(
            parse_one(r#""a\"b\\c\n\u00e9""#).unwrap(),
            Value::Str("a\"b\\c\né".into())
        );
        assert_eq!(
            parse_one(&i64::MIN.to_string()).unwrap(),
            Value::Int(i64::MIN)
        );
    }

    #[test]
    fn parses_collections_comments_discards_and_tags() {
        let v =
            parse_one("; leading comment\n(1 #_ 2 #_[x y] 3 #{:a} #inst \"2020\") ; tail").unwrap();
        assert_eq!(
            v,
            Value::List(vec![
                Value::Int(1),
                Value::Int(3),
                Value::Set(vec![kw("a")]),
                Value::Tagged("inst".into(), Box::new(Value::Str("2020".into()))),
            ])
        );
        let m = parse_one("{}").unwrap();
        assert_eq!(m, Value::Map(vec![]));
    }

    #[test]
    fn values_display_as_edn() {
        let text = r#"{:a [1 -2.5 "x\"y" nil true \c], :b #{sym} :c (#tag 3)}"#;
        let v = parse_one(text).unwrap();
        assert_eq!(
            v.to_string(),
            r#"{:a [1 -2.5 "x\"y" nil true \c], :b #{sym}, :c (#tag 3)}"#
        );
        assert_eq!(parse_one(&v.to_string()).unwrap(), v);
    }

    #[test]
    fn parse_all_reports_form_positions() {
        let forms = parse_all("{:a 1}\n  {:b 2}\n\n").unwrap();
        assert_eq!(forms.len(), 2);
        assert_eq!(forms[0].0, Position { line: 1, column: 1 });
        assert_eq!(forms[1].0, Position { line: 2, column: 3 });
        assert!(parse_all("").unwrap().is_empty());
        assert!(parse_all(" ; only a comment").unwrap().is_empty());
    }

    fn syntax_error(text: &str) -> (usize, usize, String) {
        match parse_all(text) {
            Err(Error::Syntax {
                line,
                column,
                message,
            }) => (line, column, message),
            other => panic!("expected a syntax error for {text:?}, got {other:?}"),
        }
    }

    #[test]
    fn malformed_input_reports_line_and_column() {
        let (line, column, msg) = syntax_error("{:a 1}\n{:b [1 2}");
        assert_eq!((line, column), (2, 9), "{msg}");
        assert!(msg.contains("unmatched"), "{msg}");

        let (line, column, msg) = syntax_error("{:a 1}\n  {:b 2");
        assert_eq!((line, column), (2, 3));
        assert!(msg.contains("unclosed"), "{msg}");

        let (line, column, msg) = syntax_error("{:a}");
        assert_eq!((line, column), (1, 1));
        assert!(msg.contains("even"), "{msg}");

        let (line, _, msg) = syntax_error("\n\n\"abc");
        assert_eq!(line, 3);
        assert!(msg.contains("unterminated"), "{msg}");

        let (_, _, msg) = syntax_error("99999999999999999999");
        assert!(msg.contains("64 bits"), "{msg}");
        let (_, _, msg) = syntax_error("12abc");
        assert!(msg.contains("invalid number"), "{msg}");
        let (_, _, msg) = syntax_error(r#""\q""#);
        assert!(msg.contains("escape"), "{msg}");
        let (_, _, msg) = syntax_error(r#""\u12""#);
        assert!(msg.contains("hex"), "{msg}");
        let (_, _, msg) = syntax_error("#_");
        assert!(msg.contains("#_"), "{msg}");
        let (_, _, msg) = syntax_error("#:ns{:a 1}");
        assert!(msg.contains("dispatch"), "{msg}");
        let (_, _, msg) = syntax_error(":");
        assert!(msg.contains("keyword"), "{msg}");
        let (_, _, msg) = syntax_error("\\");
        assert!(msg.contains("end of input"), "{msg}");
        let (_, _, msg) = syntax_error("@x");
        assert!(msg.contains("unexpected character"), "{msg}");
    }

    #[test]
    fn parse_one_rejects_trailing_content_and_empty_input() {
        assert!(parse_one("1 2").is_err());
        assert!(parse_one("  ").is_err());
        assert!(parse_one("1 ; fine").is_ok());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = "[".repeat(100_000);
        let (_, _, msg) = syntax_error(&deep);
        assert!(msg.contains("nesting"), "{msg}");
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse_one(&ok).is_ok());
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic fuzz: every prefix of a tricky document, and byte soup.
        let doc = r#"{:type :ok, :f :read, :value ["k" nil], :s "x\"y", :c \a, #_ 1 :t #{1}}"#;
        for end in 0..=doc.len() {
            if doc.is_char_boundary(end) {
                let _ = parse_all(&doc[..end]);
            }
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let alphabet = b"{}[]()#_:;\\\"\n ,0123456789-+.eENMnilabcu";
        for _ in 0..2000 {
            let mut s = String::new();
            for _ in 0..24 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.push(alphabet[(x % alphabet.len() as u64) as usize] as char);
            }
            let _ = parse_all(&s);
        }
    }
}
