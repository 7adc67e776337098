//! The parse tree, and each node's text as Go prints it in error messages
//! (`executing "name" at <.Field>: …`).

use std::fmt;

/// A list of nodes (a template body, a branch).
pub type List = Vec<Node>;

/// A node of a template body.
#[derive(Debug, Clone)]
pub enum Node {
    /// Plain text.
    Text(String),
    /// `{{pipeline}}`.
    Action {
        /// Byte offset.
        pos: usize,
        /// The pipeline.
        pipe: Pipe,
    },
    /// `{{if}}`, `{{range}}` or `{{with}}`.
    Branch(Box<Branch>),
    /// `{{template "name" pipeline}}`.
    Template {
        /// Byte offset of the name.
        pos: usize,
        /// The template's name.
        name: String,
        /// The data passed, if any.
        pipe: Option<Pipe>,
    },
    /// `{{break}}`.
    Break,
    /// `{{continue}}`.
    Continue,
}

/// Which control structure a [`Branch`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BranchKind {
    /// `{{if}}`.
    If,
    /// `{{range}}`.
    Range,
    /// `{{with}}`.
    With,
}

/// `{{if}}`, `{{range}}` or `{{with}}` with its branches.
#[derive(Debug, Clone)]
pub struct Branch {
    /// Which one.
    pub kind: BranchKind,
    /// The condition or collection.
    pub pipe: Pipe,
    /// The body.
    pub list: List,
    /// The `{{else}}` body.
    pub else_list: Option<List>,
}

/// A pipeline, possibly declaring or assigning variables.
#[derive(Debug, Clone)]
pub struct Pipe {
    /// Byte offset.
    pub pos: usize,
    /// `=` rather than `:=`.
    pub is_assign: bool,
    /// The variables declared or assigned (`$x`).
    pub decl: Vec<Variable>,
    /// The commands, in order.
    pub cmds: Vec<Command>,
}

/// A variable in a declaration.
#[derive(Debug, Clone)]
pub struct Variable {
    /// Byte offset.
    pub pos: usize,
    /// Its name, with the `$`.
    pub name: String,
}

/// One command of a pipeline: an operand and its arguments.
#[derive(Debug, Clone)]
pub struct Command {
    /// Byte offset.
    pub pos: usize,
    /// The words.
    pub args: Vec<Arg>,
}

/// A number literal with its possible interpretations (as Go's `NumberNode`).
#[derive(Debug, Clone)]
pub struct Number {
    /// The literal's text.
    pub text: String,
    /// Its value as an `int64`, if it is one.
    pub int: Option<i64>,
    /// Its value as a `uint64`, if it is one.
    pub uint: Option<u64>,
    /// Its value as a `float64`, if it is one.
    pub float: Option<f64>,
    /// Whether it is a complex literal (not supported at execution).
    pub complex: bool,
}

/// A word of a command.
#[derive(Debug, Clone)]
pub enum Arg {
    /// `.A.B`.
    Field {
        /// Byte offset.
        pos: usize,
        /// `A`, `B`.
        idents: Vec<String>,
    },
    /// `$x.A`.
    Variable {
        /// Byte offset.
        pos: usize,
        /// `$x`, `A`.
        idents: Vec<String>,
    },
    /// `(pipeline).A` or `ident.A`.
    Chain {
        /// Byte offset.
        pos: usize,
        /// The operand.
        node: Box<Arg>,
        /// The fields.
        fields: Vec<String>,
    },
    /// A function name.
    Identifier {
        /// Byte offset.
        pos: usize,
        /// The name.
        name: String,
    },
    /// `.`.
    Dot {
        /// Byte offset.
        pos: usize,
    },
    /// `nil`.
    Nil {
        /// Byte offset.
        pos: usize,
    },
    /// `true` or `false`.
    Bool {
        /// Byte offset.
        pos: usize,
        /// The value.
        value: bool,
    },
    /// A number.
    Number {
        /// Byte offset.
        pos: usize,
        /// The literal.
        number: Box<Number>,
    },
    /// A string literal.
    String {
        /// Byte offset.
        pos: usize,
        /// As written, quotes included.
        quoted: String,
        /// The value.
        text: String,
    },
    /// `(pipeline)`.
    Pipe(Box<Pipe>),
}

impl Arg {
    /// Its byte offset.
    pub fn pos(&self) -> usize {
        match self {
            Arg::Field { pos, .. }
            | Arg::Variable { pos, .. }
            | Arg::Chain { pos, .. }
            | Arg::Identifier { pos, .. }
            | Arg::Dot { pos }
            | Arg::Nil { pos }
            | Arg::Bool { pos, .. }
            | Arg::Number { pos, .. }
            | Arg::String { pos, .. } => *pos,
            Arg::Pipe(pipe) => pipe.pos,
        }
    }
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Field { idents, .. } => {
                for ident in idents {
                    write!(f, ".{ident}")?;
                }
                Ok(())
            }
            Arg::Variable { idents, .. } => f.write_str(&idents.join(".")),
            Arg::Chain { node, fields, .. } => {
                match &**node {
                    Arg::Pipe(pipe) => write!(f, "({pipe})")?,
                    other => write!(f, "{other}")?,
                }
                for field in fields {
                    write!(f, ".{field}")?;
                }
                Ok(())
            }
            Arg::Identifier { name, .. } => f.write_str(name),
            Arg::Dot { .. } => f.write_str("."),
            Arg::Nil { .. } => f.write_str("nil"),
            Arg::Bool { value, .. } => write!(f, "{value}"),
            Arg::Number { number, .. } => f.write_str(&number.text),
            Arg::String { quoted, .. } => f.write_str(quoted),
            Arg::Pipe(pipe) => write!(f, "{pipe}"),
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arg) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            match arg {
                Arg::Pipe(pipe) => write!(f, "({pipe})")?,
                other => write!(f, "{other}")?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            let names: Vec<&str> = self.decl.iter().map(|v| v.name.as_str()).collect();
            f.write_str(&names.join(", "))?;
            f.write_str(if self.is_assign { " = " } else { " := " })?;
        }
        for (i, cmd) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{cmd}")?;
        }
        Ok(())
    }
}

/// Writes a list as Go's `ListNode.String`.
pub fn write_list(f: &mut fmt::Formatter<'_>, list: &List) -> fmt::Result {
    for node in list {
        write!(f, "{node}")?;
    }
    Ok(())
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Text(text) => f.write_str(text),
            Node::Action { pipe, .. } => write!(f, "{{{{{pipe}}}}}"),
            Node::Branch(branch) => {
                let keyword = match branch.kind {
                    BranchKind::If => "if",
                    BranchKind::Range => "range",
                    BranchKind::With => "with",
                };
                write!(f, "{{{{{keyword} {}}}}}", branch.pipe)?;
                write_list(f, &branch.list)?;
                if let Some(else_list) = &branch.else_list {
                    f.write_str("{{else}}")?;
                    write_list(f, else_list)?;
                }
                f.write_str("{{end}}")
            }
            Node::Template { name, pipe, .. } => match pipe {
                Some(pipe) => write!(
                    f,
                    "{{{{template {} {pipe}}}}}",
                    super::format::quote(name, false)
                ),
                None => write!(f, "{{{{template {}}}}}", super::format::quote(name, false)),
            },
            Node::Break => f.write_str("{{break}}"),
            Node::Continue => f.write_str("{{continue}}"),
        }
    }
}
