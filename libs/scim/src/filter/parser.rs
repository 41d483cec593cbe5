//! Tokens to a filter or a PATCH path: recursive descent, `not` over `and` over `or`.

use super::ast::{CompValue, CompareOp, Filter, PatchPath};
use super::lexer::{tokenize, Spanned, Token};
use crate::path::AttrPath;
use crate::ScimError;

/// Deeper nesting than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 50;

impl Filter {
    pub fn parse(text: &str) -> Result<Filter, ScimError> {
        let mut parser = Parser { tokens: tokenize(text)?, at: 0, depth: 0, len: text.len() };
        if parser.tokens.is_empty() {
            return Err(ScimError::invalid_filter("the filter is empty"));
        }
        let filter = parser.or(false)?;
        parser.end()?;
        Ok(filter)
    }
}

impl PatchPath {
    /// `attrPath` or `valuePath ["." subAttr]`.
    pub fn parse(text: &str) -> Result<PatchPath, ScimError> {
        let invalid = |e: ScimError| ScimError::invalid_path(format!("'{text}' is not a PATCH path: {}", e.detail));
        let mut parser = Parser { tokens: tokenize(text).map_err(invalid)?, at: 0, depth: 0, len: text.len() };
        let attr = parser.attr_path().map_err(invalid)?;
        let (filter, sub_attr) = if parser.eat(&Token::LBracket) {
            if attr.sub_attr.is_some() {
                return Err(invalid(ScimError::invalid_filter("a value filter follows an attribute, not a sub-attribute")));
            }
            let filter = parser.or(true).map_err(invalid)?;
            parser.expect(&Token::RBracket).map_err(invalid)?;
            let sub = if parser.eat(&Token::Dot) { Some(parser.sub_attr_name().map_err(invalid)?) } else { None };
            (Some(filter), sub)
        } else {
            (None, None)
        };
        parser.end().map_err(invalid)?;
        Ok(PatchPath { attr, filter, sub_attr })
    }
}

