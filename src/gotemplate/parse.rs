//! The parser: items into a tree, mirroring Go's `text/template/parse` so that
//! the same templates are accepted and the same errors reported (with Go's
//! wording and line: `template: NAME:LINE: function "x" not defined`).

use std::collections::BTreeMap;

use super::ast::{Arg, Branch, BranchKind, Command, List, Node, Number, Pipe, Variable};
use super::lex::{Item, ItemType, Lexer};

/// Parenthesized expressions, and `if`/`range`/`with` blocks, may nest this
/// deep (Go allows 10000 parentheses and any depth of blocks, on stacks that
/// grow; here parsing and execution recurse on a fixed stack).
pub const MAX_NESTING: usize = 100;

/// What `textOrAction` returns: a node, or the end of a list.
enum Parsed {
    Node(Node),
    End,
    Else,
}

impl Parsed {
    fn describe(&self) -> String {
        match self {
            Parsed::Node(node) => node.to_string(),
            Parsed::End => "{{end}}".into(),
            Parsed::Else => "{{else}}".into(),
        }
    }
}

/// The parsed templates: the main one under its name, plus every `define` and `block`.
pub type TreeSet = BTreeMap<String, List>;

/// Parses `text` as template `name`; `has_function` says which identifiers are functions.
pub fn parse(
    name: &str,
    text: &str,
    has_function: &dyn Fn(&str) -> bool,
) -> std::result::Result<TreeSet, String> {
    let mut parser = Parser {
        name,
        lex: Lexer::new(text),
        token: std::array::from_fn(|_| Item {
            typ: ItemType::Eof,
            pos: 0,
            val: String::new(),
            line: 1,
        }),
        peek_count: 0,
        vars: vec!["$".into()],
        range_depth: 0,
        stack_depth: 0,
        action_line: 0,
        has_function,
        trees: TreeSet::new(),
    };
    let root = parser.parse()?;
    parser.add(name, root)?;
    Ok(parser.trees)
}

struct Parser<'a> {
    name: &'a str,
    lex: Lexer<'a>,
    token: [Item; 3],
    peek_count: usize,
    vars: Vec<String>,
    range_depth: usize,
    stack_depth: usize,
    action_line: usize,
    has_function: &'a dyn Fn(&str) -> bool,
    trees: TreeSet,
}

type Result<T> = std::result::Result<T, String>;

fn is_empty_tree(list: &List) -> bool {
    list.iter().all(|node| match node {
        Node::Text(text) => text
            .trim_matches([' ', '\t', '\n', '\r', '\u{b}', '\u{c}'])
            .is_empty(),
        _ => false,
    })
}

