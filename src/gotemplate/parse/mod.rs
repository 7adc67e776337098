//! The parser: items into a tree, mirroring Go's `text/template/parse` so that
//! the same templates are accepted and the same errors reported (with Go's
//! wording and line: `template: NAME:LINE: function "x" not defined`).

use std::collections::BTreeMap;

use super::ast::{Branch, BranchKind, List, Node};
use super::lex::{Item, ItemType, Lexer};

mod expr;
mod literal;

pub use literal::unquote;

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
                        crate::gotemplate::format::quote(name, false)
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
            matches!(&pipe.cmds[0].args[0], crate::gotemplate::ast::Arg::Field { pos: 5, idents } if idents == &["A", "B"])
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
}
