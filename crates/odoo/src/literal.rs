//! `ast.literal_eval` for the subset of Python that manifests are written in.

use crate::pylex::{tokenize, LexError, Tok, Token};

/// A Python literal value, as `ast.literal_eval` would return it.
#[derive(Debug, Clone, PartialEq)]
pub enum PyValue {
    /// `None`
    None,
    /// `True` / `False`
    Bool(bool),
    /// An integer (Python's are unbounded; manifests never need more).
    Int(i128),
    /// A float.
    Float(f64),
    /// A text string (`'...'`, `u'...'`, `r'...'`, triple-quoted, concatenated).
    Str(String),
    /// A bytes string (`b'...'`).
    Bytes(Vec<u8>),
    /// `[...]`
    List(Vec<PyValue>),
    /// `(...)`
    Tuple(Vec<PyValue>),
    /// `{a, b}` or `set()`
    Set(Vec<PyValue>),
    /// `{k: v}`, keys in source order (later duplicates win on lookup).
    Dict(Vec<(PyValue, PyValue)>),
}

impl PyValue {
    /// The value under a string key of a dict (the last one, as in Python).
    pub fn get(&self, key: &str) -> Option<&PyValue> {
        match self {
            PyValue::Dict(items) => items
                .iter()
                .rev()
                .find(|(k, _)| matches!(k, PyValue::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Python truthiness.
    pub fn truthy(&self) -> bool {
        match self {
            PyValue::None => false,
            PyValue::Bool(b) => *b,
            PyValue::Int(i) => *i != 0,
            PyValue::Float(f) => *f != 0.0,
            PyValue::Str(s) => !s.is_empty(),
            PyValue::Bytes(b) => !b.is_empty(),
            PyValue::List(v) | PyValue::Tuple(v) | PyValue::Set(v) => !v.is_empty(),
            PyValue::Dict(v) => !v.is_empty(),
        }
    }

    /// The items of a list, tuple or set.
    pub fn items(&self) -> Option<&[PyValue]> {
        match self {
            PyValue::List(v) | PyValue::Tuple(v) | PyValue::Set(v) => Some(v),
            _ => None,
        }
    }
}

/// Why a literal could not be read, with the 1-based line.
#[derive(Debug, Clone, PartialEq)]
pub struct LiteralError {
    /// 1-based line of the offending token.
    pub line: usize,
    /// What was wrong.
    pub message: String,
}

impl From<LexError> for LiteralError {
    fn from(e: LexError) -> Self {
        LiteralError {
            line: e.line,
            message: e.message,
        }
    }
}

/// Reads one Python literal expression like `ast.literal_eval`, never executing anything.
pub fn literal_eval(src: &str) -> Result<PyValue, LiteralError> {
    let toks = tokenize(src)?;
    let mut p = Parser {
        toks: &toks,
        pos: 0,
    };
    p.skip_newlines();
    let value = p.expr()?;
    p.skip_newlines();
    match &p.cur().tok {
        Tok::Eof => Ok(value),
        _ => Err(p.error("unexpected content after the literal")),
    }
}

struct Parser<'a> {
    toks: &'a [Token],
    pos: usize,
}

type PResult = Result<PyValue, LiteralError>;

impl Parser<'_> {
    fn cur(&self) -> &Token {
        // tokenize always ends with Eof, so the last token is a safe fallback.
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }

    fn bump(&mut self) {
        self.pos += 1;
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(self.cur().tok, Tok::Op(o) if o == op)
    }

    fn expect_op(&mut self, op: &str) -> Result<(), LiteralError> {
        if self.is_op(op) {
            self.bump();
            Ok(())
        } else {
            Err(self.error(&format!("expected '{op}'")))
        }
    }

    fn error(&self, what: &str) -> LiteralError {
        let found = match &self.cur().tok {
            Tok::Name(n) => format!("name '{n}'"),
            Tok::Number(n) => format!("number {n}"),
            Tok::Str { .. } => "a string".into(),
            Tok::Op(o) => format!("'{o}'"),
            Tok::Newline => "end of line".into(),
            Tok::Eof => "end of file".into(),
        };
        LiteralError {
            line: self.cur().line,
            message: format!("{what}, found {found}"),
        }
    }

    fn skip_newlines(&mut self) {
        while matches!(self.cur().tok, Tok::Newline) {
            self.bump();
        }
    }

    fn expr(&mut self) -> PResult {
        if self.is_op("-") || self.is_op("+") {
            let neg = self.is_op("-");
            self.bump();
            return match self.expr()? {
                PyValue::Int(i) => Ok(PyValue::Int(if neg { -i } else { i })),
                PyValue::Float(f) => Ok(PyValue::Float(if neg { -f } else { f })),
                _ => Err(self.error("unary sign on a value that is not a number")),
            };
        }
        let tok = self.cur().tok.clone();
        match tok {
            Tok::Str { .. } => self.strings(),
            Tok::Number(text) => {
                let v = parse_number(&text)
                    .ok_or_else(|| self.error(&format!("invalid number literal {text}")))?;
                self.bump();
                Ok(v)
            }
            Tok::Name(name) => self.name(&name),
            Tok::Op("(") => self.paren(),
            Tok::Op("[") => {
                self.bump();
                Ok(PyValue::List(self.seq("]")?))
            }
            Tok::Op("{") => self.brace(),
            _ => Err(self.error("expected a literal")),
        }
    }

    fn name(&mut self, name: &str) -> PResult {
        self.bump();
        match name {
            "True" => Ok(PyValue::Bool(true)),
            "False" => Ok(PyValue::Bool(false)),
            "None" => Ok(PyValue::None),
            "set" if self.is_op("(") => {
                self.bump();
                self.expect_op(")")?;
                Ok(PyValue::Set(Vec::new()))
            }
            _ => {
                self.pos -= 1;
                Err(self.error("not a literal (names and calls are not allowed)"))
            }
        }
    }

    /// Adjacent string tokens are one string (implicit concatenation).
    fn strings(&mut self) -> PResult {
        let line = self.cur().line;
        let mut text = String::new();
        let mut bytes: Option<Vec<u8>> = None;
        let mut count = 0;
        while let Tok::Str { prefix, body } = &self.cur().tok {
            let p = prefix.to_ascii_lowercase();
            if p.contains('f') {
                return Err(self.error("f-strings are not literals"));
            }
            let raw = p.contains('r');
            let decoded = decode_escapes(body, raw, p.contains('b'));
            let is_bytes = p.contains('b');
            if count > 0 && is_bytes != bytes.is_some() {
                return Err(LiteralError {
                    line,
                    message: "cannot mix bytes and str literals".into(),
                });
            }
            if is_bytes {
                let b = bytes.get_or_insert_with(Vec::new);
                b.extend(decoded.chars().map(|c| c as u32 as u8));
            } else {
                text.push_str(&decoded);
            }
            count += 1;
            self.bump();
        }
        Ok(match bytes {
            Some(b) => PyValue::Bytes(b),
            None => PyValue::Str(text),
        })
    }

    fn paren(&mut self) -> PResult {
        self.bump();
        if self.is_op(")") {
            self.bump();
            return Ok(PyValue::Tuple(Vec::new()));
        }
        let first = self.expr()?;
        if self.is_op(")") {
            self.bump();
            return Ok(first);
        }
        self.expect_op(",")?;
        let mut items = vec![first];
        items.extend(self.seq(")")?);
        Ok(PyValue::Tuple(items))
    }

    /// Comma-separated values up to `close`, trailing comma allowed.
    fn seq(&mut self, close: &str) -> Result<Vec<PyValue>, LiteralError> {
        let mut items = Vec::new();
        while !self.is_op(close) {
            items.push(self.expr()?);
            if !self.is_op(close) {
                self.expect_op(",")?;
            }
        }
        self.bump();
        Ok(items)
    }

    fn brace(&mut self) -> PResult {
        self.bump();
        if self.is_op("}") {
            self.bump();
            return Ok(PyValue::Dict(Vec::new()));
        }
        let first = self.expr()?;
        if !self.is_op(":") {
            let mut items = vec![first];
            if !self.is_op("}") {
                self.expect_op(",")?;
                items.extend(self.seq("}")?);
            } else {
                self.bump();
            }
            return Ok(PyValue::Set(items));
        }
        let mut pairs = Vec::new();
        let mut key = first;
        loop {
            self.expect_op(":")?;
            let value = self.expr()?;
            pairs.push((key, value));
            if self.is_op("}") {
                break;
            }
            self.expect_op(",")?;
            if self.is_op("}") {
                break;
            }
            key = self.expr()?;
        }
        self.bump();
        Ok(PyValue::Dict(pairs))
    }
}

fn parse_number(text: &str) -> Option<PyValue> {
    let t = text.replace('_', "");
    let lower = t.to_ascii_lowercase();
    let radix = |prefix: &str, r: u32| {
        lower
            .strip_prefix(prefix)
            .and_then(|d| i128::from_str_radix(d, r).ok())
    };
    if let Some(i) = radix("0x", 16)
        .or_else(|| radix("0o", 8))
        .or_else(|| radix("0b", 2))
    {
        return Some(PyValue::Int(i));
    }
    if lower.chars().all(|c| c.is_ascii_digit()) {
        // Python 3 rejects leading zeros like `07`, except for zero itself.
        if lower.len() > 1 && lower.starts_with('0') && lower.chars().any(|c| c != '0') {
            return None;
        }
        return lower.parse().ok().map(PyValue::Int);
    }
    if lower.ends_with('j') {
        return None;
    }
    lower.parse::<f64>().ok().map(PyValue::Float)
}

/// Decodes Python escapes. `bytes` disables `\u`, `\U` and `\N`.
fn decode_escapes(body: &str, raw: bool, bytes: bool) -> String {
    if raw {
        return body.to_string();
    }
    let chars: Vec<char> = body.chars().collect();
    let mut out = String::with_capacity(body.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' || i + 1 >= chars.len() {
            out.push(c);
            i += 1;
            continue;
        }
        let e = chars[i + 1];
        i += 2;
        match e {
            '\n' => {}
            '\r' => {
                if chars.get(i) == Some(&'\n') {
                    i += 1;
                }
            }
            '\\' => out.push('\\'),
            '\'' => out.push('\''),
            '"' => out.push('"'),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\x0b'),
            '0'..='7' => {
                let mut n = e.to_digit(8).unwrap_or(0);
                let mut k = 0;
                while k < 2 && chars.get(i).is_some_and(|d| d.is_digit(8)) {
                    n = n * 8 + chars[i].to_digit(8).unwrap_or(0);
                    i += 1;
                    k += 1;
                }
                out.push(char::from_u32(n).unwrap_or('\u{fffd}'));
            }
            'x' | 'u' | 'U' if e == 'x' || !bytes => {
                let len = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = chars.iter().skip(i).take(len).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) if hex.len() == len => {
                        out.push(ch);
                        i += len;
                    }
                    _ => {
                        out.push('\\');
                        out.push(e);
                    }
                }
            }
            other => {
                // Unknown escapes keep their backslash, as in Python.
                out.push('\\');
                out.push(other);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use PyValue::*;

    fn s(v: &str) -> PyValue {
        Str(v.into())
    }

    #[test]
    fn reads_a_typical_manifest() {
        let src = r#"# -*- coding: utf-8 -*-
# Part of Odoo.
{
    'name': 'Sales',
    'version': '1.2',  # bumped
    'summary': 'From quotations '
               "to invoices",
    'depends': ['sale', 'account',],
    'data': (
        'views/a.xml',
    ),
    'installable': True,
    'auto_install': False,
    'assets': {'web.assets_backend': [('include', 'x'), 'y/**/*']},
    'sequence': -5,
    'price': 1.5e2,
    'author': None,
}
"#;
        let v = literal_eval(src).unwrap();
        assert_eq!(v.get("name"), Some(&s("Sales")));
        assert_eq!(v.get("summary"), Some(&s("From quotations to invoices")));
        assert_eq!(v.get("depends"), Some(&List(vec![s("sale"), s("account")])));
        assert_eq!(v.get("data"), Some(&Tuple(vec![s("views/a.xml")])));
        assert_eq!(v.get("sequence"), Some(&Int(-5)));
        assert_eq!(v.get("price"), Some(&Float(150.0)));
        assert_eq!(v.get("author"), Some(&None));
        let assets = v.get("assets").unwrap().get("web.assets_backend").unwrap();
        assert_eq!(
            assets.items().unwrap()[0],
            Tuple(vec![s("include"), s("x")])
        );
    }

    #[test]
    fn string_prefixes_and_escapes() {
        assert_eq!(literal_eval(r"r'a\nb'").unwrap(), s(r"a\nb"));
        assert_eq!(
            literal_eval(r"u'caf\xe9 \u00e9 \N'").unwrap(),
            s("café é \\N")
        );
        assert_eq!(
            literal_eval(r"'tab\there\101'").unwrap(),
            s("tab\there\x41")
        );
        assert_eq!(
            literal_eval(r"b'\x41\u0041'").unwrap(),
            Bytes(b"A\\u0041".to_vec())
        );
        assert_eq!(literal_eval("'''multi\nline'''").unwrap(), s("multi\nline"));
        assert_eq!(literal_eval("\"\"\"a \\\nb\"\"\"").unwrap(), s("a b"));
        assert_eq!(literal_eval(r"R'\d+' 'x'").unwrap(), s(r"\d+x"));
        assert_eq!(literal_eval(r"'it\'s'").unwrap(), s("it's"));
    }

    #[test]
    fn sets_tuples_and_nesting() {
        assert_eq!(literal_eval("{1, 2,}").unwrap(), Set(vec![Int(1), Int(2)]));
        assert_eq!(literal_eval("set()").unwrap(), Set(vec![]));
        assert_eq!(literal_eval("()").unwrap(), Tuple(vec![]));
        assert_eq!(literal_eval("(1,)").unwrap(), Tuple(vec![Int(1)]));
        assert_eq!(literal_eval("(((1)))").unwrap(), Int(1));
        assert_eq!(
            literal_eval("{'a': {'b': [None]}}")
                .unwrap()
                .get("a")
                .unwrap()
                .get("b"),
            Some(&List(vec![None]))
        );
        assert_eq!(literal_eval("0x1F").unwrap(), Int(31));
        assert_eq!(literal_eval("1_000").unwrap(), Int(1000));
        assert_eq!(literal_eval("-(-2.5)").unwrap(), Float(2.5));
    }

    #[test]
    fn errors_name_the_line() {
        let err = literal_eval("{\n 'a': 1,\n 'b': foo,\n}").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.message.contains("foo"), "{}", err.message);
        assert_eq!(literal_eval("{'a': 1} x").unwrap_err().line, 1);
        assert!(literal_eval("{'a': 1").is_err());
        assert!(literal_eval("f'x'").is_err());
        assert!(literal_eval("-'x'").is_err());
        assert!(literal_eval("b'a' 'b'").is_err());
        assert!(literal_eval("__import__('os')").is_err());
        assert!(literal_eval("").is_err());
    }

    #[test]
    fn duplicate_keys_last_wins() {
        let v = literal_eval("{'version': '1.0', 'version': '2.0'}").unwrap();
        assert_eq!(v.get("version"), Some(&s("2.0")));
    }
}
