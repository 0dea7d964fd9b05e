//! A small Python tokenizer: enough of Python's lexical grammar to read
//! manifests (literals) and to find top-level `def` signatures in scripts,
//! without executing anything.

/// One token kind. Strings keep their raw body: decoding depends on the prefix.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Name(String),
    Number(String),
    Str {
        prefix: String,
        body: String,
    },
    Op(&'static str),
    /// End of a logical line (only emitted outside brackets).
    Newline,
    Eof,
}

/// A token with its position (1-based line, 0-based column).
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) line: usize,
    pub(crate) col: usize,
    /// Bracket nesting depth before this token.
    pub(crate) depth: usize,
}

/// A lexical error, with the line where it happened.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LexError {
    pub(crate) line: usize,
    pub(crate) message: String,
}

const OPS2: [&str; 8] = ["**", "->", "//", "==", "!=", "<=", ">=", ":="];
const OPS1: &str = "()[]{},:;.=+-*/%@<>&|^~!";

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    line_start: usize,
    depth: usize,
    out: Vec<Token>,
    _src: &'a str,
}

/// Splits Python source into tokens.
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, LexError> {
    let mut lx = Lexer {
        chars: src.chars().collect(),
        pos: 0,
        line: 1,
        line_start: 0,
        depth: 0,
        out: Vec::new(),
        _src: src,
    };
    lx.run()?;
    Ok(lx.out)
}