impl Parser<'_> {
    fn next(&mut self) -> Item {
        if self.peek_count > 0 {
            self.peek_count -= 1;
        } else {
            self.token[0] = self.lex.next_item();
        }
        self.token[self.peek_count].clone()
    }

    fn backup(&mut self) {
        self.peek_count += 1;
    }

    fn backup2(&mut self, t1: Item) {
        self.token[1] = t1;
        self.peek_count = 2;
    }

    fn backup3(&mut self, t2: Item, t1: Item) {
        self.token[1] = t1;
        self.token[2] = t2;
        self.peek_count = 3;
    }

    fn peek(&mut self) -> Item {
        if self.peek_count > 0 {
            return self.token[self.peek_count - 1].clone();
        }
        self.peek_count = 1;
        self.token[0] = self.lex.next_item();
        self.token[0].clone()
    }

    fn next_non_space(&mut self) -> Item {
        loop {
            let token = self.next();
            if token.typ != ItemType::Space {
                return token;
            }
        }
    }

    fn peek_non_space(&mut self) -> Item {
        let token = self.next_non_space();
        self.backup();
        token
    }

    fn error<T>(&self, message: impl std::fmt::Display) -> Result<T> {
        Err(format!(
            "template: {}:{}: {message}",
            self.name, self.token[0].line
        ))
    }

    fn unexpected<T>(&self, token: &Item, context: &str) -> Result<T> {
        if token.typ == ItemType::Error {
            let mut extra = String::new();
            if self.action_line != 0 && self.action_line != token.line {
                extra = format!(" in action started at {}:{}", self.name, self.action_line);
                if token.val.ends_with(" action") {
                    extra = extra[" in action".len()..].to_string();
                }
            }
            return self.error(format!("{token}{extra}"));
        }
        self.error(format!("unexpected {token} in {context}"))
    }

    fn expect(&mut self, expected: ItemType, context: &str) -> Result<Item> {
        let token = self.next_non_space();
        if token.typ != expected {
            return self.unexpected(&token, context);
        }
        Ok(token)
    }

    fn add(&mut self, name: &str, list: List) -> Result<()> {
        match self.trees.get(name) {
            Some(existing) if !is_empty_tree(existing) => {
                if !is_empty_tree(&list) {
                    return self.error(format!(
                        "template: multiple definition of template {}",
                        super::format::quote(name, false)
                    ));
                }
            }
            _ => {
                self.trees.insert(name.to_string(), list);
            }
        }
        Ok(())
    }

    fn parse(&mut self) -> Result<List> {
        let mut root = List::new();
        while self.peek().typ != ItemType::Eof {
            if self.peek().typ == ItemType::LeftDelim {
                let delim = self.next();
                if self.next_non_space().typ == ItemType::Define {
                    self.parse_definition()?;
                    continue;
                }
                self.backup2(delim);
            }
            match self.text_or_action()? {
                Parsed::Node(node) => root.push(node),
                other => return self.error(format!("unexpected {}", other.describe())),
            }
        }
        Ok(root)
    }

    /// Runs `body` with the state of a fresh tree (variables, range depth), as Go
    /// parses a `define` or `block` body with a new `Tree` on the same lexer.
    fn in_new_tree<T>(&mut self, body: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        let vars = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let range_depth = std::mem::replace(&mut self.range_depth, 0);
        let stack_depth = std::mem::replace(&mut self.stack_depth, 0);
        let result = body(self);
        self.vars = vars;
        self.range_depth = range_depth;
        self.stack_depth = stack_depth;
        result
    }

    fn parse_definition(&mut self) -> Result<()> {
        const CONTEXT: &str = "define clause";
        self.in_new_tree(|p| {
            let token = p.next_non_space();
            if !matches!(token.typ, ItemType::String | ItemType::RawString) {
                return p.unexpected(&token, CONTEXT);
            }
            let name = match unquote(&token.val) {
                Ok(name) => name,
                Err(error) => return p.error(error),
            };
            p.expect(ItemType::RightDelim, CONTEXT)?;
            let (list, end) = p.item_list()?;
            if !matches!(end, Parsed::End) {
                return p.error(format!("unexpected {} in {CONTEXT}", end.describe()));
            }
            p.add(&name, list)
        })
    }

    fn item_list(&mut self) -> Result<(List, Parsed)> {
        let mut list = List::new();
        while self.peek_non_space().typ != ItemType::Eof {
            match self.text_or_action()? {
                Parsed::Node(node) => list.push(node),
                end => return Ok((list, end)),
            }
        }
        self.error("unexpected EOF")
    }

    fn text_or_action(&mut self) -> Result<Parsed> {
        let token = self.next_non_space();
        match token.typ {
            ItemType::Text => Ok(Parsed::Node(Node::Text(token.val))),
            ItemType::LeftDelim => {
                self.action_line = token.line;
                let result = self.action();
                self.action_line = 0;
                result
            }
            _ => self.unexpected(&token, "input"),
        }
    }

    fn action(&mut self) -> Result<Parsed> {
        let token = self.next_non_space();
        match token.typ {
            ItemType::Block => return self.block_control().map(Parsed::Node),
            ItemType::Break | ItemType::Continue => {
                let what = if token.typ == ItemType::Break {
                    "{{break}}"
                } else {
                    "{{continue}}"
                };
                let next = self.next_non_space();
                if next.typ != ItemType::RightDelim {
                    return self.unexpected(&next, what);
                }
                if self.range_depth == 0 {
                    return self.error(format!("{what} outside {{{{range}}}}"));
                }
                return Ok(Parsed::Node(if token.typ == ItemType::Break {
                    Node::Break
                } else {
                    Node::Continue
                }));
            }
            ItemType::Else => {
                let peek = self.peek_non_space();
                if !matches!(peek.typ, ItemType::If | ItemType::With) {
                    self.expect(ItemType::RightDelim, "else")?;
                }
                return Ok(Parsed::Else);
            }
            ItemType::End => {
                self.expect(ItemType::RightDelim, "end")?;
                return Ok(Parsed::End);
            }
            ItemType::If => return self.control(BranchKind::If).map(Parsed::Node),
            ItemType::Range => return self.control(BranchKind::Range).map(Parsed::Node),
            ItemType::With => return self.control(BranchKind::With).map(Parsed::Node),
            ItemType::Template => return self.template_control().map(Parsed::Node),
            _ => {}
        }
        self.backup();
        let pos = self.peek().pos;
        let pipe = self.pipeline("command", ItemType::RightDelim)?;
        Ok(Parsed::Node(Node::Action { pos, pipe }))
    }

    fn control(&mut self, kind: BranchKind) -> Result<Node> {
        let context = match kind {
            BranchKind::If => "if",
            BranchKind::Range => "range",
            BranchKind::With => "with",
        };
        if self.stack_depth >= MAX_NESTING {
            return self.error("max expression depth exceeded");
        }
        let saved = self.vars.len();
        self.stack_depth += 1;
        let result = self.control_body(kind, context);
        self.stack_depth -= 1;
        self.vars.truncate(saved);
        result
    }

    fn control_body(&mut self, kind: BranchKind, context: &str) -> Result<Node> {
        let pipe = self.pipeline(context, ItemType::RightDelim)?;
        if kind == BranchKind::Range {
            self.range_depth += 1;
        }
        let listed = self.item_list();
        if kind == BranchKind::Range {
            self.range_depth -= 1;
        }
        let (list, next) = listed?;
        let mut else_list = None;
        if let Parsed::Else = next {
            let peek = self.peek().typ;
            if kind == BranchKind::If && peek == ItemType::If {
                self.next();
                else_list = Some(vec![self.control(BranchKind::If)?]);
            } else if kind == BranchKind::With && peek == ItemType::With {
                self.next();
                else_list = Some(vec![self.control(BranchKind::With)?]);
            } else {
                let (list, next) = self.item_list()?;
                if !matches!(next, Parsed::End) {
                    return self.error(format!("expected end; found {}", next.describe()));
                }
                else_list = Some(list);
            }
        }
        Ok(Node::Branch(Box::new(Branch {
            kind,
            pipe,
            list,
            else_list,
        })))
    }

    fn template_name(&mut self, token: &Item, context: &str) -> Result<String> {
        match token.typ {
            ItemType::String | ItemType::RawString => match unquote(&token.val) {
                Ok(name) => Ok(name),
                Err(error) => self.error(error),
            },
            _ => self.unexpected(token, context),
        }
    }

    fn block_control(&mut self) -> Result<Node> {
        const CONTEXT: &str = "block clause";
        let token = self.next_non_space();
        let name = self.template_name(&token, CONTEXT)?;
        let pipe = self.pipeline(CONTEXT, ItemType::RightDelim)?;
        let (list, end) = self.in_new_tree(|p| p.item_list())?;
        if !matches!(end, Parsed::End) {
            return self.error(format!("unexpected {} in {CONTEXT}", end.describe()));
        }
        self.add(&name, list)?;
        Ok(Node::Template {
            pos: token.pos,
            name,
            pipe: Some(pipe),
        })
    }

    fn template_control(&mut self) -> Result<Node> {
        const CONTEXT: &str = "template clause";
        let token = self.next_non_space();
        let name = self.template_name(&token, CONTEXT)?;
        let mut pipe = None;
        if self.next_non_space().typ != ItemType::RightDelim {
            self.backup();
            pipe = Some(self.pipeline(CONTEXT, ItemType::RightDelim)?);
        }
        Ok(Node::Template {
            pos: token.pos,
            name,
            pipe,
        })
    }

    fn pipeline(&mut self, context: &str, end: ItemType) -> Result<Pipe> {
        let pos = self.peek_non_space().pos;
        let mut pipe = Pipe {
            pos,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        loop {
            let v = self.peek_non_space();
            if v.typ != ItemType::Variable {
                break;
            }
            self.next();
            let after = self.peek();
            let next = self.peek_non_space();
            match next.typ {
                ItemType::Assign | ItemType::Declare => {
                    pipe.is_assign = next.typ == ItemType::Assign;
                    self.next_non_space();
                    pipe.decl.push(Variable {
                        pos: v.pos,
                        name: v.val.clone(),
                    });
                    self.vars.push(v.val);
                    break;
                }
                ItemType::Char if next.val == "," => {
                    self.next_non_space();
                    pipe.decl.push(Variable {
                        pos: v.pos,
                        name: v.val.clone(),
                    });
                    self.vars.push(v.val);
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space().typ {
                            ItemType::Variable | ItemType::RightDelim | ItemType::RightParen => {
                                continue;
                            }
                            _ => return self.error("range can only initialize variables"),
                        }
                    }
                    return self.error(format!("too many declarations in {context}"));
                }
                _ if after.typ == ItemType::Space => {
                    self.backup3(v, after);
                    break;
                }
                _ => {
                    self.backup2(v);
                    break;
                }
            }
        }
        loop {
            let token = self.next_non_space();
            match token.typ {
                t if t == end => {
                    if pipe.cmds.is_empty() {
                        return self.error(format!("missing value for {context}"));
                    }
                    for (i, cmd) in pipe.cmds.iter().enumerate().skip(1) {
                        if matches!(
                            cmd.args.first(),
                            Some(
                                Arg::Bool { .. }
                                    | Arg::Dot { .. }
                                    | Arg::Nil { .. }
                                    | Arg::Number { .. }
                                    | Arg::String { .. }
                            )
                        ) {
                            return self.error(format!(
                                "non executable command in pipeline stage {}",
                                i + 1
                            ));
                        }
                    }
                    return Ok(pipe);
                }
                ItemType::Bool
                | ItemType::CharConstant
                | ItemType::Complex
                | ItemType::Dot
                | ItemType::Field
                | ItemType::Identifier
                | ItemType::Number
                | ItemType::Nil
                | ItemType::RawString
                | ItemType::String
                | ItemType::Variable
                | ItemType::LeftParen => {
                    self.backup();
                    let command = self.command()?;
                    pipe.cmds.push(command);
                }
                _ => return self.unexpected(&token, context),
            }
        }
    }

    fn command(&mut self) -> Result<Command> {
        let pos = self.peek_non_space().pos;
        let mut args = Vec::new();
        loop {
            self.peek_non_space();
            if let Some(operand) = self.operand()? {
                args.push(operand);
            }
            let token = self.next();
            match token.typ {
                ItemType::Space => continue,
                ItemType::RightDelim | ItemType::RightParen => self.backup(),
                ItemType::Pipe => {}
                _ => return self.unexpected(&token, "operand"),
            }
            break;
        }
        if args.is_empty() {
            return self.error("empty command");
        }
        Ok(Command { pos, args })
    }

    fn operand(&mut self) -> Result<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().typ != ItemType::Field {
            return Ok(Some(node));
        }
        let pos = self.peek().pos;
        let mut fields = Vec::new();
        while self.peek().typ == ItemType::Field {
            let field = self.next().val;
            fields.push(field.trim_start_matches('.').to_string());
        }
        Ok(Some(match node {
            Arg::Field { mut idents, .. } => {
                idents.extend(fields);
                Arg::Field { pos, idents }
            }
            Arg::Variable { mut idents, .. } => {
                idents.extend(fields);
                Arg::Variable { pos, idents }
            }
            Arg::Bool { .. }
            | Arg::String { .. }
            | Arg::Number { .. }
            | Arg::Nil { .. }
            | Arg::Dot { .. } => {
                return self.error(format!(
                    "unexpected . after term {}",
                    super::format::quote(&node.to_string(), false)
                ));
            }
            other => Arg::Chain {
                pos,
                node: Box::new(other),
                fields,
            },
        }))
    }

    fn term(&mut self) -> Result<Option<Arg>> {
        let token = self.next_non_space();
        let pos = token.pos;
        Ok(Some(match token.typ {
            ItemType::Identifier => {
                if !(self.has_function)(&token.val) {
                    return self.error(format!(
                        "function {} not defined",
                        super::format::quote(&token.val, false)
                    ));
                }
                Arg::Identifier {
                    pos,
                    name: token.val,
                }
            }
            ItemType::Dot => Arg::Dot { pos },
            ItemType::Nil => Arg::Nil { pos },
            ItemType::Variable => {
                if !self.vars.contains(&token.val) {
                    return self.error(format!(
                        "undefined variable {}",
                        super::format::quote(&token.val, false)
                    ));
                }
                Arg::Variable {
                    pos,
                    idents: vec![token.val],
                }
            }
            ItemType::Field => Arg::Field {
                pos,
                idents: token.val[1..].split('.').map(str::to_string).collect(),
            },
            ItemType::Bool => Arg::Bool {
                pos,
                value: token.val == "true",
            },
            ItemType::CharConstant | ItemType::Complex | ItemType::Number => {
                match number(&token.val, token.typ) {
                    Ok(number) => Arg::Number {
                        pos,
                        number: Box::new(number),
                    },
                    Err(error) => return self.error(error),
                }
            }
            ItemType::LeftParen => {
                if self.stack_depth >= MAX_NESTING {
                    return self.error("max expression depth exceeded");
                }
                self.stack_depth += 1;
                let pipe = self.pipeline("parenthesized pipeline", ItemType::RightParen);
                self.stack_depth -= 1;
                Arg::Pipe(Box::new(pipe?))
            }
            ItemType::String | ItemType::RawString => match unquote(&token.val) {
                Ok(text) => Arg::String {
                    pos,
                    quoted: token.val,
                    text,
                },
                Err(error) => return self.error(error),
            },
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }
}

/// Go's `strconv.Unquote` for `"…"`, `` `…` `` and `'…'` literals.
pub fn unquote(text: &str) -> std::result::Result<String, String> {
    let syntax = || "invalid syntax".to_string();
    if let Some(raw) = text.strip_prefix('`').and_then(|t| t.strip_suffix('`')) {
        return Ok(raw.replace('\r', ""));
    }
    let quote = text.chars().next().ok_or_else(syntax)?;
    let body = text
        .strip_prefix(quote)
        .and_then(|t| t.strip_suffix(quote))
        .filter(|_| text.len() >= 2 && matches!(quote, '"' | '\''))
        .ok_or_else(syntax)?;
    let mut out = String::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c == quote || (quote == '"' && c == '\n') {
            return Err(syntax());
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let escape = chars.next().ok_or_else(syntax)?;
        let mut hex = |n: usize| -> std::result::Result<u32, String> {
            let digits: String = (0..n).filter_map(|_| chars.next()).collect();
            if digits.len() != n {
                return Err(syntax());
            }
            u32::from_str_radix(&digits, 16).map_err(|_| syntax())
        };
        match escape {
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{b}'),
            '\\' => out.push('\\'),
            '\'' | '"' if escape == quote => out.push(escape),
            'x' => out.push(char::from_u32(hex(2)?).ok_or_else(syntax)?),
            'u' => out.push(char::from_u32(hex(4)?).ok_or_else(syntax)?),
            'U' => out.push(char::from_u32(hex(8)?).ok_or_else(syntax)?),
            '0'..='7' => {
                let mut value = escape.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    let digit = chars
                        .next()
                        .and_then(|c| c.to_digit(8))
                        .ok_or_else(syntax)?;
                    value = value * 8 + digit;
                }
                if value > 255 {
                    return Err(syntax());
                }
                out.push(char::from_u32(value).ok_or_else(syntax)?);
            }
            _ => return Err(syntax()),
        }
    }
    if quote == '\'' && out.chars().count() != 1 {
        return Err(syntax());
    }
    Ok(out)
}

/// Go's `strconv.ParseInt(text, 0, 64)` digits (sign handled by the caller).
fn parse_unsigned(text: &str) -> Option<u64> {
    let (digits, radix, prefixed) = match text.get(..2) {
        Some("0x" | "0X") => (&text[2..], 16, true),
        Some("0o" | "0O") => (&text[2..], 8, true),
        Some("0b" | "0B") => (&text[2..], 2, true),
        _ if text.len() > 1 && text.starts_with('0') => (&text[1..], 8, true),
        _ => (text, 10, false),
    };
    let _ = prefixed;
    if digits.is_empty() || (digits.contains('_') && !valid_underscores(text)) {
        return None;
    }
    u64::from_str_radix(&digits.replace('_', ""), radix).ok()
}

fn valid_underscores(text: &str) -> bool {
    // Go: underscores only between digits or after a base prefix.
    let bytes = text.as_bytes();
    let mut previous = b'^';
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'_' {
            let after_prefix =
                i == 2 && matches!(bytes[1], b'x' | b'X' | b'o' | b'O' | b'b' | b'B');
            if !(previous.is_ascii_hexdigit() || after_prefix) {
                return false;
            }
        } else if previous == b'_' && !b.is_ascii_hexdigit() {
            return false;
        }
        previous = b;
    }
    previous != b'_'
}