struct Parser {
    tokens: Vec<Spanned>,
    at: usize,
    depth: usize,
    len: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(t, _)| t)
    }

    fn offset(&self) -> usize {
        self.tokens.get(self.at).map_or(self.len, |(_, o)| *o)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).map(|(t, _)| t.clone());
        self.at += 1;
        token
    }

    fn eat(&mut self, token: &Token) -> bool {
        if self.peek() == Some(token) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        match self.peek() {
            Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword) => {
                self.at += 1;
                true
            }
            _ => false,
        }
    }

    fn expect(&mut self, token: &Token) -> Result<(), ScimError> {
        let at = self.offset();
        if self.eat(token) {
            Ok(())
        } else {
            Err(ScimError::invalid_filter(format!("expected {} at {at}", describe(token))))
        }
    }

    fn end(&self) -> Result<(), ScimError> {
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(ScimError::invalid_filter(format!("unexpected {} at {}", describe(t), self.offset()))),
        }
    }

    fn nest<T>(&mut self, inner: impl FnOnce(&mut Self) -> Result<T, ScimError>) -> Result<T, ScimError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ScimError::invalid_filter(format!("the filter nests deeper than {MAX_DEPTH} levels")));
        }
        let result = inner(self);
        self.depth -= 1;
        result
    }

    /// `in_value`: inside `[…]`, where paths are sub-attributes and value paths cannot nest.
    fn or(&mut self, in_value: bool) -> Result<Filter, ScimError> {
        let mut left = self.and(in_value)?;
        while self.eat_keyword("or") {
            let right = self.and(in_value)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self, in_value: bool) -> Result<Filter, ScimError> {
        let mut left = self.unary(in_value)?;
        while self.eat_keyword("and") {
            let right = self.unary(in_value)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self, in_value: bool) -> Result<Filter, ScimError> {
        self.nest(|p| {
            if p.eat_keyword("not") {
                // RFC 7644 writes `not (…)`; a bare comparison after `not` is tolerated.
                let inner = p.unary(in_value)?;
                return Ok(Filter::Not(Box::new(inner)));
            }
            if p.eat(&Token::LParen) {
                let inner = p.or(in_value)?;
                p.expect(&Token::RParen)?;
                return Ok(inner);
            }
            p.attribute_expression(in_value)
        })
    }

    fn attribute_expression(&mut self, in_value: bool) -> Result<Filter, ScimError> {
        let path = self.attr_path()?;
        if self.eat(&Token::LBracket) {
            if in_value {
                return Err(ScimError::invalid_filter(format!("value filters cannot nest (at {})", self.offset())));
            }
            if path.sub_attr.is_some() {
                return Err(ScimError::invalid_filter(format!("'{path}' is a sub-attribute; a value filter follows an attribute")));
            }
            let inner = self.or(true)?;
            self.expect(&Token::RBracket)?;
            let filter = if self.eat(&Token::Dot) {
                // Entra ID: `emails[type eq "work"].value eq "x"`.
                let sub = AttrPath::new(self.sub_attr_name()?);
                let tail = self.comparison(sub)?;
                Filter::And(Box::new(inner), Box::new(tail))
            } else {
                inner
            };
            return Ok(Filter::ValuePath { path, filter: Box::new(filter) });
        }
        self.comparison(path)
    }

    /// `path pr` or `path op value`.
    fn comparison(&mut self, path: AttrPath) -> Result<Filter, ScimError> {
        let at = self.offset();
        let Some(Token::Word(word)) = self.next() else {
            return Err(ScimError::invalid_filter(format!("expected an operator after '{path}' at {at}")));
        };
        let op = match word.to_ascii_lowercase().as_str() {
            "pr" => return Ok(Filter::Present(path)),
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            _ => return Err(ScimError::invalid_filter(format!("'{word}' at {at} is not an operator"))),
        };
        let value = self.value()?;
        Ok(Filter::Compare { path, op, value })
    }

    fn value(&mut self) -> Result<CompValue, ScimError> {
        let at = self.offset();
        match self.next() {
            Some(Token::Str(s)) => Ok(CompValue::String(s)),
            Some(Token::Number(n)) => Ok(CompValue::Number(n)),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("true") => Ok(CompValue::Bool(true)),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("false") => Ok(CompValue::Bool(false)),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("null") => Ok(CompValue::Null),
            Some(t) => Err(ScimError::invalid_filter(format!("expected a value at {at}, found {}", describe(&t)))),
            None => Err(ScimError::invalid_filter(format!("expected a value at {at}"))),
        }
    }

    fn attr_path(&mut self) -> Result<AttrPath, ScimError> {
        let at = self.offset();
        match self.next() {
            Some(Token::Word(w)) if !is_reserved(&w) => {
                AttrPath::parse(&w).map_err(|_| ScimError::invalid_filter(format!("'{w}' at {at} is not an attribute path")))
            }
            Some(t) => Err(ScimError::invalid_filter(format!("expected an attribute at {at}, found {}", describe(&t)))),
            None => Err(ScimError::invalid_filter(format!("expected an attribute at {at}"))),
        }
    }

    fn sub_attr_name(&mut self) -> Result<String, ScimError> {
        let at = self.offset();
        match self.next() {
            Some(Token::Word(w)) if crate::path::is_attr_name(&w) => Ok(w),
            _ => Err(ScimError::invalid_filter(format!("expected a sub-attribute at {at}"))),
        }
    }
}

fn is_reserved(word: &str) -> bool {
    ["and", "or", "not"].iter().any(|k| word.eq_ignore_ascii_case(k))
}

fn describe(token: &Token) -> String {
    match token {
        Token::Word(w) => format!("'{w}'"),
        Token::Str(s) => format!("\"{s}\""),
        Token::Number(n) => n.to_string(),
        Token::LParen => "'('".into(),
        Token::RParen => "')'".into(),
        Token::LBracket => "'['".into(),
        Token::RBracket => "']'".into(),
        Token::Dot => "'.'".into(),
    }
}