impl Lexer<'_> {
    fn peek(&self, off: usize) -> Option<char> {
        self.chars.get(self.pos + off).copied()
    }

    fn push(&mut self, tok: Tok, line: usize, start: usize) {
        let col = start.saturating_sub(self.line_start);
        let depth = self.depth;
        self.out.push(Token {
            tok,
            line,
            col,
            depth,
        });
    }

    fn newline(&mut self) {
        self.line += 1;
        self.line_start = self.pos;
    }

    fn run(&mut self) -> Result<(), LexError> {
        while let Some(c) = self.peek(0) {
            let start = self.pos;
            match c {
                ' ' | '\t' | '\x0c' => self.pos += 1,
                '#' => {
                    while self.peek(0).is_some_and(|c| c != '\n' && c != '\r') {
                        self.pos += 1;
                    }
                }
                '\\' if matches!(self.peek(1), Some('\n' | '\r')) => {
                    self.pos += 1;
                    self.eat_eol();
                }
                '\n' | '\r' => {
                    let at_line = self.line;
                    self.eat_eol();
                    let last_is_newline =
                        matches!(self.out.last().map(|t| &t.tok), None | Some(Tok::Newline));
                    if self.depth == 0 && !last_is_newline {
                        self.push(Tok::Newline, at_line, start);
                    }
                }
                _ if self.string_prefix_len().is_some() => self.string()?,
                _ if c.is_alphabetic() || c == '_' => self.name(),
                _ if c.is_ascii_digit()
                    || (c == '.' && self.peek(1).is_some_and(|d| d.is_ascii_digit())) =>
                {
                    self.number()
                }
                _ => self.op()?,
            }
        }
        let line = self.line;
        let pos = self.pos;
        if !matches!(self.out.last().map(|t| &t.tok), None | Some(Tok::Newline)) {
            self.push(Tok::Newline, line, pos);
        }
        self.push(Tok::Eof, line, pos);
        Ok(())
    }

    fn eat_eol(&mut self) {
        if self.peek(0) == Some('\r') {
            self.pos += 1;
        }
        if self.peek(0) == Some('\n') {
            self.pos += 1;
        }
        self.newline();
    }

    /// Length of a string prefix (`r`, `b`, `rb`, `f`, `u`...) followed by a quote.
    fn string_prefix_len(&self) -> Option<usize> {
        let mut n = 0;
        while n < 2 && self.peek(n).is_some_and(|c| "rRbBuUfF".contains(c)) {
            n += 1;
        }
        for len in (0..=n).rev() {
            if matches!(self.peek(len), Some('\'' | '"')) {
                return Some(len);
            }
        }
        None
    }

    fn string(&mut self) -> Result<(), LexError> {
        let start = self.pos;
        let line = self.line;
        let plen = self.string_prefix_len().unwrap_or(0);
        let prefix: String = self.chars[self.pos..self.pos + plen].iter().collect();
        self.pos += plen;
        let quote = self.peek(0).unwrap_or('"');
        let triple = self.peek(1) == Some(quote) && self.peek(2) == Some(quote);
        self.pos += if triple { 3 } else { 1 };
        let body_start = self.pos;
        loop {
            let Some(c) = self.peek(0) else {
                return Err(LexError {
                    line,
                    message: "unterminated string literal".into(),
                });
            };
            if c == '\\' {
                self.pos += 1;
                match self.peek(0) {
                    Some('\n' | '\r') => self.eat_eol(),
                    Some(_) => self.pos += 1,
                    None => {}
                }
                continue;
            }
            if c == '\n' || c == '\r' {
                if !triple {
                    return Err(LexError {
                        line,
                        message: "unterminated string literal".into(),
                    });
                }
                self.eat_eol();
                continue;
            }
            if c == quote
                && (!triple || (self.peek(1) == Some(quote) && self.peek(2) == Some(quote)))
            {
                let body: String = self.chars[body_start..self.pos].iter().collect();
                self.pos += if triple { 3 } else { 1 };
                self.push(Tok::Str { prefix, body }, line, start);
                return Ok(());
            }
            self.pos += 1;
        }
    }

    fn name(&mut self) {
        let start = self.pos;
        while self
            .peek(0)
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        let line = self.line;
        self.push(Tok::Name(text), line, start);
    }

    fn number(&mut self) {
        let start = self.pos;
        let hex = self.peek(0) == Some('0') && matches!(self.peek(1), Some('x' | 'X'));
        while let Some(c) = self.peek(0) {
            let prev = if self.pos > start {
                self.chars[self.pos - 1]
            } else {
                ' '
            };
            let exp_sign = (c == '+' || c == '-') && !hex && (prev == 'e' || prev == 'E');
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' || exp_sign {
                self.pos += 1;
            } else {
                break;
            }
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        let line = self.line;
        self.push(Tok::Number(text), line, start);
    }

    fn op(&mut self) -> Result<(), LexError> {
        let start = self.pos;
        let line = self.line;
        let two: String = [self.peek(0), self.peek(1)].iter().flatten().collect();
        if let Some(op) = OPS2.iter().find(|o| **o == two) {
            self.pos += 2;
            self.push(Tok::Op(op), line, start);
            return Ok(());
        }
        let c = self.peek(0).unwrap_or(' ');
        let Some(idx) = OPS1.find(c) else {
            return Err(LexError {
                line,
                message: format!("unexpected character {c:?}"),
            });
        };
        let op = &OPS1[idx..idx + c.len_utf8()];
        if matches!(c, ')' | ']' | '}') {
            self.depth = self.depth.saturating_sub(1);
        }
        self.pos += 1;
        self.push(Tok::Op(op), line, start);
        if matches!(c, '(' | '[' | '{') {
            self.depth += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Tok> {
        tokenize(src).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn strings_keep_prefix_and_raw_body() {
        let toks = kinds(r#"rb'a\'b' """x"y""""#);
        assert_eq!(
            toks[0],
            Tok::Str {
                prefix: "rb".into(),
                body: r"a\'b".into()
            }
        );
        assert_eq!(
            toks[1],
            Tok::Str {
                prefix: "".into(),
                body: "x\"y".into()
            }
        );
    }

    #[test]
    fn newlines_inside_brackets_are_not_logical_lines() {
        let toks = kinds("{\n'a': 1, # c\n}\n");
        assert!(!toks[..toks.len() - 2].contains(&Tok::Newline));
        assert_eq!(toks[toks.len() - 2], Tok::Newline);
    }

    #[test]
    fn lines_and_columns_are_tracked() {
        let toks = tokenize("x = 1\n  def f(a): pass").unwrap();
        let def = toks
            .iter()
            .find(|t| t.tok == Tok::Name("def".into()))
            .unwrap();
        assert_eq!((def.line, def.col), (2, 2));
    }

    #[test]
    fn unterminated_string_names_its_line() {
        let err = tokenize("{\n 'a': 'oops\n}").unwrap_err();
        assert_eq!(err.line, 2);
    }

    #[test]
    fn exponent_signs_stay_in_numbers() {
        assert_eq!(kinds("1e-5")[0], Tok::Number("1e-5".into()));
        assert_eq!(kinds("0x1f-2")[0], Tok::Number("0x1f".into()));
    }
}