/// Go's `newNumber`: every interpretation of a number literal.
fn number(text: &str, typ: ItemType) -> std::result::Result<Number, String> {
    let mut number = Number {
        text: text.to_string(),
        int: None,
        uint: None,
        float: None,
        complex: false,
    };
    if typ == ItemType::CharConstant {
        let value = unquote(text)?;
        let c = value.chars().next().ok_or("invalid syntax")? as i64;
        number.int = Some(c);
        number.uint = Some(c as u64);
        number.float = Some(c as f64);
        return Ok(number);
    }
    if typ == ItemType::Complex || text.ends_with('i') {
        number.complex = true;
        return Ok(number);
    }
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if let Some(u) = parse_unsigned(unsigned) {
        if !negative && !text.starts_with('+') {
            number.uint = Some(u);
        }
        if negative {
            if u <= i64::MAX as u64 + 1 {
                number.int = Some((u as i128).wrapping_neg() as i64);
            }
        } else if u <= i64::MAX as u64 {
            number.int = Some(u as i64);
        }
        if number.int == Some(0) {
            number.uint = Some(0);
        }
    }
    if let Some(i) = number.int {
        number.float = Some(i as f64);
    } else if let Some(u) = number.uint {
        number.float = Some(u as f64);
    } else if let Some(f) = parse_float(text) {
        if !text.contains(['.', 'e', 'E', 'p', 'P']) {
            return Err(format!(
                "integer overflow: {}",
                super::format::quote(text, false)
            ));
        }
        number.float = Some(f);
        if f.fract() == 0.0 && f.abs() < 9.2e18 {
            number.int = Some(f as i64);
        }
        if f.fract() == 0.0 && (0.0..1.8e19).contains(&f) {
            number.uint = Some(f as u64);
        }
    }
    if number.int.is_none() && number.uint.is_none() && number.float.is_none() {
        return Err(format!(
            "illegal number syntax: {}",
            super::format::quote(text, false)
        ));
    }
    Ok(number)
}

fn parse_float(text: &str) -> Option<f64> {
    if text.contains("__") || text.ends_with('_') {
        return None;
    }
    if text.contains(['x', 'X']) {
        return parse_hex_float(text);
    }
    if text.contains(['p', 'P']) {
        return None;
    }
    text.replace('_', "")
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
}

/// A hexadecimal float (`0x1.8p3`): hex mantissa, binary exponent.
fn parse_hex_float(text: &str) -> Option<f64> {
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let rest = rest
        .strip_prefix("0x")
        .or_else(|| rest.strip_prefix("0X"))?
        .replace('_', "");
    let (mantissa, exponent) = rest.split_once(['p', 'P'])?;
    let exponent: i32 = exponent.parse().ok()?;
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut value = 0f64;
    for c in int.chars().chain(frac.chars()) {
        value = value * 16.0 + f64::from(c.to_digit(16)?);
    }
    let value = value * 2f64.powi(exponent - 4 * frac.len() as i32);
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn functions(name: &str) -> bool {
        matches!(name, "printf" | "upper" | "len")
    }

    fn error(text: &str) -> String {
        parse("t", text, &functions).err().unwrap_or_default()
    }

    #[test]
    fn errors_match_go() {
        assert_eq!(
            error("{{foo .X}}"),
            "template: t:1: function \"foo\" not defined"
        );
        assert_eq!(error("a\n{{end}}"), "template: t:2: unexpected {{end}}");
        assert_eq!(error("{{if .X}}"), "template: t:1: unexpected EOF");
        assert_eq!(error("{{$x}}"), "template: t:1: undefined variable \"$x\"");
        assert_eq!(
            error("{{.X | 3}}"),
            "template: t:1: non executable command in pipeline stage 2"
        );
        assert_eq!(
            error("{{break}}"),
            "template: t:1: {{break}} outside {{range}}"
        );
        assert_eq!(
            error("{{range .X}}{{else}}{{break}}{{end}}"),
            "template: t:1: {{break}} outside {{range}}"
        );
        assert_eq!(
            error("{{.X\n}"),
            "template: t:2: unexpected \"}\" in operand"
        );
        assert_eq!(error("{{ .X"), "template: t:1: unclosed action");
        assert_eq!(
            error("{{\n.X"),
            "template: t:2: unclosed action started at t:1"
        );
        assert_eq!(
            error("{{range $a, $b, $c := .}}{{end}}"),
            "template: t:1: too many declarations in range"
        );
    }

    #[test]
    fn chains_take_the_position_of_their_first_extra_field() {
        let trees = parse("t", "{{ .A.B }}", &functions).unwrap_or_default();
        let Some(Node::Action { pipe, .. }) = trees.get("t").and_then(|l| l.first()) else {
            panic!("no action");
        };
        assert!(
            matches!(&pipe.cmds[0].args[0], Arg::Field { pos: 5, idents } if idents == &["A", "B"])
        );
    }

    #[test]
    fn definitions_and_blocks_are_separate_trees() {
        let trees = parse(
            "t",
            "{{define \"a\"}}A{{end}}{{block \"b\" .}}B{{end}}",
            &functions,
        )
        .unwrap_or_default();
        assert_eq!(trees.keys().collect::<Vec<_>>(), ["a", "b", "t"]);
    }

    #[test]
    fn numbers_have_every_interpretation() {
        let n = number("0x1F", ItemType::Number).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((n.int, n.float), (Some(31), Some(31.0)));
        let n = number("1.0", ItemType::Number).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n.int, Some(1));
        let n = number("'a'", ItemType::CharConstant).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n.int, Some(97));
        assert!(number("1__0", ItemType::Number).is_err());
    }
}
